import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { ActorStoppedError, getActor, MailboxFullError, RemoteError, SelfCallError } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import { backends, counterOn, savedState, uniqueName } from "../helpers.js";

describe.each(backends)("Mailbox on %s", (backend, namespace) => {
  it("runs one turn at a time even when a handler awaits a timer", async () => {
    const counter = counterOn(namespace, "serial");
    const a = counter.call({ type: "slowAdd", by: 1, ms: 40, tag: "a" });
    const b = counter.call({ type: "slowAdd", by: 10, ms: 5, tag: "b" });
    const cast = counter.cast({ type: "log", entry: "cast" });
    expect(await Promise.all([a, b, cast])).toEqual([1, 11, undefined]);
    const { log } = await counter.call({ type: "state" });
    expect(log).toEqual(["init", "start:a", "end:a", "start:b", "end:b", "rpc:cast"]);
  });

  it("keeps HTTP requests in the same queue as calls", async () => {
    const name = uniqueName("http-serial");
    const counter = getActor(namespace(), name);
    const slow = counter.call({ type: "slowAdd", by: 5, ms: 30, tag: "slow" });
    // fetch and RPC from one stub are not ordered by the platform (workerd#6561): let the call start first.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const response = counter.stub.fetch(`http://do/counter/${name}/get`);
    await slow;
    expect(await (await response).json()).toEqual({ n: 5 });
  });

  it("handles the messages of one sender in the order they were sent", async () => {
    const counter = counterOn(namespace, "fifo");
    const sends = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0 ? counter.cast({ type: "slowLog", entry: `m${i}`, ms: i % 7 }) : counter.cast({ type: "log", entry: `m${i}` }),
    );
    await Promise.all(sends);
    const { log } = await counter.call({ type: "state" });
    expect(log.slice(1).map((entry) => entry.replace("rpc:", ""))).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it("runs a continue before any message queued behind its turn", async () => {
    const counter = counterOn(namespace, "continue");
    const busy = counter.call({ type: "slowAdd", by: 1, ms: 20, tag: "busy" });
    const continued = counter.call({ type: "continue", steps: 3 });
    const queued = counter.cast({ type: "log", entry: "queued" });
    await Promise.all([busy, continued, queued]);
    const { log } = await counter.call({ type: "state" });
    expect(log).toEqual(["init", "start:busy", "end:busy", "call", "continue:3", "continue:2", "continue:1", "rpc:queued"]);
  });

  it("runs handleStart's continue chain before the message that woke the actor", async () => {
    const counter = counterOn(namespace, "continue-start");
    await counter.call({ type: "continueOnStart", steps: 2 });
    await evict(counter);
    expect((await counter.call({ type: "state" })).log).toEqual(["init", "start", "continue:2", "continue:1"]);
    await hibernate(counter);
    await counter.cast({ type: "log", entry: "woke" });
    expect((await counter.call({ type: "state" })).log).toEqual(["init", "start", "continue:2", "continue:1", "start", "continue:2", "continue:1", "rpc:woke"]);
  });

  it("leaves the message that woke the actor unhandled when handleStart's continue stops it", async () => {
    const counter = counterOn(namespace, "continue-stop");
    await counter.call({ type: "add", by: 1 });
    await counter.call({ type: "continueOnStart", steps: "stop" });
    await evict(counter);
    // A handler that reads no state: run on the stopped actor, it would have saved the state as null.
    const error = await counter.call({ type: "stats" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActorStoppedError);
    expect((error as ActorStoppedError).message).toMatch(/stopped \(shutdown\)/);
    await counter.cast({ type: "add", by: 1 });
    // Each start stops again; nothing was added, nothing lost.
    expect(await counter.call({ type: "get" }).catch((e: unknown) => e)).toBeInstanceOf(ActorStoppedError);
    expect(await savedState(counter.stub, backend)).toMatchObject({ n: 1, continueOnStart: "stop" });
  });

  it("keeps what a continue chain committed across eviction", async () => {
    const counter = counterOn(namespace, "continue-evict");
    await counter.call({ type: "continue", steps: 2 });
    await counter.call({ type: "get" });
    await evict(counter);
    expect((await counter.call({ type: "state" })).log).toEqual(["init", "call", "continue:2", "continue:1"]);
  });

  it("fails a call to itself from inside a turn at once instead of deadlocking", async () => {
    const counter = counterOn(namespace, "self");
    const started = Date.now();
    const error = await counter.call({ type: "callSelf" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).remoteName).toBe("SelfCallError");
    expect((error as RemoteError).message).toMatch(/^self-\S+ was called from inside its own turn \(self-\S+ → self-\S+\)/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await counter.call({ type: "add", by: 1 })).toBe(1);
  });
});

describe("Call chains", () => {
  it("fail fast on a cycle through another actor (A → B → A), naming both", async () => {
    const a = getActor(env.COUNTER, uniqueName("cycle-a"));
    const b = uniqueName("cycle-b");
    const error = await a.call({ type: "callPeer", peer: b }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).remoteName).toBe("SelfCallError");
    expect((error as RemoteError).message).toContain(`${a.name} was called from inside its own turn (${a.name} → Counter:${b} → ${a.name})`);
    expect(await a.call({ type: "get" })).toBe(0);
  });

  it("reject a chain that already holds the callee, when it arrives over RPC", async () => {
    const a = getActor(env.COUNTER, uniqueName("chain"));
    await a.call({ type: "get" });
    const answer = await a.stub.__genpartyCall({ type: "get" }, undefined, [a.id.toString()]);
    expect(answer).toMatchObject({ "genparty.error": { name: "SelfCallError" } });
    expect(new SelfCallError("x").code).toBe("self_call");
  });
});

describe("Bounded mailbox", () => {
  it("rejects calls beyond the limit with MailboxFullError and drops casts with a count", async () => {
    const tiny = getActor(env.TINY, uniqueName("tiny"));
    await tiny.call({ type: "get" });
    const running = tiny.call({ type: "slowAdd", by: 1, ms: 60, tag: "running" });
    // Let the first call become the running turn, so the next three fill the queue of 3.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const queued = [1, 2, 3].map((by) => tiny.call({ type: "add", by }));
    const rejected = await tiny.call({ type: "add", by: 100 }).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(MailboxFullError);
    expect((rejected as MailboxFullError).message).toMatch(/TinyMailbox:tiny-.*mailbox is full \(3 messages queued\).*static mailbox/);
    await tiny.cast({ type: "add", by: 1_000 });
    expect(await Promise.all([running, ...queued])).toEqual([1, 2, 4, 7]);
    expect(await tiny.call({ type: "stats" })).toEqual({ queued: 0, droppedCasts: 1, pendingCalls: 1 });
    expect(await tiny.call({ type: "get" })).toBe(7);
  });

  it("answers HTTP with 503 while the mailbox is full", async () => {
    const name = uniqueName("tiny-http");
    const tiny = getActor(env.TINY, name);
    const running = tiny.call({ type: "slowAdd", by: 1, ms: 200, tag: "running" });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const queued = [1, 2, 3].map(() => tiny.cast({ type: "add", by: 1 }));
    // Read the queue from inside (not through the full mailbox) until the three casts are in it.
    await vi.waitFor(async () => expect(await runInDurableObject(tiny.stub, (instance) => instance.mailboxStats.queued)).toBe(3));
    const response = await tiny.stub.fetch(`http://do/counter/${name}/get`);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    await Promise.all([running, ...queued]);
  });

  it("accepts work again after hibernation", async () => {
    const tiny = getActor(env.TINY, uniqueName("tiny-wake"));
    await tiny.call({ type: "add", by: 2 });
    await hibernate(tiny);
    expect(await tiny.call({ type: "add", by: 2 })).toBe(4);
  });
});
