import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { getActor } from "../lib/index.js";

/** Each spec gets its own object: storage persists across the specs of a file. */
export const uniqueName = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** The counter fixture on each storage backend: every behaviour suite runs on both. */
export const backends = [
  ["SQLite storage", () => env.COUNTER],
  ["KV storage", () => env.KV_COUNTER],
] as const;

export const counterOn = (namespace: () => DurableObjectNamespace<import("./fixtures/counter.js").Counter>, prefix: string) =>
  getActor(namespace(), uniqueName(prefix));

/** The state an actor saved, read from storage without starting it (on either backend). */
export const savedState = (stub: DurableObjectStub, backend: string) =>
  runInDurableObject(stub, async (_instance, state) => {
    const json =
      backend === "SQLite storage"
        ? state.storage.sql.exec<{ value: string }>("SELECT value FROM _genparty_meta WHERE key = 'state'").one().value
        : await state.storage.get<string>("genparty:state");
    return JSON.parse(json ?? "null") as unknown;
  });
