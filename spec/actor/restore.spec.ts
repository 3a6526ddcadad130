/**
 * Model-based differential test: "restore ≡ continuous run".
 *
 * A seeded PRNG (mulberry32) makes a sequence of operations on the `Counter` fixture: RPC calls and
 * casts, HTTP, errors that must roll back (a throw, a cast that throws, a state JSON can't hold, a
 * handler that returns nothing), durable keyed timers (set, re-arm, cancel, deadline, a timer whose
 * handler reads its own deadline, one that casts a timer, one that throws and is retried) fired
 * with advanceClock, deferred replies over RPC and over genparty/client sockets (released once or
 * twice, given up on by the caller, released while the clients are away), continues and
 * handleStart's continue, stop (with and without clearState), client reconnects, and bursts of
 * messages sent together through one sender, in order or arriving shuffled through a raw stub. The
 * same sequence runs against a fresh actor with no restarts and with hibernate()/evict() inserted
 * at random between steps. Every reply, every deferred caller's outcome, `this.reply`'s return
 * values, timer deadlines, the platform alarm, mailbox stats and the state are checked against a
 * pure model of the Counter (DESIGN.md, guides/genserver.md, guides/client.md, guides/testing.md).
 *
 * On a mismatch the error names the seed, the backend, the schedule, the step and every step, so
 * `replay(namespace, party, steps, label)` reproduces it; `generate` and `withRestarts` rebuild them.
 *
 * Documented behaviour the model encodes (what makes "restore ≡ continuous" not hold naively):
 * - handleStart runs at every start, wakes included, with its continue (guides/genserver.md): after
 *   `continueOnStart`, every wake appends "start", "continue:k"… to the log, before the message that
 *   woke the actor, and so does the start after a stop.
 * - An RPC caller of a deferred reply is lost with an eviction (its call fails), but its `from`
 *   stays in state: `release` counts it, answers nobody, and `this.reply` returns false for it.
 * - hibernate() refuses while an RPC call awaits its deferred reply (a busy object never hibernates).
 * - A socket caller's deferred reply survives hibernation. After an eviction (or a reconnect after a
 *   wake) the client re-sends the pending call and the actor, having forgotten its id, runs it again:
 *   a second `from` joins `waiting` (guides/client.md, Reconnects); the client still gets one reply,
 *   and `this.reply` returns false for the duplicate. Released while the client is away, the answer
 *   is kept and the re-sent call gets it without running again.
 * - `this.reply` to a socket `from` returns true whenever this instance hasn't answered that call id
 *   itself: after a wake, also for a caller that stopped waiting (stopped, timed out).
 * - stop() saves the state as it is (its `waiting` included), clears every timer, fails the waiting
 *   callers with ActorStoppedError; the sockets close and the clients reconnect, which starts the
 *   actor unless a message queued behind the stop did.
 * - A cast resolves once the actor has it, not once it ran, and advanceClock's alarm and
 *   runInDurableObject don't queue behind it: steps that reach the object past the mailbox
 *   (advance, hibernate, evict, the alarm check) first make a call through the same ref.
 *
 * Bugs this test found, all fixed while it was written (each fix has its own spec now):
 * - 4dffadc: an RPC reply sharing objects with the state showed the in-place changes of the turns
 *   queued behind it, a rolled-back turn's included (burst [slowAdd, state, throw]).
 * - 6c95dc9: the same for turns the sender order releases together, on an empty mailbox (burst
 *   [state, get, state, castThrow] the sender order released together).
 * - 664fdbc: hibernate() went ahead while the sender order held messages that arrived ahead of a
 *   gap, and dropped them (a cast lost, a call never answered); the `gap` step checks it refuses.
 * No bug is excluded from the generator.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type CallAnswer, fromAnswer } from "../../lib/actor/answer.js";
import type { SendOrder } from "../../lib/actor/sender-order.js";
import { type ActorClient, connect } from "../../lib/client/index.js";
import { type ActorRef, getActor } from "../../lib/index.js";
import { advanceClock, evict, fetchWebSocket, hibernate, resetClock } from "../../lib/testing/index.js";
import type { Counter, CounterState } from "../fixtures/counter.js";
import { uniqueName } from "../helpers.js";

afterEach(() => resetClock());

// ── PRNG ─────────────────────────────────────────────────────────────────────

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: () => number, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

// ── operations ───────────────────────────────────────────────────────────────

/**
 * Timers are due at half-grid points (HALF + k·GRID after they are set) and the clock moves in whole
 * GRIDs, so the real milliseconds a run takes never decide whether (or in which order) a timer fires.
 */
const GRID = 1_000_000;
const HALF = 500_000;
const timerMs = (k: number) => HALF + k * GRID;

const TIMER_KEYS = ["a", "b", "c"] as const;
type Key = (typeof TIMER_KEYS)[number];
const READ_KEYS = ["a", "b", "c", "flaky", "rolled-back"] as const;
const CLIENTS = 2;

type TimerSpec = { key: Key; k: number; label: string };

/** Operations through the ActorRef: these may also be sent together, in a burst (FIFO per sender). */
type RefOp =
  | { t: "add"; by: number }
  | { t: "get" }
  | { t: "throw" }
  | { t: "state" }
  | { t: "castAdd"; by: number }
  | { t: "castLog"; entry: string }
  | { t: "castThrow" }
  | { t: "slowAdd"; by: number; tag: string }
  | { t: "big"; chars: number }
  | { t: "badState" }
  | { t: "noReturn" }
  | ({ t: "timer" } & TimerSpec)
  | { t: "timers"; list: TimerSpec[] }
  | ({ t: "castTimer" } & TimerSpec)
  | { t: "timerThenCast"; key: Key; k: number; inner: TimerSpec }
  | { t: "probe"; key: Key; k: number }
  | { t: "flaky"; k: number; failTimes: number }
  | { t: "cancel"; key: string }
  | { t: "deadline"; key: string }
  | { t: "continue"; steps: number }
  | { t: "continueOnStart"; steps: number }
  | { t: "rpcWait" }
  | { t: "release"; value: string; via: number }
  | { t: "releaseTwice"; value: string }
  | { t: "stop"; clear: boolean };

type Op =
  | RefOp
  /** Sent together through one sender; `arrival` (a permutation) sends them out of order through a raw stub, for the actor to put back in order. */
  | { t: "burst"; slow: boolean; ops: RefOp[]; arrival?: number[] }
  | { t: "stats" }
  | { t: "http" }
  | { t: "advance"; j: number }
  | { t: "sockWait"; c: number }
  | { t: "sockAdd"; c: number; by: number }
  | { t: "sockCast"; c: number; entry: string }
  | { t: "sockThrow"; c: number }
  | { t: "reconnect"; c: number }
  | { t: "alarm" }
  | { t: "rpcWaitShort" }
  | { t: "sockWaitShort"; c: number }
  | { t: "rpcSignal" }
  | { t: "evictRelease"; value: string }
  /** A cast that arrives ahead of its sender's earlier call and waits for it: hibernate() must refuse meanwhile. */
  | { t: "gap"; by: number };

type Step = Op | { t: "hibernate" } | { t: "evict" };

const WEIGHTS: ReadonlyArray<readonly [Op["t"], number]> = [
  ["add", 8],
  ["get", 3],
  ["throw", 5],
  ["state", 3],
  ["castAdd", 5],
  ["castLog", 4],
  ["castThrow", 3],
  ["slowAdd", 2],
  ["big", 1],
  ["badState", 2],
  ["noReturn", 1],
  ["stats", 2],
  ["http", 3],
  ["timer", 8],
  ["timers", 3],
  ["castTimer", 4],
  ["timerThenCast", 3],
  ["probe", 2],
  ["flaky", 2],
  ["cancel", 5],
  ["deadline", 5],
  ["advance", 9],
  ["continue", 3],
  ["continueOnStart", 1],
  ["rpcWait", 3],
  ["sockWait", 5],
  ["release", 4],
  ["releaseTwice", 3],
  ["sockAdd", 4],
  ["sockCast", 3],
  ["sockThrow", 2],
  ["reconnect", 2],
  ["burst", 6],
  ["stop", 1],
  ["alarm", 3],
  ["rpcWaitShort", 2],
  ["sockWaitShort", 2],
  ["rpcSignal", 1],
  ["evictRelease", 2],
  ["gap", 2],
];

const BURSTABLE: ReadonlyArray<Op["t"]> = [
  "add", "get", "throw", "state", "castAdd", "castLog", "castThrow", "slowAdd", "big", "badState",
  "timer", "castTimer", "probe", "cancel", "deadline", "continue", "rpcWait", "release", "releaseTwice", "stop",
];

function generate(seed: number, count: number): Op[] {
  const rng = mulberry32(seed);
  const timer = (i: number): TimerSpec => ({ key: pick(rng, TIMER_KEYS), k: int(rng, 0, 3), label: `L${i}` });
  const draw = (allowed: (t: Op["t"]) => boolean): Op["t"] => {
    const weights = WEIGHTS.filter(([t]) => allowed(t));
    let r = rng() * weights.reduce((sum, [, w]) => sum + w, 0);
    for (const [name, w] of weights) if ((r -= w) < 0) return name;
    return weights[0]![0];
  };
  const make = (t: Op["t"], i: number): Op => {
    const c = int(rng, 0, CLIENTS - 1);
    switch (t) {
      case "add":
      case "castAdd":
      case "gap":
        return { t, by: int(rng, 1, 9) };
      case "slowAdd":
        return { t, by: int(rng, 1, 9), tag: `t${i}` };
      case "big":
        return { t, chars: int(rng, 1, 2_000) };
      case "sockAdd":
        return { t, c, by: int(rng, 1, 9) };
      case "castLog":
        return { t, entry: `e${i}` };
      case "sockCast":
        return { t, c, entry: `s${i}` };
      case "timer":
      case "castTimer":
        return { t, ...timer(i) };
      case "timers":
        return { t, list: Array.from({ length: int(rng, 1, 3) }, (_, j) => timer(i * 10 + j)) };
      case "timerThenCast":
        return { t, key: pick(rng, TIMER_KEYS), k: int(rng, 0, 2), inner: timer(i) };
      case "probe":
        return { t, key: pick(rng, TIMER_KEYS), k: int(rng, 0, 2) };
      case "flaky":
        return { t, k: int(rng, 0, 1), failTimes: pick(rng, [0, 1, 2, 6]) };
      case "cancel":
      case "deadline":
        return { t, key: pick(rng, READ_KEYS) };
      case "advance":
        return { t, j: int(rng, 1, 3) };
      case "continue":
        return { t, steps: int(rng, 1, 3) };
      case "continueOnStart":
        return { t, steps: int(rng, 1, 2) };
      case "sockWait":
      case "sockWaitShort":
      case "sockThrow":
      case "reconnect":
        return { t, c };
      case "evictRelease":
      case "releaseTwice":
        return { t, value: `v${i}` };
      case "release":
        return { t, value: `v${i}`, via: int(rng, -1, CLIENTS - 1) };
      case "stop":
        return { t, clear: rng() < 0.5 };
      case "burst": {
        const ops: RefOp[] = [];
        for (let j = int(rng, 2, 5); j > 0; j--) {
          const sub = draw((s) => BURSTABLE.includes(s));
          const op = make(sub, i * 10 + j) as RefOp;
          // Answered by RPC inside a burst: the socket clients' frames are another sender's.
          ops.push(op.t === "release" ? { ...op, via: -1 } : op);
        }
        const slow = rng() < 0.5;
        if (rng() >= 0.4) return { t, slow, ops };
        const arrival = Array.from({ length: ops.length + (slow ? 1 : 0) }, (_, k) => k);
        for (let k = arrival.length - 1; k > 0; k--) {
          const r = int(rng, 0, k);
          [arrival[k], arrival[r]] = [arrival[r]!, arrival[k]!];
        }
        return { t, slow, ops, arrival };
      }
      default:
        return { t } as Op;
    }
  };
  return Array.from({ length: count }, (_, i) => make(draw(() => true), i));
}

/** Inserts hibernate/evict before ops at random (its own stream, so the ops stay the same). */
function withRestarts(ops: readonly Op[], seed: number, rate: number): Step[] {
  const rng = mulberry32(seed * 7_919 + 17);
  const steps: Step[] = [];
  ops.forEach((op, i) => {
    if (i > 0 && rng() < rate) steps.push({ t: rng() < 0.6 ? "hibernate" : "evict" });
    steps.push(op);
  });
  return steps;
}

// ── the model ────────────────────────────────────────────────────────────────

type TimerMsg = { kind: "tick"; label: string } | { kind: "cast"; inner: TimerSpec } | { kind: "flaky"; failTimes: number } | { kind: "probe" };
interface MTimer {
  key: string;
  /** Virtual: the sum of advances when it is due (the real start time of the run is added by the actor). */
  due: number;
  seq: number;
  msg: TimerMsg;
  attempts: number;
}

type Outcome = { ok: unknown } | { err: string } | { lost: true };
interface Waiter {
  n: number;
  type: "rpc" | "socket";
  client?: number;
  /** timedOut: the caller gave up (its from stays in state and is counted by release, which answers nobody). */
  status: "pending" | "released" | "stopped" | "lost" | "timedOut";
  value?: string;
  /**
   * What the running instance remembers of this socket call's id (SocketCalls): a re-send of a
   * pending one is not run again, an answered one gets the stored reply; a wake forgets both.
   */
  memory: "none" | "pending" | "answered";
}

/** A pure model of the Counter fixture. */
class Model {
  n = 0;
  log: string[] = [];
  waiting: Waiter[] = [];
  continueOnStart: number | undefined;
  timers = new Map<string, MTimer>();
  seq = 0;
  now = 0;
  started = false;
  /** A state is stored (false at first and after stop with clearState): a start loads it instead of running init. */
  stored = false;
  waiters: Waiter[] = [];

  start(): void {
    if (this.started) return;
    this.started = true;
    if (!this.stored) {
      this.n = 0;
      this.log = ["init"];
      this.waiting = [];
      this.continueOnStart = undefined;
      this.stored = true;
    }
    // handleStart, at every start: its continue chain runs before the message that woke the actor.
    if (this.continueOnStart !== undefined) {
      this.log.push("start");
      this.continueChain(this.continueOnStart);
    }
  }

  continueChain(steps: number): void {
    for (let left = steps; ; left--) {
      this.log.push(`continue:${left}`);
      if (!(left > 1)) break;
    }
  }

  set(key: string, ms: number, msg: TimerMsg): void {
    this.timers.set(key, { key, due: this.now + ms, seq: ++this.seq, msg, attempts: 0 });
  }

  earliest(): number | null {
    return this.timers.size === 0 ? null : Math.min(...[...this.timers.values()].map((t) => t.due));
  }

  deadline(key: string): number | null {
    return this.timers.get(key)?.due ?? null;
  }

  wait(type: "rpc" | "socket", client?: number): Waiter {
    const waiter: Waiter = { n: this.waiters.length, type, client, status: "pending", memory: type === "socket" ? "pending" : "none" };
    this.waiters.push(waiter);
    this.waiting.push(waiter);
    return waiter;
  }

  /**
   * `this.reply(from, value)` for each `from` in `waiting`, in order: what each returns (the second
   * reply to a caller in one turn is refused), and who gets the value.
   */
  release(value: string): { count: number; first: boolean[]; released: Waiter[] } {
    const count = this.waiting.length;
    const released: Waiter[] = [];
    const answered = new Set<Waiter>();
    const first = this.waiting.map((waiter) => {
      if (answered.has(waiter)) return false;
      // RPC: only a caller this instance still holds; socket: any call id it hasn't answered (unknown counts).
      const can = waiter.type === "rpc" ? waiter.status === "pending" : waiter.memory !== "answered";
      if (!can) return false;
      answered.add(waiter);
      if (waiter.type === "socket") waiter.memory = "answered";
      if (waiter.status === "pending") {
        waiter.status = "released";
        waiter.value = value;
        released.push(waiter);
      }
      return true;
    });
    this.waiting = [];
    return { count, first, released };
  }

  advance(ms: number): void {
    this.now += ms;
    const due = () => [...this.timers.values()].filter((t) => t.due <= this.now).sort((a, b) => a.due - b.due || a.seq - b.seq);
    let batch = due();
    if (batch.length > 0) this.start();
    for (let round = 0; round < 50 && batch.length > 0; round++) {
      const casts: TimerSpec[] = [];
      for (const row of batch) {
        const current = this.timers.get(row.key);
        if (current?.seq !== row.seq) continue;
        const msg = row.msg;
        if (msg.kind === "flaky" && row.attempts < msg.failTimes) {
          // Throws: rolled back and retried with backoff, dropped after the 5th failure.
          if (row.attempts + 1 >= 5) this.timers.delete(row.key);
          else {
            row.due = this.now + 1_000 * 2 ** row.attempts;
            row.attempts++;
          }
          continue;
        }
        this.timers.delete(row.key);
        if (msg.kind === "tick") this.log.push(`timeout:${row.key}:${msg.label}`);
        else if (msg.kind === "probe") this.log.push(`timeout:${row.key}:deadline null`);
        else if (msg.kind === "cast") {
          this.log.push(`timeout:${row.key}:cast`);
          casts.push(msg.inner);
        } else this.log.push(`timeout:${row.key}:flaky ok after ${row.attempts}`);
      }
      // The casts the timeouts sent themselves queue behind the rest of the batch.
      for (const cast of casts) this.set(cast.key, timerMs(cast.k), { kind: "tick", label: cast.label });
      batch = due();
    }
  }

  /** hibernate() or evict(): memory is gone, storage stays. */
  restart(): void {
    this.started = false;
    for (const waiter of this.waiters) waiter.memory = "none";
  }

  /** A client re-sent its pending calls (after a reconnect): those the instance forgot run again. */
  resent(client?: number): void {
    for (const waiter of this.waiters) {
      if (waiter.type !== "socket" || waiter.status !== "pending" || (client !== undefined && waiter.client !== client)) continue;
      if (waiter.memory === "none") {
        this.waiting.push(waiter);
        waiter.memory = "pending";
      }
    }
  }

  stop(clear: boolean): Waiter[] {
    this.timers.clear();
    const stopped = this.waiters.filter((w) => w.status === "pending");
    for (const waiter of stopped) waiter.status = "stopped";
    // The socket calls the instance knows are answered with ActorStoppedError (the others learn it from the "stopped" frame).
    for (const waiter of this.waiters) if (waiter.memory === "pending") waiter.memory = "answered";
    this.started = false;
    if (clear) this.stored = false;
    return stopped;
  }

  /** What the actor's `state` call answers, normalized as `normal()` does. */
  snapshot(clientIds: readonly string[]) {
    return {
      n: this.n,
      log: [...this.log],
      waiting: this.waiting.map((w) => (w.type === "socket" ? `socket:${clientIds[w.client!]}` : "rpc")).sort(),
      ...(this.continueOnStart === undefined ? {} : { continueOnStart: this.continueOnStart }),
    };
  }
}

const strip = (log: readonly string[]) => log.map((entry) => entry.replace(/@.*$/, ""));

function normal(state: CounterState) {
  return {
    n: state.n,
    log: strip(state.log),
    waiting: state.waiting.map((from) => (from.type === "socket" ? `socket:${from.connection}` : from.type)).sort(),
    ...(state.continueOnStart === undefined ? {} : { continueOnStart: state.continueOnStart }),
  };
}

// ── the harness ──────────────────────────────────────────────────────────────

type Namespace = () => DurableObjectNamespace<Counter>;
type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/** An op through the ref, planned against the model: what to send, and how to check its answer. */
interface Planned {
  send(): Promise<unknown>;
  check(settled: Settled): void;
  /** Deferred callers this op answered or failed, to check once it is done. */
  answered?: Waiter[];
}

const settle = (promise: Promise<unknown>): Promise<Settled> =>
  promise.then(
    (value) => ({ ok: true, value }) as const,
    (error: unknown) => ({ ok: false, error }) as const,
  );

/** toEqual, with both sides in full in the message (vitest abbreviates long arrays). */
function same(actual: unknown, expected: unknown, what: string): void {
  try {
    expect(actual).toEqual(expected);
  } catch {
    throw new Error(`${what}:\n  actual   ${JSON.stringify(actual)}\n  expected ${JSON.stringify(expected)}`);
  }
}

function replies(expected: unknown, normalize: (value: unknown) => unknown = (v) => v) {
  return (settled: Settled) => {
    if (!settled.ok) throw new Error(`expected the reply ${JSON.stringify(expected)}, got ${String(settled.error)}`);
    same(normalize(settled.value), expected, "reply");
  };
}

function fails(remoteName: string) {
  return (settled: Settled) => {
    expect(settled.ok, `expected a RemoteError ${remoteName}`).toBe(false);
    expect((settled as { error: unknown }).error).toMatchObject({ name: "RemoteError", remoteName });
  };
}

const noCheck = () => undefined;

/** What plan() sends through: the ActorRef, or a raw stub with a sender id and seq chosen by hand. */
type Sender = Pick<ActorRef<Counter>, "call" | "cast">;

interface RawActor {
  __genpartyCall(msg: unknown, timeout: number | undefined, chain: undefined, sender: string, seq: number, base: number): Promise<CallAnswer>;
  cast(msg: unknown, order: SendOrder): Promise<void>;
}

/** Message `seq` of `sender`, sent as ActorRef sends it (base 1: the actor has seen none of this sender's messages). */
function rawSender(ref: ActorRef<Counter>, sender: string, seq: number): Sender {
  const stub = () => ref.stub as unknown as RawActor;
  return {
    call: ((msg: unknown, options: { timeout?: number } = {}) => stub().__genpartyCall(msg, options.timeout, undefined, sender, seq, 1).then(fromAnswer)) as Sender["call"],
    cast: ((msg: unknown) => stub().cast(msg, { sender, seq, base: 1 })) as Sender["cast"],
  };
}

class Run {
  readonly model = new Model();
  readonly name: string;
  readonly counter: ActorRef<Counter>;
  readonly clients: ActorClient<Counter>[] = [];
  readonly clientIds: string[] = [];
  readonly opens: number[] = [];
  readonly outcomes = new Map<number, Outcome>();
  readonly startReal = Date.now();
  /** A stop was planned: the sockets close, and the clients reconnect. */
  stopped = false;

  constructor(
    readonly namespace: Namespace,
    readonly party: string,
  ) {
    this.name = uniqueName("model");
    this.counter = getActor(namespace(), this.name);
  }

  async open(): Promise<void> {
    for (let c = 0; c < CLIENTS; c++) {
      const id = `client${c}`;
      const client = connect<typeof Counter>({
        host: "spec",
        party: this.party,
        room: this.name,
        id,
        WebSocket: fetchWebSocket(exports.default),
        minReconnectionDelay: 10,
        maxReconnectionDelay: 50,
      });
      this.opens.push(0);
      client.on("open", () => this.opens[c]!++);
      this.clients.push(client);
      this.clientIds.push(id);
    }
    await vi.waitFor(() => expect(this.opens.every((n) => n >= 1)).toBe(true), { timeout: 5_000 });
    // The first connect started the actor: init.
    this.model.start();
  }

  track(waiter: Waiter, promise: Promise<unknown>): void {
    promise.then(
      (value) => this.outcomes.set(waiter.n, { ok: value }),
      (error: unknown) => this.outcomes.set(waiter.n, { err: (error as Error)?.name ?? String(error) }),
    );
  }

  async state(): Promise<ReturnType<typeof normal>> {
    return normal(await this.counter.call({ type: "state" }));
  }

  async expectState(): Promise<void> {
    same(await this.state(), this.model.snapshot(this.clientIds), "state");
  }

  /** A deadline in the actor's clock against the model's virtual one: the real time it was set at lies in between. */
  expectDeadline(actual: unknown, virtual: number | null, what: string): void {
    if (virtual === null || actual === null) {
      expect(actual, what).toBe(virtual);
      return;
    }
    const offset = (actual as number) - virtual;
    expect(offset, `${what}: deadline ${actual} vs virtual ${virtual}`).toBeGreaterThanOrEqual(this.startReal - 2);
    expect(offset, `${what}: deadline ${actual} vs virtual ${virtual}`).toBeLessThanOrEqual(Date.now() + 2);
  }

  async expectOutcomes(waiters: readonly Waiter[]): Promise<void> {
    if (waiters.length === 0) return;
    await vi.waitFor(
      () => {
        for (const waiter of waiters) {
          const outcome = this.outcomes.get(waiter.n);
          const expected: Outcome =
            waiter.status === "released"
              ? { ok: waiter.value }
              : waiter.status === "stopped"
                ? { err: "ActorStoppedError" }
                : waiter.status === "timedOut"
                  ? { err: "CallTimeoutError" }
                  : { lost: true };
          if ("lost" in expected) expect(outcome && "err" in outcome, `waiter ${waiter.n} (${waiter.type}) lost`).toBe(true);
          else expect(outcome, `waiter ${waiter.n} (${waiter.type})`).toEqual(expected);
        }
      },
      { timeout: 5_000, interval: 20 },
    );
  }

  /** Every client open again after its socket closed. */
  async reconnected(before: readonly number[], clients = this.clients.map((_, c) => c)): Promise<void> {
    await vi.waitFor(() => expect(clients.every((c) => this.opens[c]! > before[c]!)).toBe(true), { timeout: 5_000, interval: 10 });
  }

  /** The calls the clients re-sent after a reconnect have reached the actor. */
  async settleWaiting(): Promise<void> {
    await vi.waitFor(async () => expect((await this.state()).waiting).toHaveLength(this.model.waiting.length), { timeout: 5_000, interval: 20 });
  }

  /** Plans an op sent through the ref: the model moves on now, the answer is checked when it comes. */
  plan(op: RefOp, via?: Sender): Planned {
    const m = this.model;
    const counter = via ?? this.counter;
    m.start();
    switch (op.t) {
      case "add":
        m.n += op.by;
        return { send: () => counter.call({ type: "add", by: op.by }), check: replies(m.n) };
      case "get":
        return { send: () => counter.call({ type: "get" }), check: replies(m.n) };
      case "throw":
        return { send: () => counter.call({ type: "throw" }), check: fails("ValidationError") };
      case "badState":
        return { send: () => counter.call({ type: "badState" }), check: fails("StateNotSerializableError") };
      case "noReturn":
        return { send: () => counter.call({ type: "noReturn" }), check: fails("InvalidResultError") };
      case "state":
        return { send: () => counter.call({ type: "state" }), check: replies(m.snapshot(this.clientIds), (v) => normal(v as CounterState)) };
      case "castAdd":
        m.n += op.by;
        return { send: () => counter.cast({ type: "add", by: op.by }), check: replies(undefined) };
      case "castLog":
        m.log.push(`rpc:${op.entry}`);
        return { send: () => counter.cast({ type: "log", entry: op.entry }), check: replies(undefined) };
      case "castThrow":
        return { send: () => counter.cast({ type: "throw" }), check: replies(undefined) };
      case "slowAdd":
        m.log.push(`start:${op.tag}`, `end:${op.tag}`);
        m.n += op.by;
        return { send: () => counter.call({ type: "slowAdd", by: op.by, ms: 15, tag: op.tag }), check: replies(m.n) };
      case "big":
        m.n += 1;
        return { send: () => counter.call({ type: "big", chars: op.chars }), check: replies(`${m.n}:${"x".repeat(op.chars)}`) };
      case "timer":
        m.set(op.key, timerMs(op.k), { kind: "tick", label: op.label });
        return { send: () => counter.call({ type: "timer", ms: timerMs(op.k), key: op.key, label: op.label }), check: replies(op.key) };
      case "timers":
        for (const t of op.list) m.set(t.key, timerMs(t.k), { kind: "tick", label: t.label });
        return {
          send: () => counter.call({ type: "timers", timers: op.list.map((t) => ({ ms: timerMs(t.k), key: t.key, label: t.label })) }),
          check: replies(op.list.length),
        };
      case "castTimer":
        m.set(op.key, timerMs(op.k), { kind: "tick", label: op.label });
        return { send: () => counter.cast({ type: "timer", ms: timerMs(op.k), key: op.key, label: op.label }), check: replies(undefined) };
      case "timerThenCast": {
        m.set(op.key, timerMs(op.k), { kind: "cast", inner: op.inner });
        const cast = { type: "timer" as const, ms: timerMs(op.inner.k), key: op.inner.key, label: op.inner.label };
        return { send: () => counter.call({ type: "timerThenCast", ms: timerMs(op.k), key: op.key, cast }), check: replies(op.key) };
      }
      case "probe":
        m.set(op.key, timerMs(op.k), { kind: "probe" });
        return { send: () => counter.call({ type: "probeTimer", ms: timerMs(op.k), key: op.key }), check: replies(op.key) };
      case "flaky":
        m.set("flaky", timerMs(op.k), { kind: "flaky", failTimes: op.failTimes });
        return { send: () => counter.call({ type: "flakyTimer", ms: timerMs(op.k), failTimes: op.failTimes }), check: replies("flaky") };
      case "cancel":
        m.timers.delete(op.key);
        return { send: () => counter.call({ type: "cancel", key: op.key }), check: replies(null) };
      case "deadline": {
        const virtual = m.deadline(op.key);
        return {
          send: () => counter.call({ type: "deadline", key: op.key }),
          check: (settled) => {
            expect(settled.ok).toBe(true);
            this.expectDeadline((settled as { value: unknown }).value, virtual, `deadline of ${op.key}`);
          },
        };
      }
      case "continue": {
        const before = [...m.log];
        m.log.push("call");
        m.continueChain(op.steps);
        return { send: () => counter.call({ type: "continue", steps: op.steps }), check: replies(before, (v) => strip(v as string[])) };
      }
      case "continueOnStart":
        m.continueOnStart = op.steps;
        return { send: () => counter.call({ type: "continueOnStart", steps: op.steps }), check: replies(null) };
      case "rpcWait": {
        const waiter = m.wait("rpc");
        return {
          send: () => {
            const call = counter.call({ type: "wait" }, { timeout: 60_000 });
            this.track(waiter, call);
            return Promise.resolve();
          },
          check: noCheck,
        };
      }
      case "stop": {
        const stopped = m.stop(op.clear);
        this.stopped = true;
        return { send: () => counter.call({ type: "stop", clear: op.clear, value: "bye" }), check: replies("bye"), answered: stopped };
      }
      case "releaseTwice": {
        const { first, released } = m.release(op.value);
        return {
          send: () => counter.call({ type: "releaseTwice", values: [op.value, `${op.value}-again`] }),
          check: replies(first.map((f) => [f, false])),
          answered: released,
        };
      }
      case "release": {
        const { count, released } = m.release(op.value);
        const msg = { type: "release" as const, value: op.value };
        return {
          send: () => (op.via < 0 ? counter.call(msg) : this.clients[op.via]!.call(msg, { timeout: 10_000 })),
          check: replies(count),
          answered: released,
        };
      }
    }
  }

  async step(step: Step): Promise<void> {
    const m = this.model;
    const counter = this.counter;
    switch (step.t) {
      case "hibernate": {
        // Idle first: a KV commit or a continue chain may still be finishing (a started actor only: a call would start it).
        if (m.started) await counter.call({ type: "get" });
        if (m.waiters.some((w) => w.type === "rpc" && w.status === "pending")) {
          await expect(hibernate(counter)).rejects.toThrow(/can't hibernate now/);
          return;
        }
        await hibernate(counter);
        m.restart();
        return;
      }
      case "evict": {
        if (m.started) await counter.call({ type: "get" });
        const before = [...this.opens];
        await evict(counter);
        m.restart();
        const lost = m.waiters.filter((w) => w.type === "rpc" && w.status === "pending");
        for (const waiter of lost) waiter.status = "lost";
        await this.reconnected(before);
        // The reconnect started the actor; each client re-sent its pending calls, which run again.
        m.start();
        m.resent();
        await this.settleWaiting();
        await this.expectOutcomes(lost);
        return;
      }
      case "reconnect": {
        const before = [...this.opens];
        this.clients[step.c]!.socket.reconnect();
        await this.reconnected(before, [step.c]);
        // Re-sent: a call the instance knows is not run again; one it forgot (a wake since) runs again.
        m.start();
        m.resent(step.c);
        await this.settleWaiting();
        return;
      }
      case "burst": {
        const before = [...this.opens];
        const ops: RefOp[] = [...(step.slow ? [{ t: "slowAdd", by: 1, tag: "burst" } as const] : []), ...step.ops];
        const sender = `burst-${crypto.randomUUID()}`;
        const planned = ops.map((op, k) => this.plan(op, step.arrival ? rawSender(this.counter, sender, k + 1) : undefined));
        // All sent at once through one sender: the actor handles them in its order, whatever order they arrive in.
        const sent = new Array<Promise<Settled>>(planned.length);
        for (const k of step.arrival ?? planned.map((_, k) => k)) sent[k] = settle(planned[k]!.send());
        const settled = await Promise.all(sent);
        planned.forEach((p, i) => {
          try {
            p.check(settled[i]!);
          } catch (error) {
            throw new Error(`burst item ${i}: ${(error as Error).message}`);
          }
        });
        await this.afterStop(before);
        await this.expectOutcomes(planned.flatMap((p) => p.answered ?? []));
        return;
      }
      case "stats":
        m.start();
        // The stats call itself is pending too, with the RPC callers this instance holds.
        expect(await counter.call({ type: "stats" })).toEqual({
          queued: 0,
          droppedCasts: 0,
          pendingCalls: 1 + m.waiters.filter((w) => w.type === "rpc" && w.status === "pending").length,
        });
        return;
      case "http": {
        m.start();
        m.n += 1;
        const response = await counter.fetch("http://spec/add", { method: "POST" });
        expect(await response.json()).toEqual({ n: m.n });
        return;
      }
      case "advance":
        // A cast resolves once the actor has it, not once it ran, and the alarm reads the timers
        // table beside the mailbox: a call through the same ref waits for the casts before it.
        if (m.started) await counter.call({ type: "get" });
        m.advance(step.j * GRID);
        await advanceClock(step.j * GRID, counter);
        return;
      case "sockWait": {
        m.start();
        const waiter = m.wait("socket", step.c);
        this.track(waiter, this.clients[step.c]!.call({ type: "wait" }, { timeout: 60_000 }));
        await this.settleWaiting();
        return;
      }
      case "sockAdd":
        m.start();
        m.n += step.by;
        expect(await this.clients[step.c]!.call({ type: "add", by: step.by }, { timeout: 10_000 })).toBe(m.n);
        return;
      case "sockCast":
        m.start();
        m.log.push(`socket:${step.entry}`);
        this.clients[step.c]!.cast({ type: "log", entry: step.entry });
        // No reply to a cast, and it is another sender than the next op's: wait until it shows.
        await vi.waitFor(async () => expect((await this.state()).log).toEqual(m.log), { timeout: 3_000, interval: 20 });
        return;
      case "sockThrow":
        m.start();
        fails("ValidationError")(await settle(this.clients[step.c]!.call({ type: "throw" }, { timeout: 10_000 })));
        return;
      case "rpcWaitShort": {
        m.start();
        const waiter = m.wait("rpc");
        const error = await counter.call({ type: "wait" }, { timeout: 30 }).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: "CallTimeoutError" });
        waiter.status = "timedOut";
        this.outcomes.set(waiter.n, { err: "CallTimeoutError" });
        return;
      }
      case "sockWaitShort": {
        m.start();
        const waiter = m.wait("socket", step.c);
        const error = await this.clients[step.c]!.call({ type: "wait" }, { timeout: 40 }).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: "CallTimeoutError" });
        waiter.status = "timedOut";
        this.outcomes.set(waiter.n, { err: "CallTimeoutError" });
        // It may have reached the actor just before the client gave up, or not yet: wait until it did.
        await this.settleWaiting();
        return;
      }
      case "rpcSignal": {
        m.start();
        // The caller gives up after 30 ms; the handler hears it through from.signal and records it.
        m.log.push("signal:aborted: CallTimeoutError");
        const error = await counter.call({ type: "watchSignal", ms: 5_000 }, { timeout: 30 }).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: "CallTimeoutError" });
        return;
      }
      case "evictRelease": {
        // Released while the clients are away (their sockets went with the eviction): the answer is
        // kept, and a client that re-sends the call gets it instead of running it again. A client
        // back before the release re-sent its pending calls first, and they ran again: each client
        // adds its own waiting callers to the count, or not.
        if (m.started) await counter.call({ type: "get" });
        const before = [...this.opens];
        type Tunable = { _options: { minReconnectionDelay?: number; maxReconnectionDelay?: number } };
        const delays = (ms: number) => {
          for (const client of this.clients) Object.assign((client.socket as unknown as Tunable)._options, { minReconnectionDelay: ms, maxReconnectionDelay: ms });
        };
        delays(300);
        await evict(counter);
        m.restart();
        const lost = m.waiters.filter((w) => w.type === "rpc" && w.status === "pending");
        for (const waiter of lost) waiter.status = "lost";
        m.start();
        const resending = this.clients.map((_, c) => m.waiters.filter((w) => w.type === "socket" && w.client === c && w.status === "pending").length);
        const counts = resending.reduce((sums, n) => [...sums, ...sums.map((sum) => sum + n)], [m.waiting.length]);
        const { released } = m.release(step.value);
        const count = await counter.call({ type: "release", value: step.value });
        delays(10);
        expect(counts, `release answered ${count}`).toContain(count);
        await this.reconnected(before);
        // Whichever way it went, the clients' calls are answered and nothing is left waiting.
        await this.settleWaiting();
        await this.expectOutcomes([...lost, ...released]);
        return;
      }
      case "gap": {
        if (m.started) await counter.call({ type: "get" });
        const sender = `gap-${crypto.randomUUID()}`;
        // Message 2 of a new sender arrives first: it waits for message 1 (at most REORDER_WAIT_MS).
        await rawSender(counter, sender, 2).cast({ type: "add", by: step.by });
        await expect(hibernate(counter)).rejects.toThrow(/can't hibernate now: .*1 waiting for an earlier message of their sender/);
        m.start();
        // Message 1 runs first, then the cast it held back, before anything sent after.
        expect(await rawSender(counter, sender, 1).call({ type: "get" })).toBe(m.n);
        m.n += step.by;
        return;
      }
      case "alarm": {
        if (m.started) await counter.call({ type: "get" });
        const alarm = await runInDurableObject(counter.stub, (_instance, state) => state.storage.getAlarm());
        this.expectDeadline(alarm, m.earliest(), "platform alarm");
        return;
      }
      default: {
        const before = [...this.opens];
        const planned = this.plan(step);
        planned.check(await settle(planned.send()));
        await this.afterStop(before);
        // An RPC caller waiting on a deferred reply: a call through the same ref after it is handled after it.
        if (step.t === "rpcWait") expect(await counter.call({ type: "get" })).toBe(m.n);
        await this.expectOutcomes(planned.answered ?? []);
      }
    }
  }

  /** After a stop the sockets closed (1000): the clients reconnect, which starts the actor if nothing queued did. */
  async afterStop(before: readonly number[]): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.reconnected(before);
    this.model.start();
  }

  async finish(): Promise<void> {
    const m = this.model;
    await this.expectState();
    for (const key of READ_KEYS) this.expectDeadline(await this.counter.call({ type: "deadline", key }), m.deadline(key), `final deadline of ${key}`);
    const alarm = await runInDurableObject(this.counter.stub, (_instance, state) => state.storage.getAlarm());
    this.expectDeadline(alarm, m.earliest(), "platform alarm");
    await this.expectOutcomes(m.waiters.filter((w) => w.status !== "pending"));
    for (const waiter of m.waiters) if (waiter.status === "pending") expect(this.outcomes.get(waiter.n), `waiter ${waiter.n} still waiting`).toBeUndefined();
  }

  /** Leaves nothing behind: every deferred caller answered, the clients closed. */
  async cleanup(): Promise<void> {
    try {
      await this.counter.call({ type: "stop", clear: true });
    } catch {
      // ActorStoppedError: no value given.
    }
    for (const client of this.clients) client.close();
  }
}

/** A step that hangs fails with its index instead of running into the test timeout (and on into the next test's clock). */
const STEP_TIMEOUT_MS = 8_000;

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Runs `steps` against a fresh actor and checks it against the model; the error names the step and lists them all. */
async function replay(namespace: Namespace, party: string, steps: readonly Step[], label: string): Promise<void> {
  resetClock();
  const run = new Run(namespace, party);
  let index = -1;
  try {
    await run.open();
    for (index = 0; index < steps.length; index++) await withTimeout(run.step(steps[index]!), STEP_TIMEOUT_MS);
    index = steps.length;
    await run.finish();
  } catch (error) {
    const where = index < 0 ? "opening the clients" : index >= steps.length ? "the final checks" : `step ${index} ${JSON.stringify(steps[index])}`;
    const message = `${label}: mismatch at ${where}\n${(error as Error).message}\nsteps: ${JSON.stringify(steps)}`;
    console.error(message);
    throw new Error(message, { cause: error });
  } finally {
    await run.cleanup();
  }
}

// ── the specs ────────────────────────────────────────────────────────────────

const SEEDS = [1, 2, 3, 4, 5];
const OPS = 50;
const RESTART_RATE = 0.3;
const RUN_PLAIN = true;

const backendsWithParty = [
  ["SQLite storage", () => env.COUNTER, "counter"],
  ["KV storage", () => env.KV_COUNTER, "kv-counter"],
] as const;

describe.each(backendsWithParty)("restore ≡ continuous run on %s", (backend, namespace, party) => {
  for (const seed of SEEDS) {
    const ops = generate(seed, OPS);
    if (RUN_PLAIN) it(`seed ${seed}: no restarts`, () => replay(namespace, party, ops, `seed ${seed} on ${backend}, no restarts`));
    it(`seed ${seed}: hibernate/evict at random`, () => replay(namespace, party, withRestarts(ops, seed, RESTART_RATE), `seed ${seed} on ${backend}, with restarts`));
  }
});
