import { describe, expect, it } from "vitest";
import { ActorStoppedError } from "../../lib/client/index.js";
import { ClientCalls } from "../../lib/client/pending-calls.js";
import { MAX_ACKS } from "../../lib/protocol/frames.js";

/**
 * The calls' own transport, driven by hand: what the client hands an open socket, in order. (Over
 * the test pool's sockets one socket's frames may be reordered, so order is checked here.)
 */
function socketStub() {
  const sent: Array<{ t: string; id?: string; msg?: unknown; ack?: string[] }> = [];
  let open = false;
  const calls = new ClientCalls({ send: (frame) => void sent.push(JSON.parse(frame)), isOpen: () => open, room: () => "counter/r" });
  return {
    calls,
    sent,
    open() {
      open = true;
      calls.opened();
    },
    drop() {
      open = false;
    },
  };
}

const cast = (entry: string) => JSON.stringify({ gp: 1, t: "cast", msg: { type: "log", entry } });

describe("ClientCalls", () => {
  it("lets go of calls given up while offline, so a client polling a room it can't reach doesn't grow", async () => {
    const socket = socketStub();
    for (let i = 0; i < 50; i++) {
      const controller = new AbortController();
      const call = socket.calls.call({ type: "poll" }, { signal: controller.signal }).catch((e: unknown) => e);
      controller.abort();
      await call;
    }
    const timedOut = await socket.calls.call({ type: "poll" }, { timeout: 1 }).catch((e: unknown) => e);
    expect((timedOut as Error).name).toBe("CallTimeoutError");
    expect(socket.calls.waiting).toBe(0);
    socket.open();
    expect(socket.sent).toEqual([]);
  });

  it("rejects the calls a stopped actor had, keeping the ones still queued there and those not yet sent", async () => {
    const socket = socketStub();
    socket.open();
    const lost = socket.calls.call({ type: "deferred" }, {}).catch((e: unknown) => e);
    const queued = socket.calls.call({ type: "queued" }, {});
    socket.drop();
    const unsent = socket.calls.call({ type: "later" }, {});
    const [lostId, queuedId] = socket.sent.map((frame) => frame.id!);
    socket.calls.stopped("cleared", [queuedId!]);
    expect(await lost).toBeInstanceOf(ActorStoppedError);
    expect(((await lost) as Error).message).toBe("counter/r stopped (cleared) before replying to this call.");
    // After the reconnect: the queued call again (the restarted actor answers it once), then the new one; not the lost one.
    socket.open();
    expect(socket.sent.slice(2).map((frame) => (frame.msg as { type: string }).type)).toEqual(["queued", "later"]);
    expect(socket.sent.slice(2).map((frame) => frame.id)).not.toContain(lostId);
    socket.calls.receive({ gp: 1, t: "reply", id: queuedId!, ok: 1 });
    expect(await queued).toBe(1);
    socket.calls.rejectAll(new Error("done"));
    await unsent.catch(() => undefined);
  });

  it("sends what was made while offline in the order it was made, after the calls a dropped socket carried", () => {
    const socket = socketStub();
    socket.open();
    void socket.calls.call({ type: "first" }, {}).catch(() => undefined);
    socket.drop();
    socket.calls.cast(cast("a"));
    void socket.calls.call({ type: "second" }, {}).catch(() => undefined);
    socket.calls.cast(cast("b"));
    expect(socket.sent).toHaveLength(1);
    socket.open();
    const after = socket.sent.slice(1).map((frame) => (frame.t === "call" ? `call ${(frame.msg as { type: string }).type}` : `cast ${(frame.msg as { entry: string }).entry}`));
    expect(after).toEqual(["call first", "cast a", "call second", "cast b"]);
    socket.calls.rejectAll(new Error("done"));
  });

  it("never sends a call given up while offline, nor a cancel for it", async () => {
    const socket = socketStub();
    const controller = new AbortController();
    const aborted = socket.calls.call({ type: "aborted" }, { signal: controller.signal });
    const timedOut = socket.calls.call({ type: "timed out" }, { timeout: 1 });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    await expect(timedOut).rejects.toMatchObject({ name: "CallTimeoutError" });
    socket.open();
    expect(socket.sent).toEqual([]);
  });

  it("acknowledges the replies it received on its next call, once, and not on a call sent again", async () => {
    const socket = socketStub();
    socket.open();
    const first = socket.calls.call({ type: "a" }, {});
    const firstId = socket.sent[0]!.id!;
    socket.calls.receive({ gp: 1, t: "reply", id: firstId, ok: 1 });
    await first;
    // An error frame about a frame the server couldn't read is not kept there: nothing to acknowledge.
    socket.calls.receive({ gp: 1, t: "error", id: "unread", err: { name: "ProtocolError", code: "bad_frame", message: "bad" } });
    void socket.calls.call({ type: "b" }, {}).catch(() => undefined);
    void socket.calls.call({ type: "c" }, {}).catch(() => undefined);
    expect(socket.sent.map((frame) => frame.ack)).toEqual([undefined, [firstId], undefined]);
    expect(socket.sent[1]).toMatchObject({ t: "call", msg: { type: "b" } });
    // A reply for b, then the socket drops: c goes again as it was first sent; the ack rides on the next new call.
    socket.calls.receive({ gp: 1, t: "reply", id: socket.sent[1]!.id!, ok: 2 });
    socket.drop();
    socket.open();
    void socket.calls.call({ type: "d" }, {}).catch(() => undefined);
    expect(socket.sent.slice(3).map((frame) => [(frame.msg as { type: string }).type, frame.ack])).toEqual([
      ["c", undefined],
      ["d", [socket.sent[1]!.id]],
    ]);
    socket.calls.rejectAll(new Error("done"));
  });

  it("acknowledges at most MAX_ACKS replies in one frame, the latest", () => {
    const socket = socketStub();
    socket.open();
    for (let i = 0; i <= MAX_ACKS; i++) socket.calls.receive({ gp: 1, t: "reply", id: `late-${i}`, ok: i });
    void socket.calls.call({ type: "next" }, {}).catch(() => undefined);
    const ack = socket.sent[0]!.ack!;
    expect(ack).toHaveLength(MAX_ACKS);
    expect([ack[0], ack.at(-1)]).toEqual(["late-1", `late-${MAX_ACKS}`]);
    socket.calls.rejectAll(new Error("done"));
  });

  it("tells the server to cancel a call it was sent, when the caller gives up", async () => {
    const socket = socketStub();
    socket.open();
    const controller = new AbortController();
    const pending = socket.calls.call({ type: "slow" }, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(socket.sent.map((frame) => frame.t)).toEqual(["call", "cancel"]);
    expect(socket.sent[1]?.id).toBe(socket.sent[0]?.id);
  });
});
