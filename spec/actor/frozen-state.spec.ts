import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import { explainFrozenWrite, freezeState } from "../../lib/actor/frozen-state.js";
import { type From, type Frozen, getActor, RemoteError, StateFrozenError } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import type { Ledger } from "../fixtures/ledger.js";
import { uniqueName } from "../helpers.js";

const ledger = (namespace: DurableObjectNamespace<Ledger> = env.LEDGER) => getActor(namespace, uniqueName("ledger"));

/** How many times JSON.stringify ran while `run` did. */
async function encodesDuring(run: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(JSON, "stringify");
  try {
    await run();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe("freezeState", () => {
  it("freezes every object and array in the state", () => {
    const state = { list: [{ a: 1 }, [2, { b: 3 }]], nested: { deep: { x: "y" } }, n: 1 };
    freezeState(state);
    expect(Object.isFrozen(state)).toBe(true);
    expect(Object.isFrozen(state.list)).toBe(true);
    expect(Object.isFrozen(state.list[0])).toBe(true);
    expect(Object.isFrozen((state.list[1] as unknown[])[1])).toBe(true);
    expect(Object.isFrozen(state.nested.deep)).toBe(true);
  });

  it("goes into an object the user froze, which may hold ones that aren't", () => {
    const inner = { n: 1 };
    const state = Object.freeze({ inner });
    freezeState(state);
    expect(Object.isFrozen(inner)).toBe(true);
  });

  it("freezes a state nested deeper than the stack would allow a recursive walk", () => {
    let deep: Record<string, unknown> = { leaf: {} };
    for (let i = 0; i < 20_000; i++) deep = { inner: deep };
    expect(() => freezeState(deep)).not.toThrow();
    expect(Object.isFrozen(deep.inner)).toBe(true);
  });
});

describe("Frozen", () => {
  it("makes a state read-only all the way down, and keeps a From in it fit for a later reply", () => {
    type State = Frozen<{ n: number; list: { tags: string[] }[]; waiting: From[] }>;
    expectTypeOf<State["list"]>().toEqualTypeOf<readonly { readonly tags: readonly string[] }[]>();
    expectTypeOf<State["waiting"][number]>().toMatchTypeOf<From>();
    const state = { n: 1, list: [], waiting: [] } as State;
    // @ts-expect-error read-only
    void (() => (state.n = 2));
  });
});

describe("explainFrozenWrite", () => {
  it.each([
    ["an assignment", (o: { n: number }) => void (o.n = 2)],
    ["a new property", (o: { n: number }) => void ((o as Record<string, number>).m = 2)],
    ["a delete", (o: { n?: number }) => void delete o.n],
  ])("names %s to the frozen state as a StateFrozenError that says what to do", (_what, write) => {
    let thrown: unknown;
    try {
      write(Object.freeze({ n: 1 }));
    } catch (error) {
      thrown = error;
    }
    const explained = explainFrozenWrite(thrown, "Ledger:a", "handleCall");
    expect(explained).toBeInstanceOf(StateFrozenError);
    expect((explained as Error).message).toMatch(/^Ledger:a: handleCall wrote to a frozen object .*options\.immutableState.*return a new state instead/);
  });

  it("leaves any other error as it was", () => {
    const other = new TypeError("x is not a function");
    expect(explainFrozenWrite(other, "Ledger:a", "handleCall")).toBe(other);
    expect(explainFrozenWrite("not even an error", "Ledger:a", "handleCall")).toBe("not even an error");
  });
});

describe("An actor with options.immutableState", () => {
  it("saves the new states its handlers return", async () => {
    const actor = ledger();
    expect(await actor.call({ type: "add", text: "rent", amount: 10 })).toBe(10);
    expect(await actor.call({ type: "add", text: "food", amount: 5 })).toBe(15);
    expect(await actor.call({ type: "state" })).toEqual({ entries: [{ text: "rent" }, { text: "food" }], total: 15 });
  });

  it("refuses a change in place with StateFrozenError, keeps the state and goes on serving", async () => {
    const actor = ledger();
    await actor.call({ type: "add", text: "rent", amount: 10 });
    for (const msg of [{ type: "pushInPlace", text: "lost" }, { type: "setInPlace", total: 99 }] as const) {
      const error = await actor.call(msg).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteError);
      expect((error as RemoteError).remoteName).toBe("StateFrozenError");
      expect((error as Error).message).toMatch(/handleCall wrote to a frozen object.*return a new state instead/);
    }
    expect(await actor.call({ type: "state" })).toEqual({ entries: [{ text: "rent" }], total: 10 });
    expect(await actor.call({ type: "add", text: "food", amount: 5 })).toBe(15);
  });

  it("passes other handler errors through as they were", async () => {
    const error = await ledger().call({ type: "fail" }).catch((e: unknown) => e);
    expect((error as RemoteError).remoteName).toBe("TypeError");
  });

  it("doesn't encode the state for a turn that returns none, where a mutable actor encodes it every turn", async () => {
    const frozen = ledger();
    const mutable = ledger(env.MUTABLE_LEDGER);
    for (const actor of [frozen, mutable]) await actor.call({ type: "add", text: "rent", amount: 10 });
    const inside = (actor: typeof frozen) =>
      runInDurableObject(actor.stub, (instance: Ledger) => encodesDuring(() => instance.call({ type: "total" })));
    expect(await inside(frozen)).toBe(0);
    expect(await inside(mutable)).toBeGreaterThan(0);
    // A mutable state still takes changes made in place.
    expect(await mutable.call({ type: "pushInPlace", text: "food" })).toBe(2);
    expect((await mutable.call({ type: "state" })).entries).toHaveLength(2);
  });

  it("is frozen again after hibernation and eviction, and a wake encodes nothing", async () => {
    const actor = ledger();
    await actor.call({ type: "add", text: "rent", amount: 10 });
    await hibernate(actor);
    const error = await actor.call({ type: "setInPlace", total: 1 }).catch((e: unknown) => e);
    expect((error as RemoteError).remoteName).toBe("StateFrozenError");
    await evict(actor);
    expect(await runInDurableObject(actor.stub, (instance: Ledger) => encodesDuring(() => instance.call({ type: "total" })))).toBe(0);
    expect(await actor.call({ type: "add", text: "food", amount: 5 })).toBe(15);
    expect(await actor.call({ type: "state" })).toEqual({ entries: [{ text: "rent" }, { text: "food" }], total: 15 });
  });
});
