import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { serializedSize } from "../../lib/connections/attachment-size.js";
import { SocketFrom } from "../fixtures/socket-from.js";
import type { Room } from "../fixtures/room.js";
import { uniqueName } from "../helpers.js";
import { connect } from "../sockets.js";

/** Values over the platform's 16 KiB, each of one shape the estimate must get right. */
const shapes: Array<[string, () => unknown]> = [
  ["fractions", () => ({ xs: Array.from({ length: 3_000 }, (_, i) => i + 0.5) })],
  ["small integers", () => ({ xs: Array.from({ length: 9_000 }, (_, i) => i % 100) })],
  ["large integers", () => ({ xs: Array.from({ length: 3_000 }, (_, i) => 2 ** 31 + i) })],
  ["a Latin-1 string", () => ({ text: "é".repeat(20_000) })],
  ["a string past U+00FF", () => ({ text: `${"x".repeat(9_000)}€` })],
  ["many keys", () => Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`key${i}`, i % 2 === 0]))],
  ["integer-like keys", () => Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [String(i * 7), null]))],
  ["nesting", () => ({ rows: Array.from({ length: 800 }, (_, i) => ({ id: `row-${i}`, at: new Date(i), tags: ["a", "b"] })) })],
  ["negative integer-like keys", () => Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [String(-i - 1), 1]))],
  ["keys past the array-index range", () => Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [String(2 ** 32 + i), 1]))],
];

describe("serializedSize", () => {
  it("estimates the platform's attachment encoding from above, within 2%, for every shape of value but one (see attachment-size.ts)", async () => {
    const name = uniqueName("size");
    const socket = await connect(`/room/${name}?_pk=s`);
    await socket.next();
    const measured = await runInDurableObject(env.ROOM.getByName(name), (instance: Room) => {
      const connection = instance.getConnection("s")!;
      return shapes.map(([what, make]) => {
        const value = make();
        try {
          WebSocket.prototype.serializeAttachment.call(connection, value);
          return { what, platform: Number.NaN, estimate: serializedSize(value) };
        } catch (error) {
          // The platform names the size it refused: "… 'attachment' was 27094 bytes".
          const platform = Number(/was (\d+) bytes/.exec(String(error))?.[1]);
          return { what, platform, estimate: serializedSize(value) };
        }
      });
    });
    for (const { what, platform, estimate } of measured) {
      expect(platform, what).toBeGreaterThan(16_384);
      expect(estimate, what).toBeGreaterThanOrEqual(platform);
      expect(estimate / platform, what).toBeLessThan(1.02);
    }
  });

  it("refuses what is not plain data, naming where it is", () => {
    expect(() => serializedSize({ a: { seen: new Set() } })).toThrow(/a Set at "seen" is not plain data/);
    expect(() => serializedSize({ f: () => 1 })).toThrow(/a function at "f"/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => serializedSize(cyclic)).toThrow(/nested more than 100 levels/);
    class Player {
      name = "ada";
    }
    expect(() => serializedSize({ player: new Player() })).toThrow(/a Player at "player" is not plain data/);
  });

  it("keeps a call's from (a class instance) as its fields, which is what the platform stores and a wake reads back", async () => {
    const name = uniqueName("size");
    const socket = await connect(`/room/${name}?_pk=s`);
    await socket.next();
    const from = new SocketFrom("call-7", "s");
    const fields = { type: "socket", id: "call-7", connection: "s" };
    expect(serializedSize({ waiting: [from] })).toBe(serializedSize({ waiting: [fields] }));
    const stored = await runInDurableObject(env.ROOM.getByName(name), (instance: Room) => {
      const connection = instance.getConnection("s")!;
      connection.setState({ waiting: [from] });
      // What a wake reads back: the platform's copy, not the object in memory.
      return WebSocket.prototype.deserializeAttachment.call(connection) as unknown;
    });
    expect(JSON.stringify(stored)).toContain(JSON.stringify({ waiting: [fields] }));
  });
});
