import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { serializedSize } from "../lib/connections/attachment-size.js";
import type { Room } from "./fixtures/room.js";
import { uniqueName } from "./helpers.js";
import { connect } from "./sockets.js";

const shapes: Array<[string, () => unknown]> = [
  ["negative integer-like keys", () => Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [String(-i - 1), null]))],
  ["keys past the array-index range", () => Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [String(2 ** 32 + i), null]))],
  ["Latin-1 text held as a two-byte string", () => ({ text: `€${"x".repeat(12_000)}`.slice(1) })],
];

describe("serializedSize errs high (so both modes refuse the same states)", () => {
  it.each(shapes.map(([what]) => what))("for %s", async (what) => {
    const make = shapes.find(([w]) => w === what)![1];
    const name = uniqueName("size-review");
    const socket = await connect(`/room/${name}?_pk=s`);
    await socket.next();
    const { platform, estimate } = await runInDurableObject(env.ROOM.getByName(name), (instance: Room) => {
      const connection = instance.getConnection("s")!;
      const value = make();
      try {
        WebSocket.prototype.serializeAttachment.call(connection, value);
        return { platform: Number.NaN, estimate: serializedSize(value) };
      } catch (error) {
        return { platform: Number(/was (\d+) bytes/.exec(String(error))?.[1]), estimate: serializedSize(value) };
      }
    });
    // The platform refused it as too large: the estimate must not say it fits.
    expect(platform).toBeGreaterThan(16_384);
    expect(estimate).toBeGreaterThanOrEqual(platform);
  });
});
