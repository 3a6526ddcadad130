import { describe, expect, it } from "vitest";
import { checkStateSize, serializeState } from "../../lib/actor/state-json.js";
import { SocketFrom } from "../fixtures/socket-from.js";

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

  it("saves a call's from kept for a later reply as its fields, also nested deeper than its walk", () => {
    const fields = { type: "socket", id: "call-7", connection: "c" };
    expect(serializeState({ waiting: [new SocketFrom("call-7", "c")] }, { label: "A:a" })).toBe(JSON.stringify({ waiting: [fields] }));
    let deep: Record<string, unknown> = { from: new SocketFrom("call-7", "c") };
    for (let i = 0; i < 150; i++) deep = { inner: deep };
    expect(serializeState(deep, { label: "A:a" })).toContain(JSON.stringify({ from: fields }));
  });

  it("encodes a state deeper than its walk once: the check's encoding is what is saved", () => {
    let encoded = 0;
    const leaf = { n: 1 };
    // Not enumerable: the walk doesn't see it, JSON.stringify calls it whenever it encodes the leaf.
    Object.defineProperty(leaf, "toJSON", { value: () => (encoded++, { n: 1 }) });
    let deep: Record<string, unknown> = { leaf };
    for (let i = 0; i < 150; i++) deep = { inner: deep };
    const json = serializeState(deep, { label: "A:a" });
    expect(encoded).toBe(1);
    expect(json).toBe(JSON.stringify(deep));
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
    // Nothing would be written for it, and any change to the Date would show in the JSON.
    expect(serializeState({ at: new Date(5), n: 1 }, owner, '{"at":"1970-01-01T00:00:00.005Z","n":1}')).toBe('{"at":"1970-01-01T00:00:00.005Z","n":1}');
    expect(() => serializeState({ at: new Date(6), n: 1 }, owner, '{"at":"1970-01-01T00:00:00.005Z","n":1}')).toThrow(/key "at" holds a Date/);
    expect(serializeState({ n: 2 }, owner, '{"n":1}')).toBe('{"n":2}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => serializeState(cyclic, owner, "{}")).toThrow(TypeError);
  });

  it("checks a state whose JSON is what is stored when an empty object in it may be a Map or a Set", () => {
    const owner = { label: "A:a" };
    // A Map is `{}` whatever it holds: accepted once, everything later put in it would be lost unseen.
    expect(() => serializeState({ visitors: new Map([["alice", 1]]) }, owner, '{"visitors":{}}')).toThrow(/key "visitors" holds a Map/);
    expect(() => serializeState({ seen: new Set() }, owner, '{"seen":{}}')).toThrow(/key "seen" holds a Set/);
    expect(serializeState({ visitors: {} }, owner, '{"visitors":{}}')).toBe('{"visitors":{}}');
  });

  it("refuses undefined in an array, which JSON turns into null, and leaves undefined keys alone", () => {
    const owner = { label: "A:a" };
    expect(() => serializeState({ list: [1, undefined] }, owner)).toThrow(/key "1" holds undefined in an array .*use null/);
    // eslint-disable-next-line no-sparse-arrays
    expect(() => serializeState({ list: [1, , 3] }, owner)).toThrow(/key "1" holds undefined in an array/);
    let deep: Record<string, unknown> = { list: [undefined] };
    for (let i = 0; i < 150; i++) deep = { inner: deep };
    expect(() => serializeState(deep, owner)).toThrow(/key "0" holds undefined in an array/);
    // A key that is undefined is dropped, and reads back as undefined all the same.
    expect(serializeState({ a: undefined, n: 1 }, owner)).toBe('{"n":1}');
  });

  it("refuses a state over the backend's limit, naming both sizes", () => {
    const utf8 = { maxStateBytes: 150, stateBytes: (json: string) => new TextEncoder().encode(json).byteLength };
    expect(() => checkStateSize(JSON.stringify("é".repeat(100)), utf8, "A:a")).toThrow(/the state takes 202 bytes in storage; one storage value holds at most 150/);
    expect(() => checkStateSize("x".repeat(50), utf8, "A:a")).not.toThrow();
  });
});
