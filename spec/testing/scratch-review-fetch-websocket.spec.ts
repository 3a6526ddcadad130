import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fetchWebSocket } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect } from "../sockets.js";

describe("fetchWebSocket", () => {
  it("delivers a binary frame as an ArrayBuffer when binaryType is 'arraybuffer', as a WebSocket does", async () => {
    const room = uniqueName("binary");
    const WS = fetchWebSocket(SELF);
    const client = new WS(`ws://spec/parties/my-server/${room}?_pk=fws`);
    client.binaryType = "arraybuffer";
    const received = new Promise<unknown>((resolve) => client.addEventListener("message", (event) => resolve((event as MessageEvent).data)));
    await new Promise((resolve) => client.addEventListener("open", resolve));
    const sender = await connect(`/parties/my-server/${room}?_pk=sender`);
    sender.send(new Uint8Array([1, 2, 3]).buffer);
    const data = await received;
    client.close();
    sender.close();
    expect(Object.prototype.toString.call(data)).toBe("[object ArrayBuffer]");
  });
});
