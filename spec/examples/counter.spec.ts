import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { CounterState } from "../../examples/counter/counter.js";
import { getActor, type Json } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock, runAlarm } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";

afterEach(() => resetClock());

type Answer = { reply: Json; state: CounterState };

/** A body sent as written, for bodies that aren't JSON; any other body is sent as JSON. */
class Raw {
  constructor(readonly text: string) {}
}

/**
 * Calls the counter's JSON API as its page does (examples/counter/page.ts `api`): JSON in and
 * out, relative to `/counter/:name`.
 */
async function api(name: string, method: string, path: string, body?: Json | Raw): Promise<{ status: number; answer: Answer & { error?: string; queued?: Json } }> {
  const response = await exports.default.fetch(`http://examples/counter/${encodeURIComponent(name)}${path}`, {
    method,
    headers: { accept: "application/json", "content-type": "application/json" },
    body: body === undefined ? undefined : body instanceof Raw ? body.text : JSON.stringify(body),
  });
  return { status: response.status, answer: await response.json() };
}

const counter = (name: string) => getActor(env.COUNTER_EXAMPLE, name);

describe("The counter page", () => {
  it("is served to browsers at the room's URL, which answers everyone else with JSON", async () => {
    const name = uniqueName("page");
    const page = await exports.default.fetch(`http://examples/counter/${name}`, { headers: { accept: "text/html" } });
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    // The base the page's script calls the API at.
    expect(await page.text()).toContain(`const base = "/counter/${name}";`);
    expect(await (await exports.default.fetch(`http://examples/counter/${name}`)).json()).toEqual({ reply: 0, state: { n: 0, kv: {}, resetAt: null } });
  });
});

describe("The counter's JSON API", () => {
  it("counts the page's +1 call and +5 cast, the GET after the cast seeing it", async () => {
    const name = uniqueName("count");
    expect(await api(name, "GET", "/")).toEqual({ status: 200, answer: { reply: 0, state: { n: 0, kv: {}, resetAt: null } } });
    expect(await api(name, "POST", "/incr", { by: 1 })).toMatchObject({ status: 200, answer: { reply: 1, state: { n: 1 } } });
    expect(await api(name, "POST", "/add", { by: 5 })).toEqual({ status: 202, answer: { queued: { type: "add", by: 5 } } });
    expect((await api(name, "GET", "/")).answer).toMatchObject({ reply: 6, state: { n: 6 } });
    // RPC callers reach the same actor.
    expect(await counter(name).call({ type: "incr", by: -2 })).toBe(4);
  });

  it("refuses a count past what a number holds exactly, by call (409) and by cast (dropped)", async () => {
    const name = uniqueName("huge");
    expect(await api(name, "POST", "/incr", { by: Number.MAX_SAFE_INTEGER })).toMatchObject({ status: 200, answer: { reply: Number.MAX_SAFE_INTEGER } });
    expect(await api(name, "POST", "/incr", { by: 1 })).toMatchObject({ status: 409, answer: { error: expect.stringMatching(/would pass 9007199254740991/) } });
    await api(name, "POST", "/add", { by: 1 });
    expect((await api(name, "GET", "/")).answer.reply).toBe(Number.MAX_SAFE_INTEGER);
    await expect(counter(name).call({ type: "incr", by: 1 })).rejects.toThrow(/would pass 9007199254740991/);
  });

  it("answers HEAD / as GET / without a body", async () => {
    const response = await exports.default.fetch(`http://examples/counter/${uniqueName("head")}`, { method: "HEAD", headers: { accept: "application/json" } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });

  it("increments by 1 when POST /incr has no body", async () => {
    const name = uniqueName("no-body");
    const response = await exports.default.fetch(`http://examples/counter/${name}/incr`, { method: "POST" });
    expect(await response.json()).toMatchObject({ reply: 1 });
  });

  it("stores any JSON per key, replying with the value it replaced", async () => {
    const name = uniqueName("kv");
    expect((await api(name, "PUT", "/kv/colour", "teal")).answer).toEqual({ reply: null, state: { n: 0, kv: { colour: "teal" }, resetAt: null } });
    expect((await api(name, "PUT", "/kv/colour", { x: [1, true, null] })).answer.reply).toBe("teal");
    expect((await api(name, "GET", "/kv/colour")).answer.reply).toEqual({ x: [1, true, null] });
    // Keys are URL-encoded path segments, as the page sends them (encodeURIComponent).
    await api(name, "PUT", `/kv/${encodeURIComponent("a b/ü")}`, 42);
    expect((await api(name, "GET", `/kv/${encodeURIComponent("a b/ü")}`)).answer.reply).toBe(42);
    expect((await api(name, "GET", "/kv/missing")).answer.reply).toBeNull();
    // The bounds are inclusive: a 128-character key, a value of exactly 1 KiB of JSON.
    expect((await api(name, "PUT", `/kv/${"k".repeat(128)}`, "x".repeat(1_022))).status).toBe(200);
    // Own keys only: "constructor" must not find Object.prototype's.
    expect((await api(name, "GET", "/kv/constructor")).answer.reply).toBeNull();
  });

  it("refuses a new key once the store holds 100, but still overwrites one", async () => {
    const name = uniqueName("full");
    // Filled over RPC, which the HTTP bound doesn't limit (RPC callers are trusted code).
    for (let i = 0; i < 100; i++) await counter(name).call({ type: "kv.put", key: `k${i}`, value: i });
    const refused = await api(name, "PUT", "/kv/one-more", 1);
    expect(refused).toMatchObject({ status: 409, answer: { error: expect.stringMatching(/The store is full \(100 keys\)/) } });
    expect(await api(name, "PUT", "/kv/k0", "new")).toMatchObject({ status: 200, answer: { reply: 0 } });
  });

  it.each([
    ["POST /incr with a fractional by", "POST", "/incr", { by: 1.5 }, 400, /POST \/incr takes an optional JSON body \{"by": <integer>\}/],
    ["POST /incr with a string by", "POST", "/incr", { by: "2" }, 400, /POST \/incr takes/],
    ["POST /incr with a body that isn't JSON", "POST", "/incr", new Raw("by=2"), 400, /POST \/incr takes/],
    ["POST /add without by", "POST", "/add", {}, 400, /POST \/counter\/:name\/add takes a JSON body \{"by": <integer>\}/],
    ["POST /add with a body that isn't JSON", "POST", "/add", new Raw("five"), 400, /POST \/counter\/:name\/add takes/],
    ["POST /reset without seconds", "POST", "/reset", {}, 400, /POST \/reset takes a JSON body \{"seconds": <number from 0 to 86400>\}/],
    ["POST /reset with negative seconds", "POST", "/reset", { seconds: -1 }, 400, /POST \/reset takes/],
    ["POST /reset over a day", "POST", "/reset", { seconds: 86_401 }, 400, /POST \/reset takes/],
    ["PUT /kv/:key with a body that isn't JSON", "PUT", "/kv/k", new Raw("teal"), 400, /PUT \/kv\/:key takes any JSON value/],
    ["PUT /kv/:key with a value over 1 KiB", "PUT", "/kv/k", "x".repeat(1_024), 413, /A value is at most 1024 bytes of JSON/],
    ["a key over 128 characters", "GET", `/kv/${"k".repeat(129)}`, undefined, 400, /A key is 1 to 128 characters/],
    ["a key that isn't valid URL encoding", "GET", "/kv/%E0%A4%A", undefined, 400, /A key is 1 to 128 characters, URL-encoded/],
    ["an unknown route", "POST", "/double", undefined, 404, /No route POST \/double\. Try GET \/, POST \/incr, POST \/add, GET or PUT \/kv\/:key, POST or DELETE \/reset\./],
    ["a known path with another method", "DELETE", "/kv/k", undefined, 404, /No route DELETE \/kv\/k/],
  ] as const)("answers %s with a JSON error and changes nothing", async (_case, method, path, body, status, message) => {
    const name = uniqueName("bad");
    const { status: got, answer } = await api(name, method, path, body);
    expect(got).toBe(status);
    expect(answer.error).toMatch(message);
    expect(await counter(name).call({ type: "get" })).toBe(0);
    expect(await counter(name).call({ type: "kv.get", key: "k" })).toBeNull();
  });

  it("keeps the count and the store across a hibernation and an eviction", async () => {
    const name = uniqueName("durable");
    await api(name, "POST", "/incr", { by: 7 });
    await api(name, "PUT", "/kv/colour", "teal");
    // Stored as JSON and read back: a key like this must stay a plain key, not become a prototype.
    await api(name, "PUT", "/kv/__proto__", { polluted: true });
    const kv = JSON.parse('{"colour":"teal","__proto__":{"polluted":true}}') as CounterState["kv"];
    await hibernate(counter(name));
    expect((await api(name, "GET", "/")).answer.state).toEqual({ n: 7, kv, resetAt: null });
    const ref = counter(name);
    await evict(ref);
    await api(name, "POST", "/incr", {});
    expect((await api(name, "GET", "/")).answer.state).toEqual({ n: 8, kv, resetAt: null });
    expect((await api(name, "GET", "/kv/__proto__")).answer.reply).toEqual({ polluted: true });
    expect((await api(name, "GET", "/kv/polluted")).answer.reply).toBeNull();
  });
});

describe("The counter's reset timer", () => {
  it("resets the count to 0 when it fires after an eviction, and clears resetAt", async () => {
    const name = uniqueName("reset");
    await api(name, "POST", "/incr", { by: 3 });
    const before = Date.now();
    const { answer } = await api(name, "POST", "/reset", { seconds: 5 });
    expect(answer.reply).toBeGreaterThanOrEqual(before + 5_000);
    expect(answer.state.resetAt).toBe(answer.reply);
    const ref = counter(name);
    await evict(ref);
    await advanceClock(4_000, ref);
    expect((await api(name, "GET", "/")).answer.state).toMatchObject({ n: 3 });
    await advanceClock(1_000, ref);
    expect((await api(name, "GET", "/")).answer.state).toEqual({ n: 0, kv: {}, resetAt: null });
  });

  it("moves the deadline when asked again, instead of adding a second reset", async () => {
    const name = uniqueName("again");
    await api(name, "POST", "/incr", {});
    await api(name, "POST", "/reset", { seconds: 5 });
    await api(name, "POST", "/reset", { seconds: 10 });
    const ref = counter(name);
    await advanceClock(6_000, ref);
    expect(await ref.call({ type: "get" })).toBe(1);
    await advanceClock(4_000, ref);
    expect(await ref.call({ type: "get" })).toBe(0);
  });

  it("never fires once cancelled, and DELETE /reset says whether one was pending", async () => {
    const name = uniqueName("cancel");
    await api(name, "POST", "/incr", {});
    await api(name, "POST", "/reset", { seconds: 5 });
    expect((await api(name, "DELETE", "/reset")).answer).toMatchObject({ reply: true, state: { resetAt: null } });
    expect((await api(name, "DELETE", "/reset")).answer.reply).toBe(false);
    const ref = counter(name);
    await evict(ref);
    await advanceClock(5_000, ref);
    expect(await runAlarm(ref)).toBe(false);
    expect(await ref.call({ type: "get" })).toBe(1);
  });
});
