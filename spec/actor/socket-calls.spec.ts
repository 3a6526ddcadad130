import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_STORED_REPLY_CHARS } from "../../lib/actor/socket-calls.js";
import { getActor } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect, type TestSocket } from "../sockets.js";

const call = (id: string, msg: unknown) => JSON.stringify({ gp: 1, t: "call", id, msg });
const cast = (msg: unknown) => JSON.stringify({ gp: 1, t: "cast", msg });
const frame = async (socket: TestSocket) => JSON.parse(await socket.next()) as Record<string, unknown>;

async function counterSocket(name = uniqueName("sock"), pk = "c1") {
  const socket = await connect(`/counter/${name}?_pk=${pk}`);
  return { socket, name, counter: getActor(env.COUNTER, name) };
}

describe("Calls and casts over a socket", () => {
  afterEach(() => resetClock());

  it("answer a call frame with a reply frame carrying its id", async () => {
    const { socket } = await counterSocket();
    socket.send(call("1", { type: "add", by: 2 }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "1", ok: 2 });
  });

  it("hand a cast frame to handleCast with the socket as origin", async () => {
    const { socket, counter } = await counterSocket();
    socket.send(cast({ type: "log", entry: "hi" }));
    // No reply to a cast: wait until it shows (frames of one socket are not ordered in the pool).
    await vi.waitFor(async () => expect((await counter.call({ type: "state" })).log).toEqual(["init", "socket:hi"]));
    socket.send(call("2", { type: "state" }));
    expect(((await frame(socket)).ok as { log: string[] }).log).toEqual(["init", "socket:hi"]);
  });

  it("answer a throwing handler with an err frame (name, code, message; no stack)", async () => {
    const { socket } = await counterSocket();
    socket.send(call("3", { type: "throw" }));
    expect(await frame(socket)).toEqual({
      gp: 1,
      t: "reply",
      id: "3",
      err: { name: "RemoteError", code: "remote_error", message: "n must stay small", remoteName: "ValidationError" },
    });
  });

  it("answer a reply JSON would change (a Date, a Map) or can't hold (a BigInt) with a ProtocolError naming it", async () => {
    const { socket, counter } = await counterSocket();
    for (const [as, message] of [
      ["date", /the reply to call date can't be sent as JSON \(key "at" holds a Date, which JSON would change; reply with plain data/],
      ["map", /key "seen" holds a Map/],
      ["bigint", /the reply itself holds a bigint/],
    ] as const) {
      socket.send(call(as, { type: "richReply", as }));
      expect(await frame(socket)).toMatchObject({ t: "reply", id: as, err: { name: "ProtocolError", code: "bad_frame", message: expect.stringMatching(message) } });
    }
    // Over DO RPC, which keeps them, the same call is answered.
    expect(await counter.call({ type: "richReply", as: "map" })).toEqual({ seen: new Map([["a", 1]]) });
  });

  it("answer a malformed or oversize frame with an error frame and keep the socket open", async () => {
    const { socket } = await counterSocket();
    socket.send(`{"gp":1,"t":"call","id":"4"`);
    expect(await frame(socket)).toMatchObject({ t: "error", id: "4", err: { name: "ProtocolError", code: "bad_frame" } });
    socket.send(`{"gp":1,"t":"call","id":"5","msg":"${"x".repeat(1_048_576)}"}`);
    expect(await frame(socket)).toMatchObject({ t: "error", id: "5", err: { message: expect.stringMatching(/at most 1048576/) } });
    socket.send(call("6", { type: "get" }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "6", ok: 0 });
  });

  it("answers a bad frame at once while another call waits in its turn, and after that turn fails", async () => {
    const { socket } = await counterSocket();
    socket.send(call("slow", { type: "slowThrow", ms: 300 }));
    // Let the slow call's turn start (frames of one socket are not ordered in the pool).
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.send(`{"gp":1,"t":"call","id":"bad"`);
    expect(await frame(socket)).toMatchObject({ t: "error", id: "bad", err: { code: "bad_frame" } });
    expect(await frame(socket)).toMatchObject({ t: "reply", id: "slow", err: { message: "failed after waiting" } });
  });

  it("runs a call re-sent with the same id once, and answers the re-send with the stored reply", async () => {
    const { socket, counter } = await counterSocket();
    socket.send(call("w", { type: "wait" }));
    socket.send(call("w", { type: "wait" }));
    await counter.call({ type: "get" });
    expect((await counter.call({ type: "state" })).waiting).toHaveLength(1);
    await counter.call({ type: "release", value: "once" });
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "w", ok: "once" });
    socket.send(call("w", { type: "wait" }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "w", ok: "once" });
    expect((await counter.call({ type: "state" })).waiting).toHaveLength(0);
  });

  it("sends one reply frame when a handler answers a socket call twice", async () => {
    const { socket, counter } = await counterSocket();
    socket.send(call("w2", { type: "wait" }));
    await vi.waitFor(async () => expect((await counter.call({ type: "state" })).waiting).toHaveLength(1));
    expect(await counter.call({ type: "releaseTwice", values: ["first", "second"] })).toEqual([[true, false]]);
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "w2", ok: "first" });
    socket.send(call("next", { type: "get" }));
    expect(await frame(socket)).toMatchObject({ t: "reply", id: "next" });
  });

  it("remembers at least the last 512 answered ids of a connection, and runs an older re-sent one again", async () => {
    const { socket } = await counterSocket();
    // 577 ids: one past the 512 kept and the 64 more a list grows by before it is cut back to 512.
    for (let i = 0; i <= 576; i++) {
      socket.send(call(`a${i}`, { type: "add", by: 1 }));
      expect(await frame(socket)).toMatchObject({ id: `a${i}`, ok: i + 1 });
    }
    // a0…a64 went with the cut: a re-send is a new call. a65 is among the 512 kept.
    socket.send(call("a64", { type: "add", by: 1 }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "a64", ok: 578 });
    socket.send(call("a65", { type: "add", by: 1 }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "a65", ok: 66 });
  });

  it("forgets a call its client cancelled, so calls nobody answers don't push out stored answers", async () => {
    const { socket, counter } = await counterSocket();
    for (let i = 0; i < 600; i++) socket.send(call(`i${i}`, { type: "ignore" }));
    await vi.waitFor(async () => expect((await counter.call({ type: "state" })).log.length).toBe(601), { timeout: 5_000 });
    // As a client whose calls timed out: it cancels them.
    for (let i = 0; i < 600; i++) socket.send(JSON.stringify({ gp: 1, t: "cancel", id: `i${i}` }));
    socket.send(call("sync", { type: "get" }));
    expect(await frame(socket)).toMatchObject({ id: "sync", ok: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.send(call("a1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "a1", ok: 1 });
    socket.send(call("a2", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "a2", ok: 2 });
    // Re-sent (a reconnect): answered from what was stored, not run again.
    socket.send(call("a1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "a1", ok: 1 });
  });

  it("forgets the answers a call frame acknowledges, so a re-sent acknowledged call runs again", async () => {
    const { socket } = await counterSocket();
    socket.send(call("k1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "k1", ok: 1 });
    socket.send(call("k2", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "k2", ok: 2 });
    socket.send(JSON.stringify({ gp: 1, t: "call", id: "k3", msg: { type: "add", by: 1 }, ack: ["k1", "unknown"] }));
    expect(await frame(socket)).toMatchObject({ id: "k3", ok: 3 });
    // k1 was acknowledged: a new call under its id runs. k2 was not: its stored reply comes back.
    socket.send(call("k1", { type: "add", by: 1 }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "k1", ok: 4 });
    socket.send(call("k2", { type: "add", by: 1 }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "k2", ok: 2 });
  });

  it("keeps a call that still waits when a frame acknowledges its id, and after a wake ignores acks it can't match", async () => {
    const { socket, counter } = await counterSocket();
    socket.send(call("held", { type: "wait" }));
    await vi.waitFor(async () => expect((await counter.call({ type: "state" })).waiting).toHaveLength(1));
    socket.send(JSON.stringify({ gp: 1, t: "call", id: "n1", msg: { type: "add", by: 1 }, ack: ["held"] }));
    expect(await frame(socket)).toMatchObject({ id: "n1", ok: 1 });
    // Still waiting: a re-send is not run a second time.
    socket.send(call("held", { type: "wait" }));
    await counter.call({ type: "get" });
    expect((await counter.call({ type: "state" })).waiting).toHaveLength(1);
    await hibernate(counter);
    socket.send(JSON.stringify({ gp: 1, t: "call", id: "n2", msg: { type: "add", by: 1 }, ack: ["n1", "held"] }));
    expect(await frame(socket)).toMatchObject({ id: "n2", ok: 2 });
    expect(await counter.call({ type: "release", value: "kept" })).toBe(1);
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "held", ok: "kept" });
  });

  it("keeps at most MAX_STORED_REPLY_CHARS of replies for re-sends, the oldest going first", async () => {
    const { socket } = await counterSocket();
    const chars = MAX_STORED_REPLY_CHARS / 8;
    // Nine replies of an eighth of the budget: the ninth goes past it, and the oldest go until three quarters are left.
    for (let i = 0; i < 9; i++) {
      socket.send(call(`b${i}`, { type: "big", chars }));
      expect(String((await frame(socket)).ok)).toMatch(new RegExp(`^${i + 1}:`));
    }
    socket.send(call("b8", { type: "big", chars }));
    expect(String((await frame(socket)).ok)).toMatch(/^9:/);
    // Forgotten: a re-send is a new call.
    socket.send(call("b0", { type: "big", chars }));
    expect(String((await frame(socket)).ok)).toMatch(/^10:/);
  });

  it("forgets an answer five minutes after it was sent", async () => {
    const { socket } = await counterSocket();
    socket.send(call("t1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ ok: 1 });
    await advanceClock(4 * 60_000);
    socket.send(call("t1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "t1", ok: 1 });
    await advanceClock(60_000 + 30_000);
    socket.send(call("t2", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ ok: 2 });
    socket.send(call("t1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "t1", ok: 3 });
  });

  it("forgets an expired answer behind a call that was answered later", async () => {
    const { socket, counter } = await counterSocket();
    // "slow" is called first and answered four minutes after "t1": its answer is younger, though it comes first.
    socket.send(call("slow", { type: "wait" }));
    await vi.waitFor(async () => expect((await counter.call({ type: "state" })).waiting).toHaveLength(1));
    socket.send(call("t1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "t1", ok: 1 });
    await advanceClock(4 * 60_000);
    await counter.call({ type: "release", value: "late" });
    expect(await frame(socket)).toMatchObject({ id: "slow", ok: "late" });
    await advanceClock(60_000 + 30_000);
    socket.send(call("t2", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ ok: 2 });
    // t1's answer is past the TTL: a re-send runs again.
    socket.send(call("t1", { type: "add", by: 1 }));
    expect(await frame(socket)).toMatchObject({ id: "t1", ok: 3 });
    // slow's is not: a re-send gets the stored reply.
    socket.send(call("slow", { type: "wait" }));
    expect(await frame(socket)).toMatchObject({ id: "slow", ok: "late" });
  });

  it("defers a reply across hibernation", async () => {
    const { socket, counter } = await counterSocket();
    socket.send(call("d", { type: "wait" }));
    await counter.call({ type: "get" });
    await hibernate(counter);
    expect(await counter.call({ type: "release", value: "after sleep" })).toBe(1);
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "d", ok: "after sleep" });
  });

  it("delivers a deferred reply to the new socket after the client reconnected with its id", async () => {
    const { socket, counter, name } = await counterSocket(undefined, "same");
    socket.send(call("r", { type: "wait" }));
    await counter.call({ type: "get" });
    socket.close(1000, "network blip");
    const again = await connect(`/counter/${name}?_pk=same`);
    await counter.call({ type: "release", value: "found you" });
    expect(await frame(again)).toEqual({ gp: 1, t: "reply", id: "r", ok: "found you" });
  });

  it("keeps the answer of a call whose handler closed its socket for the client's re-send", async () => {
    const { socket, counter, name } = await counterSocket(undefined, "hung");
    socket.send(call("h", { type: "hangUp" }));
    expect(await socket.closed).toMatchObject({ code: 4000, reason: "hung up" });
    // The reply came after the close: not sent on the closed socket.
    expect(socket.received).toEqual([]);
    const again = await connect(`/counter/${name}?_pk=hung`);
    again.send(call("h", { type: "hangUp" }));
    expect(await frame(again)).toEqual({ gp: 1, t: "reply", id: "h", ok: "bye" });
    // Answered from the stored reply: the handler ran once, and the new socket stays open.
    expect(await counter.call({ type: "get" })).toBe(1);
    again.send(call("g", { type: "get" }));
    expect(await frame(again)).toMatchObject({ id: "g", ok: 1 });
  });

  it("delivers a deferred reply after eviction to the client that reconnected", async () => {
    const { socket, counter, name } = await counterSocket(undefined, "evicted");
    socket.send(call("e", { type: "wait" }));
    await counter.call({ type: "get" });
    await evict(counter);
    await socket.closed;
    const again = await connect(`/counter/${name}?_pk=evicted`);
    expect(await counter.call({ type: "release", value: "still owed" })).toBe(1);
    expect(await frame(again)).toEqual({ gp: 1, t: "reply", id: "e", ok: "still owed" });
  });

  it("reaches the handler as from.signal when the client cancels", async () => {
    const { socket, counter } = await counterSocket();
    socket.send(call("s", { type: "watchSignal", ms: 2_000 }));
    // The pool may deliver the cancel before the call (a cancel for an unknown id is ignored): repeat it until answered.
    const cancel = () => socket.send(JSON.stringify({ gp: 1, t: "cancel", id: "s" }));
    cancel();
    const again = setInterval(cancel, 100);
    try {
      expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "s", ok: "aborted: CallCancelledError" });
    } finally {
      clearInterval(again);
    }
    expect((await counter.call({ type: "state" })).log).toContain("signal:aborted: CallCancelledError");
  });

  it("aborts from.signal of an RPC call that timed out", async () => {
    const counter = getActor(env.COUNTER, uniqueName("rpc-signal"));
    await expect(counter.call({ type: "watchSignal", ms: 2_000 }, { timeout: 20 })).rejects.toThrow(/did not reply within 20 ms/);
    expect((await counter.call({ type: "state" })).log).toContain("signal:aborted: CallTimeoutError");
  });

  it("leaves non-protocol frames to handleInfo", async () => {
    const { socket } = await counterSocket();
    socket.send(`{"type":"plain"}`);
    socket.send(call("p", { type: "get" }));
    expect(await frame(socket)).toEqual({ gp: 1, t: "reply", id: "p", ok: 0 });
  });
});
