import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hibernate } from "../../lib/testing/index.js";
import { backends, counterOn } from "../helpers.js";

/** Runs `body` with every statement the object's SQL runs logged (the platform's `exec` still runs them). */
async function statementsOf(stub: DurableObjectStub, body: () => Promise<void>): Promise<string[]> {
  const statements: string[] = [];
  const restore = await runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec;
    sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
      statements.push(query.trim());
      return exec.call(this, query, ...bindings);
    } as SqlStorage["exec"];
    return () => runInDurableObject(stub, () => void (sql.exec = exec));
  });
  try {
    await body();
  } finally {
    await restore();
  }
  return statements;
}

describe("SQLite store", () => {
  // On KV the platform refuses that statement, and the refusal alone tells the store there is no SQL.
  it.each(backends)("reads a wake's name and state with one statement on %s, and makes no tables", async (_backend, namespace) => {
    const counter = counterOn(namespace, "one-read");
    counter.cast({ type: "add", by: 3 });
    expect(await counter.call({ type: "get" })).toBe(3);

    const statements = await statementsOf(counter.stub, () => hibernate(counter));

    expect(statements).toEqual(["SELECT key, value FROM _genparty_meta WHERE key IN ('name', 'state')"]);
    expect(await counter.call({ type: "get" })).toBe(3);
  });

  it("makes its tables when they aren't there, as in an object another class used before", async () => {
    const counter = counterOn(() => env.COUNTER, "no-tables");
    counter.cast({ type: "add", by: 2 });
    expect(await counter.call({ type: "get" })).toBe(2);
    // What a raw Durable Object or a partyserver room leaves: its own table, none of genparty's.
    await runInDurableObject(counter.stub, (_instance, state) => {
      state.storage.sql.exec("DROP TABLE _genparty_meta");
      state.storage.sql.exec("DROP TABLE _genparty_timers");
      state.storage.sql.exec("CREATE TABLE earlier (id INTEGER PRIMARY KEY)");
    });

    await hibernate(counter);

    // A start with nothing saved: the state is init's again, and timers work on the new tables.
    expect(await counter.call({ type: "get" })).toBe(0);
    expect(await counter.call({ type: "timer", ms: 60_000, key: "t", label: "later" })).toBe("t");
    expect(await counter.call({ type: "deadline", key: "t" })).toEqual(expect.any(Number));
    expect(await counter.call({ type: "name" })).toBe(counter.name);
  });
});
