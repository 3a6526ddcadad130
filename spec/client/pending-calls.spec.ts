import { describe, expect, it } from "vitest";
import { ActorStoppedError } from "../../lib/client/index.js";
import { ClientCalls } from "../../lib/client/pending-calls.js";

/**
 * The calls' own transport, driven by hand: what the client hands an open socket, in order. (Over
 * the test pool's sockets one socket's frames may be reordered, so order is checked here.)
 */
function socketStub() {
  const sent: Array<{ t: string; id?: string; msg?: unknown }> = [];
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
