import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getActor } from "../../lib/index.js";

describe("smoke", () => {
  it("calls and casts", async () => {
    const c = getActor(env.COUNTER, "smoke");
    expect(await c.call({ type: "add", by: 2 })).toBe(2);
    await c.cast({ type: "add", by: 3 });
    expect(await c.call({ type: "get" })).toBe(5);
  });
});
