import { afterEach, describe, expect, it } from "vitest";
import type { CallAnswer } from "../../lib/actor/answer.js";
import type { SendOrder } from "../../lib/actor/sender-order.js";
import { CallTimeoutError, DEFAULT_CALL_TIMEOUT_MS } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import { backends, counterOn } from "../helpers.js";
import { resetClock } from "../../lib/testing/index.js";

afterEach(() => resetClock());

describe.each(backends)("Replies on %s", (_backend, namespace) => {
  it("answers with the state its turn saw when the sender order releases held messages together", async () => {
    const counter = counterOn(namespace, "reply-copy-released");
    expect(await counter.call({ type: "get" })).toBe(0);
    // ActorRef's RPC methods, called by hand to choose the arrival order.
    const stub = counter.stub as unknown as {
      __genpartyCall(msg: unknown, timeout: undefined, chain: undefined, sender: string, seq: number, base: number): Promise<CallAnswer>;
      cast(msg: unknown, order: SendOrder): Promise<void>;
    };
    const sender = `released-${crypto.randomUUID()}`;
    // 2 and 3 arrive first and wait behind the gap at 1; 1 closes it, and 1, 2, 3 run in one task.
    const state = stub.__genpartyCall({ type: "state" }, undefined, undefined, sender, 2, 1);
    await stub.cast({ type: "throw" }, { sender, seq: 3, base: 1 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await stub.__genpartyCall({ type: "get" }, undefined, undefined, sender, 1, 1)).toBe(0);
    expect(await counter.call({ type: "get" })).toBe(0);
    expect(await state).toEqual({ n: 0, log: ["init"], waiting: [] });
  });

  it("answers a call with the state its own turn saw, not what the turns queued behind it changed or rolled back", async () => {
    const counter = counterOn(namespace, "reply-copy");
    // The slow turn holds the mailbox, so `state` and `throw` queue behind it and run back to back.
    const slow = counter.call({ type: "slowAdd", by: 1, ms: 100, tag: "s" });
    const state = counter.call({ type: "state" });
    const thrown = counter.call({ type: "throw" }).catch((e: unknown) => e);
    const later = counter.call({ type: "slowAdd", by: 5, ms: 10, tag: "t" });
    expect(await slow).toBe(1);
    expect(await thrown).toMatchObject({ name: "RemoteError", remoteName: "ValidationError" });
    expect(await later).toBe(6);
    expect(await state).toEqual({ n: 1, log: ["init", "start:s", "end:s"], waiting: [] });
  });

  it("answers several deferred calls later, from another turn", async () => {
    const counter = counterOn(namespace, "deferred");
    const waiting = [counter.call({ type: "wait" }), counter.call({ type: "wait" }), counter.call({ type: "wait" })];
    await counter.call({ type: "add", by: 1 });
    // The three waiting, plus the stats call being answered.
    expect((await counter.call({ type: "stats" })).pendingCalls).toBe(4);
    expect(await counter.call({ type: "release", value: "done" })).toBe(3);
    expect(await Promise.all(waiting)).toEqual(["done", "done", "done"]);
    expect((await counter.call({ type: "state" })).waiting).toEqual([]);
  });

  it("answers a caller once: a second reply to the same from returns false, and the first one stands", async () => {
    const counter = counterOn(namespace, "twice");
    const waiting = counter.call({ type: "wait" });
    await counter.call({ type: "get" });
    expect(await counter.call({ type: "releaseTwice", values: ["first", "second"] })).toEqual([[true, false]]);
    expect(await waiting).toBe("first");
    // A caller that gave up is answered by neither.
    await counter.call({ type: "wait" }, { timeout: 10 }).catch(() => undefined);
    expect(await counter.call({ type: "releaseTwice", values: ["late", "later"] })).toEqual([[false, false]]);
  });

  it("times a call out with CallTimeoutError without undoing the handler's work", async () => {
    const counter = counterOn(namespace, "timeout");
    const error = await counter.call({ type: "slowAdd", by: 5, ms: 80, tag: "slow" }, { timeout: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect((error as CallTimeoutError).message).toMatch(/Counter:timeout-\w+ did not reply within 20 ms\. The handler was not cancelled/);
    expect(await counter.call({ type: "get" })).toBe(5);
  });

  it("times out a call still queued behind a slow one", async () => {
    const counter = counterOn(namespace, "queued");
    const slow = counter.call({ type: "slowAdd", by: 1, ms: 200, tag: "slow" });
    const error = await counter.call({ type: "get" }, { timeout: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect(await slow).toBe(1);
  });

  it("drops a reply that comes after the caller timed out", async () => {
    const counter = counterOn(namespace, "late");
    const error = await counter.call({ type: "wait" }, { timeout: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallTimeoutError);
    // The handler still holds `from`; answering it now reaches nobody and breaks nothing.
    expect(await counter.call({ type: "release", value: "late" })).toBe(1);
    expect(await counter.call({ type: "stats" })).toMatchObject({ pendingCalls: 1 });
  });

  it("keeps a stored `from` in state across hibernation and eviction as plain data", async () => {
    const counter = counterOn(namespace, "from-data");
    await counter.call({ type: "wait" }, { timeout: 10 }).catch(() => undefined);
    await hibernate(counter);
    await evict(counter);
    const { waiting } = await counter.call({ type: "state" });
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toEqual({ type: "rpc", id: expect.stringMatching(/^[0-9a-f-]{36}\.\d+$/) });
    // A from of an earlier instance matches no call of this one.
    expect(await counter.call({ type: "release", value: "stale" })).toBe(1);
  });

  it("waits 5,000 ms by default", () => {
    expect(DEFAULT_CALL_TIMEOUT_MS).toBe(5_000);
  });

  it("rejects a timeout that is not a positive number", async () => {
    const counter = counterOn(namespace, "bad-timeout");
    await expect(counter.call({ type: "get" }, { timeout: -1 })).rejects.toThrow(/positive number of ms, got -1/);
  });
});
