import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { fetchWebSocket } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect } from "../sockets.js";

describe("fetchWebSocket", () => {
  it("hands binary frames over as its binaryType asks", async () => {
    const room = uniqueName("binary");
    const WS = fetchWebSocket(exports.default);
    const listen = async (binaryType: "arraybuffer" | "blob") => {
      const socket = new WS(`ws://spec/parties/my-server/${room}?_pk=${binaryType}`);
      socket.binaryType = binaryType;
      const received: unknown[] = [];
      socket.addEventListener("message", (event) => received.push((event as MessageEvent).data));
      await new Promise((resolve) => socket.addEventListener("open", resolve));
      return { socket, received };
    };
    const buffers = await listen("arraybuffer");
    const blobs = await listen("blob");
    // The room (the seed README's MyServer) sends each frame on to every other connection.
    const sender = await connect(`/parties/my-server/${room}?_pk=sender`);
    // One frame at a time: the test pool may reorder one socket's frames on the way in.
    const relay = async (data: string | ArrayBuffer, count: number) => {
      sender.send(data);
      await vi.waitFor(() => expect(buffers.received).toHaveLength(count));
      await vi.waitFor(() => expect(blobs.received).toHaveLength(count));
    };
    await relay("before", 1);
    await relay(new Uint8Array([1, 2, 3]).buffer, 2);
    await relay("after", 3);
    expect(buffers.received[0]).toBe("before");
    expect(buffers.received[1]).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(buffers.received[1] as ArrayBuffer)]).toEqual([1, 2, 3]);
    expect(buffers.received[2]).toBe("after");
    expect(blobs.received[1]).toBeInstanceOf(Blob);
    expect([...new Uint8Array(await (blobs.received[1] as Blob).arrayBuffer())]).toEqual([1, 2, 3]);
    for (const socket of [buffers.socket, blobs.socket, sender]) socket.close();
  });

  it("stays open when an open listener throws, as a browser's WebSocket does", async () => {
    const room = uniqueName("throwing-open");
    const WS = fetchWebSocket(exports.default);
    const socket = new WS(`ws://spec/parties/my-server/${room}?_pk=listener`);
    const events: string[] = [];
    socket.addEventListener("open", () => {
      events.push("open");
      throw new Error("a listener's own bug");
    });
    socket.addEventListener("close", () => events.push("close"));
    socket.addEventListener("message", (event) => events.push(String((event as MessageEvent).data)));
    await vi.waitFor(() => expect(events).toContain("open"));
    const sender = await connect(`/parties/my-server/${room}?_pk=sender`);
    sender.send("still here");
    await vi.waitFor(() => expect(events).toContain("still here"));
    expect(events).not.toContain("close");
    expect(socket.readyState).toBe(1);
    socket.close();
    sender.close();
  });
});
