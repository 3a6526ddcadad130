import { Actor, type Call, type From, type Info, type Json, noreply, reply } from "../../lib/index.js";

/** Everything the actor keeps. Plain JSON: it is stored as JSON after every turn that changes it. */
export interface CounterState {
  n: number;
  kv: { [key: string]: Json };
  /** When the pending reset fires (epoch ms), so clients can show a countdown; null when none is pending. */
  resetAt: number | null;
}

/** Calls declare their reply type, so `counter.call({ type: "get" })` is a `Promise<number>`. */
export type CounterCall =
  | Call<{ type: "get" }, number>
  | Call<{ type: "incr"; by?: number }, number>
  | Call<{ type: "kv.get"; key: string }, Json>
  | Call<{ type: "kv.put"; key: string; value: Json }, Json>
  | Call<{ type: "resetIn"; ms: number }, number>
  | Call<{ type: "cancelReset" }, boolean>;

/** Casts have no reply: the sender doesn't wait for them to run. */
export type CounterCast = { type: "add"; by: number };

type TimerMsg = { type: "reset" };

/** One key, so asking for a reset again moves the deadline instead of adding a second timer. */
const RESET_TIMER = "reset";

/** Bounds on what HTTP clients may store: the page is public and the state is rewritten every turn. */
const MAX_KV_KEYS = 100;
const MAX_KEY_LENGTH = 128;
const MAX_VALUE_BYTES = 1_024;
const MAX_RESET_MS = 24 * 60 * 60 * 1_000;

/**
 * A counter with a small key/value store, written the way an Elixir GenServer would be: one
 * process (here one Durable Object) per name, its state passed into every handler and returned
 * from it, and the runtime saving that state at the end of each turn.
 *
 * | Elixir                                   | genparty                                          |
 * |------------------------------------------|---------------------------------------------------|
 * | `GenServer.call(pid, :get)`              | `counter.call({ type: "get" })`                   |
 * | `GenServer.cast(pid, {:add, 5})`         | `counter.cast({ type: "add", by: 5 })`            |
 * | `Process.send_after(self(), :reset, ms)` | `this.sendAfter(ms, { type: "reset" }, { key })`  |
 * | `handle_info(:reset, state)`             | `handleInfo({ type: "timeout", msg }, state)`     |
 *
 * It also answers HTTP (`handleRequest`), so a browser can use it with plain `fetch`; every
 * route is turned into one of the calls above, so HTTP and RPC callers see the same actor.
 *
 * @example
 * const counter = getActor(env.COUNTER_EXAMPLE, "demo");
 * await counter.call({ type: "incr" });                  // 1, typed number
 * await counter.cast({ type: "add", by: 5 });            // returns before it runs
 * await counter.call({ type: "kv.put", key: "colour", value: "teal" });
 * await counter.call({ type: "resetIn", ms: 10_000 });   // n is back to 0 in 10 s, even if evicted meanwhile
 */
export class Counter extends Actor<Cloudflare.Env, CounterState, CounterCall, CounterCast> {
  init(): CounterState {
    return { n: 0, kv: {}, resetAt: null };
  }

  override handleCall(msg: CounterCall, _from: From, state: CounterState) {
    switch (msg.type) {
      case "get":
        // No state given: the current one is kept.
        return reply(state.n);
      case "incr": {
        const n = countAfter(state.n, msg.by ?? 1);
        return reply(n, { ...state, n });
      }
      case "kv.get":
        return reply(lookup(state.kv, msg.key));
      case "kv.put":
        // Replies with the value it replaced (null if none), so a caller can tell insert from update.
        return reply(lookup(state.kv, msg.key), { ...state, kv: { ...state.kv, [msg.key]: msg.value } });
      case "resetIn": {
        // The timer is written in the same transaction as this turn's state: if the turn
        // failed, no timer would be left behind; once it commits, the reset survives eviction.
        this.sendAfter(msg.ms, { type: "reset" } satisfies TimerMsg, { key: RESET_TIMER });
        const resetAt = Date.now() + msg.ms;
        return reply(resetAt, { ...state, resetAt });
      }
      case "cancelReset":
        // A cancelled timer never fires, even if its alarm is already due.
        this.cancelTimer(RESET_TIMER);
        return reply(state.resetAt !== null, { ...state, resetAt: null });
      default:
        return unreachable(msg);
    }
  }

  override handleCast(msg: CounterCast, state: CounterState) {
    switch (msg.type) {
      case "add":
        // A cast has nobody to answer: a count that would lose precision fails the turn (logged), and n stays.
        return noreply({ ...state, n: countAfter(state.n, msg.by) });
      default:
        return unreachable(msg.type);
    }
  }

  override handleInfo(info: Info, state: CounterState) {
    if (info.type !== "timeout") return noreply();
    // Only this actor arms timers, so every timeout carries one of its own messages.
    const msg = info.msg as TimerMsg;
    switch (msg.type) {
      case "reset":
        return noreply({ ...state, n: 0, resetAt: null });
      default:
        return unreachable(msg.type);
    }
  }

  /**
   * The JSON API, relative to the actor (the worker strips its `/counter/:name` prefix).
   * Every answer is `{ reply, state }`: what the call replied and the state after it.
   *
   * | route                            | call                           |
   * |----------------------------------|--------------------------------|
   * | `GET /`                          | `get`                          |
   * | `POST /incr` `{"by": 2}`         | `incr` (no body: by 1)         |
   * | `GET /kv/:key`                   | `kv.get`                       |
   * | `PUT /kv/:key` (any JSON)        | `kv.put`                       |
   * | `POST /reset` `{"seconds": 5}`   | `resetIn`                      |
   * | `DELETE /reset`                  | `cancelReset`                  |
   */
  override async handleRequest(request: Request, from: From, state: CounterState) {
    const msg = await toCall(request);
    // Bad input is answered here, so handleCall can trust its messages (RPC callers are typed).
    if (msg instanceof Response) return reply(msg);
    if (msg.type === "incr" && !Number.isSafeInteger(state.n + (msg.by ?? 1))) {
      return reply(error(409, `The count would pass ${Number.MAX_SAFE_INTEGER} (or go below its negative), where it can't be exact.`));
    }
    if (msg.type === "kv.put" && !Object.hasOwn(state.kv, msg.key) && Object.keys(state.kv).length >= MAX_KV_KEYS) {
      return reply(error(409, `The store is full (${MAX_KV_KEYS} keys); overwrite an existing key instead.`));
    }
    const result = this.handleCall(msg, from, state);
    const next = result.state ?? state;
    return reply(Response.json({ reply: result.value, state: next }), next);
  }
}

/** Turns a request into a call message, or into the error response explaining why it can't. */
async function toCall(request: Request): Promise<CounterCall | Response> {
  const path = new URL(request.url).pathname;
  const route = `${request.method} ${path.replace(/\/+$/, "") || "/"}`;
  if (route === "GET /" || route === "HEAD /") return { type: "get" };
  if (route === "POST /incr") {
    const body = await readJson(request, {});
    const by = isObject(body) ? (body.by ?? 1) : undefined;
    if (!Number.isSafeInteger(by)) return error(400, 'POST /incr takes an optional JSON body {"by": <integer>}.');
    return { type: "incr", by: by as number };
  }
  if (route === "POST /reset") {
    const body = await readJson(request, undefined);
    const seconds = isObject(body) ? body.seconds : undefined;
    const ms = typeof seconds === "number" ? Math.round(seconds * 1_000) : NaN;
    if (!(ms >= 0 && ms <= MAX_RESET_MS)) return error(400, 'POST /reset takes a JSON body {"seconds": <number from 0 to 86400>}.');
    return { type: "resetIn", ms };
  }
  if (route === "DELETE /reset") return { type: "cancelReset" };
  const kv = path.match(/^\/kv\/([^/]+)$/);
  if (kv?.[1]) {
    const key = safeDecode(kv[1]);
    if (key === undefined || key.length > MAX_KEY_LENGTH) return error(400, `A key is 1 to ${MAX_KEY_LENGTH} characters, URL-encoded.`);
    if (request.method === "GET") return { type: "kv.get", key };
    if (request.method === "PUT") {
      const text = await request.text();
      const value = parseJson(text);
      if (value === undefined) return error(400, 'PUT /kv/:key takes any JSON value as its body, e.g. "teal" or {"x":1}.');
      if (new TextEncoder().encode(text).byteLength > MAX_VALUE_BYTES) return error(413, `A value is at most ${MAX_VALUE_BYTES} bytes of JSON.`);
      return { type: "kv.put", key, value };
    }
  }
  return error(404, `No route ${request.method} ${path}. Try GET /, POST /incr, POST /add, GET or PUT /kv/:key, POST or DELETE /reset.`);
}

/** The count after adding `by`, as long as a number holds it exactly. */
function countAfter(n: number, by: number): number {
  const next = n + by;
  if (!Number.isSafeInteger(next)) throw new RangeError(`The count would pass ${Number.MAX_SAFE_INTEGER} (or go below its negative), where it can't be exact.`);
  return next;
}

/** Own keys only: a key like "constructor" must not find Object.prototype's. */
function lookup(kv: CounterState["kv"], key: string): Json {
  return Object.hasOwn(kv, key) ? (kv[key] ?? null) : null;
}

/** The body as JSON; `empty` when there is none, undefined when it isn't JSON. */
async function readJson(request: Request, empty: Json | undefined): Promise<Json | undefined> {
  const text = await request.text();
  return text.trim() === "" ? empty : parseJson(text);
}

function parseJson(text: string): Json | undefined {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function isObject(value: Json | undefined): value is { [key: string]: Json | undefined } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function error(status: number, message: string): Response {
  return Response.json({ error: message }, { status });
}

function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
