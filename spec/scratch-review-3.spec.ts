import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ChatServer as ChatServerClass } from "./fixtures/party.js";
import { uniqueName } from "./helpers.js";

describe("Server subclasses", () => {
  it("are refused when a helper named like a reserved method is a class field (plain JS)", async () => {
    await runInDurableObject(env.ChatServer.getByName(uniqueName("reserved-field")), (_instance, state) => {
      // Plain JS: `class Helper extends Server { now = () => Date.now() - this.started }` — a field, set after super().
      class Helper extends ChatServerClass {
        constructor(ctx: DurableObjectState, e: Cloudflare.Env) {
          super(ctx, e);
          Object.defineProperty(this, "now", { value: () => 42, writable: true, configurable: true, enumerable: true });
        }
      }
      let built: Helper | undefined;
      let thrown: unknown;
      try {
        built = new Helper(state, env);
      } catch (error) {
        thrown = error;
      }
      // The instance's own `now` replaces genparty's clock, unrefused.
      expect(built === undefined ? undefined : (built as unknown as { now(): number }).now()).toBeUndefined();
      expect(String(thrown)).toMatch(/defines now\(\)/);
    });
  });
});
