import { env, exports } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import { ActorStoppedError, CallTimeoutError, type ConnectOptions, connect, MAX_PROTOCOL_FRAME_BYTES, RemoteError } from "../../lib/client/index.js";
import { getActor } from "../../lib/index.js";
import { evict, fetchWebSocket, hibernate } from "../../lib/testing/index.js";
import type { Counter } from "../fixtures/counter.js";
import type { Room } from "../fixtures/room.js";
import { uniqueName } from "../helpers.js";

/** A client with a `wait` call pending (deferred by the actor), once the actor holds it. */
async function clientWaiting(room: string) {
  const client = open<typeof Counter>("counter", room);
  const counter = getActor(env.COUNTER, room);
  const waiting = client.call({ type: "wait" }, { timeout: 10_000 });
  await vi.waitFor(async () => expect((await counter.call({ type: "state" })).waiting).toHaveLength(1));
  let opened = 0;
  client.on("open", () => opened++);
  return { client, counter, waiting, reopened: () => opened };
}

const open = <T>(party: string, room = uniqueName("client"), options: Partial<ConnectOptions> = {}) =>
  connect<T>({ host: "spec", party, room, WebSocket: fetchWebSocket(exports.default), minReconnectionDelay: 10, maxReconnectionDelay: 50, ...options });

describe("genparty/client", () => {
  it("calls and casts, with replies typed from the actor class", async () => {
    const client = open<typeof Counter>("counter");
    const n = await client.call({ type: "add", by: 2 });
    expectTypeOf(n).toEqualTypeOf<number>();
    client.cast({ type: "add", by: 3 });
    // A cast has no reply, and one socket's frames may be reordered in the pool: poll until it shows.
    await vi.waitFor(async () => expect(await client.call({ type: "get" })).toBe(5));
    // @ts-expect-error not a call message of Counter
    void (() => client.call({ type: "nope" }));
    client.close();
  });

  it("talks JSON without a type argument, replies typed unknown", async () => {
    const client = connect({ host: "spec", party: "counter", room: uniqueName("untyped"), WebSocket: fetchWebSocket(exports.default) });
    const n = await client.call({ type: "add", by: 2 });
    expectTypeOf(n).toBeUnknown();
    expect(n).toBe(2);
    client.cast({ type: "add", by: 3 });
    await vi.waitFor(async () => expect(await client.call({ type: "get" })).toBe(5));
    // @ts-expect-error a function is not JSON
    void (() => client.cast({ type: "add", by: () => 1 }));
    client.close();
  });

  it("rejects with RemoteError when the handler throws", async () => {
    const client = open<typeof Counter>("counter");
    const error = await client.call({ type: "throw" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ remoteName: "ValidationError", message: "n must stay small" });
    client.close();
  });

  it("rejects with CallTimeoutError and tells the handler through from.signal", async () => {
    const room = uniqueName("timeout");
    const client = open<typeof Counter>("counter", room);
    // Open first: a call that times out before the socket opens is never sent, so no handler would hear of it.
    await client.call({ type: "get" });
    await expect(client.call({ type: "watchSignal", ms: 5_000 }, { timeout: 300 })).rejects.toBeInstanceOf(CallTimeoutError);
    await vi.waitFor(async () => expect((await getActor(env.COUNTER, room).call({ type: "state" })).log).toContain("signal:aborted: CallCancelledError"));
    client.close();
  });

  it("says a call timed out unsent when the socket never opened", async () => {
    // A typo in the party: every upgrade is refused, and partysocket keeps trying.
    const client = connect<typeof Counter>({ host: "spec", party: "countr", room: uniqueName("typo"), WebSocket: fetchWebSocket(exports.default), minReconnectionDelay: 10 });
    const error = await client.call({ type: "get" }, { timeout: 200 }).catch((e: unknown) => e);
    client.close();
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect((error as Error).message).toMatch(/^countr\/typo-.* was not reached within 200 ms: the socket did not open, so the call was never sent \(and never will be\)/);
  });

  it("rejects with AbortError when the caller's signal aborts", async () => {
    const client = open<typeof Counter>("counter");
    const controller = new AbortController();
    const pending = client.call({ type: "watchSignal", ms: 5_000 }, { signal: controller.signal });
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    client.close();
  });

  it("answers 1,000 concurrent calls from one client, each with its own reply", async () => {
    const client = open<typeof Counter>("counter");
    const values = Array.from({ length: 1_000 }, (_, i) => i);
    const replies = await Promise.all(values.map((value) => client.call({ type: "echo", value, ms: value % 3 }, { timeout: 20_000 })));
    expect(replies).toEqual(values);
    client.close();
  });

  it("rejects a deferred call when the actor stops, after a wake too, instead of sending it again to the restarted one", async () => {
    for (const wake of [false, true]) {
      const { client, counter, waiting } = await clientWaiting(uniqueName("stopped"));
      const outcome = waiting.catch((e: unknown) => e);
      // After a wake the runtime doesn't know of the call: only the state holds its `from`.
      if (wake) await hibernate(counter);
      await counter.call({ type: "stop", clear: true, value: "stopped" });
      const error = await outcome;
      expect(error).toBeInstanceOf(ActorStoppedError);
      expect((error as Error).message).toMatch(/stopped \(cleared\) before replying to this call\.$/);
      // It didn't run again on the restarted actor, once the client was back.
      await vi.waitFor(() => expect(client.socket.readyState).toBe(1));
      expect((await counter.call({ type: "state" })).waiting).toHaveLength(0);
      client.close();
    }
  });

  it("receives a deferred reply across hibernation", async () => {
    const { client, counter, waiting } = await clientWaiting(uniqueName("deferred"));
    await hibernate(counter);
    await counter.call({ type: "release", value: "after hibernation" });
    expect(await waiting).toBe("after hibernation");
    client.close();
  });

  it("re-sends a pending call after a reconnect and gets it answered once, run once", async () => {
    const { client, counter, waiting, reopened } = await clientWaiting(uniqueName("reconnect"));
    client.socket.reconnect();
    await vi.waitFor(() => expect(reopened()).toBe(1));
    expect(await client.call({ type: "get" })).toBe(0);
    expect((await counter.call({ type: "state" })).waiting).toHaveLength(1);
    await counter.call({ type: "release", value: "once" });
    expect(await waiting).toBe("once");
    client.close();
  });

  it("gets its call answered after the object was evicted mid-call", async () => {
    const { client, counter, waiting, reopened } = await clientWaiting(uniqueName("evicted"));
    await evict(counter);
    await vi.waitFor(() => expect(reopened()).toBe(1));
    await client.call({ type: "get" });
    await counter.call({ type: "release", value: "still answered" });
    expect(await waiting).toBe("still answered");
    client.close();
  });

  it("hands raw frames to on('message') and push frames to on('push')", async () => {
    const client = open<typeof Room>("room");
    const messages: unknown[] = [];
    const pushes: unknown[] = [];
    client.on("message", (data) => messages.push(data));
    client.on("push", (msg) => pushes.push(msg));
    await vi.waitFor(() => expect(messages[0]).toMatch(/^welcome /));
    client.socket.send("push:hello");
    await vi.waitFor(() => expect(pushes).toEqual([{ pushed: "hello" }]));
    client.close();
  });

  it("hands the app's own text that only starts like a protocol frame to on('message')", async () => {
    const client = open<typeof Room>("room");
    const messages: unknown[] = [];
    client.on("message", (data) => messages.push(data));
    await vi.waitFor(() => expect(messages[0]).toMatch(/^welcome /));
    // From a server that isn't genparty: its own JSON whose first key is "gp", and a frame of a protocol version this client doesn't speak.
    client.socket.send('rawEcho:{"gp":7,"score":1}');
    client.socket.send('rawEcho:{"gp":2,"t":"reply","id":"1","ok":true,"value":1}');
    client.socket.send("echo:after");
    // In any order: the pool can hand a hibernatable socket's frames over out of order (guides/testing.md).
    await vi.waitFor(() => expect(messages).toHaveLength(4));
    expect(messages.slice(1).sort()).toEqual(["after", '{"gp":2,"t":"reply","id":"1","ok":true,"value":1}', '{"gp":7,"score":1}']);
    client.close();
  });

  describe("before the socket opens", () => {
    it("never sends a call aborted before the socket opened", async () => {
      const client = open<typeof Counter>("counter");
      const controller = new AbortController();
      const aborted = client.call({ type: "add", by: 1 }, { signal: controller.signal });
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
      expect(await client.call({ type: "get" })).toBe(0);
      client.close();
    });

    it("never sends a call that timed out before the socket opened", async () => {
      const room = uniqueName("timed-out-offline");
      const client = open<typeof Counter>("counter", room);
      await expect(client.call({ type: "add", by: 1 }, { timeout: 1 })).rejects.toBeInstanceOf(CallTimeoutError);
      await vi.waitFor(() => expect(client.socket.readyState).toBe(WebSocket.OPEN));
      expect(await client.call({ type: "get" })).toBe(0);
      expect(await getActor(env.COUNTER, room).call({ type: "get" })).toBe(0);
      client.close();
    });
  });

  it("refuses a timeout timers can't keep, and waits without one for Infinity", async () => {
    const client = open<typeof Counter>("counter");
    await expect(client.call({ type: "get" }, { timeout: 2 ** 31 })).rejects.toThrow(/from 1 to 2147483647 \(about 24.8 days\), or Infinity/);
    expect(await client.call({ type: "get" }, { timeout: Infinity })).toBe(0);
    client.close();
  });

  it("rejects a message JSON can't carry instead of throwing", async () => {
    const client = open<typeof Counter>("counter");
    const sent = client.call({ type: "add", by: 1n as unknown as number });
    await expect(sent).rejects.toMatchObject({ name: "ProtocolError", message: expect.stringMatching(/its message is not JSON \(.*BigInt/) });
    client.close();
  });

  it("refuses a call or cast over the protocol's frame limit without sending it, counting UTF-8 bytes", async () => {
    const client = open<typeof Counter>("counter");
    expect(await client.call({ type: "add", by: 1 })).toBe(1);
    let reopened = 0;
    client.on("open", () => reopened++);
    const big = "é".repeat(MAX_PROTOCOL_FRAME_BYTES / 2);
    await expect(client.call({ type: "log", entry: big } as never)).rejects.toMatchObject({ name: "ProtocolError", message: expect.stringMatching(/was not sent: its frame is \d+ bytes or more, and protocol frames are at most 1048576/) });
    expect(() => client.cast({ type: "log", entry: big })).toThrow(/A cast to counter\/.* was not sent/);
    // Nothing left for the socket: it stays up, and the actor heard nothing.
    expect(await client.call({ type: "get" })).toBe(1);
    expect((await getActor(env.COUNTER, client.socket.room!).call({ type: "state" })).log).not.toContainEqual(expect.stringContaining("éé"));
    expect(reopened).toBe(0);
    client.close();
  });

  it("after close(), rejects a call at once and tells the server to cancel what it runs", async () => {
    const room = uniqueName("closed");
    const client = open<typeof Counter>("counter", room);
    await client.call({ type: "get" });
    const watching = client.call({ type: "watchSignal", ms: 2_000 }, { timeout: 5_000 });
    // The handler holds the mailbox while it waits, so it can't be asked whether it started: give the frame time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.close();
    await expect(watching).rejects.toThrow(`The connection to counter/${room} was closed.`);
    const started = Date.now();
    await expect(client.call({ type: "get" })).rejects.toThrow("was closed");
    expect(Date.now() - started).toBeLessThan(100);
    expect(() => client.cast({ type: "add", by: 1 })).toThrow("was closed");
    // Queued behind the handler: answered once it ended, which the cancel made early.
    expect((await getActor(env.COUNTER, room).call({ type: "state" })).log).toContain("signal:aborted: CallCancelledError");
  });

  it("stops, instead of taking it back, when another client connects with its id", async () => {
    const room = uniqueName("same-id");
    const first = open<typeof Counter>("counter", room, { id: "user-42" });
    await first.call({ type: "get" });
    let reopened = 0;
    first.on("open", () => reopened++);
    const second = open<typeof Counter>("counter", room, { id: "user-42" });
    await second.call({ type: "get" });
    await expect(first.call({ type: "get" })).rejects.toThrow(/Another client connected to counter\/.* with this one's id \(user-42\), so this one stopped/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reopened).toBe(0);
    expect(await second.call({ type: "add", by: 1 })).toBe(1);
    second.close();
  });

  it("rejects its calls when the socket closes and shouldReconnectOnClose says not to reconnect, and works again after reconnect()", async () => {
    const room = uniqueName("no-reconnect");
    const client = open<typeof Counter>("counter", room, { shouldReconnectOnClose: (event) => event.code !== 4000 });
    const counter = getActor(env.COUNTER, room);
    const waiting = client.call({ type: "wait" }, { timeout: Infinity });
    await vi.waitFor(async () => expect((await counter.call({ type: "state" })).waiting).toHaveLength(1));
    const both = Promise.allSettled([waiting, client.call({ type: "hangUp" })]);
    const expected = `The connection to counter/${room} closed (code 4000, "hung up") and won't reconnect`;
    for (const settled of await both) expect(settled).toMatchObject({ status: "rejected", reason: { message: expect.stringContaining(expected) } });
    await expect(client.call({ type: "get" })).rejects.toThrow(expected);
    expect(() => client.cast({ type: "add", by: 1 })).toThrow(expected);
    client.socket.reconnect();
    expect(await client.call({ type: "add", by: 1 })).toBe(2);
    client.close();
  });

  it("hands an event to every listener even when one throws", async () => {
    const client = open<typeof Room>("room");
    const seen: unknown[] = [];
    client.on("push", () => {
      throw new Error("a listener's own bug");
    });
    client.on("push", (msg) => seen.push(msg));
    await vi.waitFor(() => expect(client.socket.readyState).toBe(WebSocket.OPEN));
    client.socket.send("push:hello");
    await vi.waitFor(() => expect(seen).toEqual([{ pushed: "hello" }]));
    client.close();
  });
});
