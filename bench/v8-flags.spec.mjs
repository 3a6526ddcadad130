// miniflare: the version wrangler pins (it writes the configs this rewrites).
import { serializeConfig } from "miniflare";
import { describe, expect, it } from "vitest";
import { benchV8Flags, v8FlagsOf, withV8Flags } from "./v8-flags.mjs";

/** A config as miniflare makes one: services and sockets, a module big enough to span words. */
const config = {
  services: [{ name: "main", worker: { compatibilityDate: "2026-05-03", modules: [{ name: "index.js", esModule: "export default {};\n".repeat(40) }] } }],
  sockets: [{ name: "http", address: "127.0.0.1:0", http: {}, service: { name: "main" } }],
};

describe("withV8Flags", () => {
  it("reads the flags as miniflare's own encoder writes them", () => {
    expect(v8FlagsOf(serializeConfig({ ...config, v8Flags: ["--trace-opt", "--no-maglev"] }))).toEqual(["--trace-opt", "--no-maglev"]);
    expect(v8FlagsOf(serializeConfig(config))).toEqual([]);
  });

  it("sets the flags of a config miniflare wrote without them, and leaves the rest of the message as it was", () => {
    const message = serializeConfig(config);
    const flags = ["--no-concurrent-recompilation", "--max-lazy", "--é"];
    const patched = withV8Flags(message, flags);
    expect(v8FlagsOf(patched)).toEqual(flags);
    // The one segment it had, byte for byte but the v8Flags slot; the new one after it.
    const segmentBytes = message.readUInt32LE(4) * 8;
    expect(patched.readUInt32LE(0)).toBe(1);
    expect(patched.readUInt32LE(4) * 8).toBe(segmentBytes);
    const before = message.subarray(8);
    const after = patched.subarray(16, 16 + segmentBytes);
    const differing = [...before.keys()].filter((i) => before[i] !== after[i]);
    expect(differing.length).toBeGreaterThan(0);
    expect(Math.max(...differing) - Math.min(...differing)).toBeLessThan(8);
  });

  it("leaves a config alone when no flags are asked for, and refuses one that has flags already", () => {
    const message = serializeConfig(config);
    expect(withV8Flags(message, [])).toBe(message);
    expect(() => withV8Flags(serializeConfig({ ...config, v8Flags: ["--a"] }), ["--b"])).toThrow(/already/);
  });

  it("splits BENCH_V8_FLAGS on spaces", () => {
    expect(benchV8Flags({ BENCH_V8_FLAGS: " --a  --b=1 " })).toEqual(["--a", "--b=1"]);
    expect(benchV8Flags({})).toEqual([]);
  });
});
