import { describe, expect, it } from "vitest";
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
