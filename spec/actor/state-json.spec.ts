import { describe, expect, it } from "vitest";
import { checkStateSize, serializeState } from "../../lib/actor/state-json.js";

describe("serializeState", () => {
  it("round-trips plain JSON state exactly", () => {
    const state = { n: 1, list: [1, "two", null, { deep: true }], empty: {} };
    expect(JSON.parse(serializeState(state, { label: "A:a" }))).toEqual(state);
    expect(serializeState(undefined, { label: "A:a" })).toBe("null");
  });

  it.each([
    ["a Date", { at: new Date() }, /key "at" holds a Date/],
    ["a Map", { m: new Map() }, /key "m" holds a Map/],
    ["a Set", { s: new Set([1]) }, /key "s" holds a Set/],
    ["a class instance", { u: new URL("http://x") }, /key "u" holds an instance of URL/],
    ["a function", { f: () => 1 }, /key "f" holds a function/],
    ["a bigint", { b: 1n }, /key "b" holds a bigint/],
    ["NaN", { x: Number.NaN }, /key "x" holds the number NaN/],
  ])("refuses %s, naming the key", (_what, state, message) => {
    expect(() => serializeState(state, { label: "A:a" })).toThrow(message);
  });

  it("names the index of an array item it refuses", () => {
    expect(() => serializeState({ list: [1, new Map()] }, { label: "A:a" })).toThrow(/key "1" holds a Map/);
  });

  it("checks state nested deeper than its walk, and refuses a cycle with JSON's own error", () => {
    let deep: Record<string, unknown> = { at: new Set() };
    for (let i = 0; i < 150; i++) deep = { inner: deep };
    expect(() => serializeState(deep, { label: "A:a" })).toThrow(/key "at" holds a Set/);
    let fine: Record<string, unknown> = { n: 1 };
    for (let i = 0; i < 150; i++) fine = { inner: fine };
    expect(JSON.parse(serializeState(fine, { label: "A:a" }))).toEqual(fine);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => serializeState(cyclic, { label: "A:a" })).toThrow(TypeError);
  });

  it("skips the check for a state whose JSON is what is stored, and refuses it once the JSON differs", () => {
    const owner = { label: "A:a" };
    // Nothing would be written for it, so nothing can be lost yet.
    expect(serializeState({ m: new Map(), n: 1 }, owner, '{"m":{},"n":1}')).toBe('{"m":{},"n":1}');
    expect(() => serializeState({ m: new Map(), n: 2 }, owner, '{"m":{},"n":1}')).toThrow(/key "m" holds a Map/);
    expect(serializeState({ n: 2 }, owner, '{"n":1}')).toBe('{"n":2}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => serializeState(cyclic, owner, "{}")).toThrow(TypeError);
  });

  it("refuses a state over the backend's limit, naming both sizes", () => {
    expect(() => checkStateSize(JSON.stringify("é".repeat(100)), 150, "A:a")).toThrow(/the state is 202 bytes of JSON; one storage value holds at most 150/);
    expect(() => checkStateSize("x".repeat(50), 150, "A:a")).not.toThrow();
  });
});
