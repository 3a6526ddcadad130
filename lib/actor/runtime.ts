import { ActorStoppedError, CallTimeoutError, GenpartyError, MailboxFullError, SelfCallError, toRemoteError } from "../protocol/errors.js";
import { clock } from "./clock.js";
import { InvalidResultError, NameUnknownError, TimerError } from "./errors.js";
import { Mailbox } from "./mailbox.js";
import { type Outcome, PendingCalls } from "./replies.js";
import { type SendOrder, SenderOrder } from "./sender-order.js";
import { type CallResult, type CastResult, clearState, type Stop } from "./results.js";
import { checkStateSize, serializeState } from "./state-json.js";
import { openStore, type Store, type TimerRow } from "./storage.js";
import { Turn } from "./turn.js";
import type { CastOrigin, From, Info, Json, MailboxStats } from "./types.js";

export const DEFAULT_CALL_TIMEOUT_MS = 5_000;
export const DEFAULT_MAILBOX_LIMIT = 1_000;
/** Deliveries of a throwing timeout before it is dropped with an error log. */
export const MAX_TIMER_ATTEMPTS = 5;
/** First retry delay of a throwing timeout; doubles per attempt. */
export const TIMER_RETRY_BASE_MS = 1_000;
/** Timers read per round of the alarm, and rounds per alarm before it yields to a re-armed alarm. */
const ALARM_BATCH = 100;
const ALARM_ROUNDS = 50;

type AnyResult = CallResult<unknown, unknown> | CastResult<unknown>;

/** The callbacks the runtime drives: the actor's handlers, untyped at this level. */
export interface Behaviour {
  init(): unknown;
  handleCall(msg: unknown, from: From, state: unknown): unknown;
  handleRequest(request: Request, from: From, state: unknown): unknown;
  handleCast(msg: unknown, state: unknown, origin: CastOrigin): unknown;
  handleInfo(info: Info, state: unknown): unknown;
  handleContinue(msg: unknown, state: unknown): unknown;
}

type Envelope =
  | { readonly kind: "call"; readonly msg: unknown; readonly from: From; readonly chain: readonly string[] }
  | { readonly kind: "request"; readonly request: Request; readonly from: From }
  | { readonly kind: "cast"; readonly msg: unknown; readonly origin: CastOrigin }
  | { readonly kind: "timeout"; readonly row: TimerRow }
  | { readonly kind: "continue"; readonly msg: unknown };

interface Queued {
  readonly envelope: Envelope;
  readonly done: () => void;
}

export interface RuntimeOptions {
  readonly className: string;
  readonly mailboxLimit: number;
}

/**
 * The engine under `Actor`: one mailbox, one turn at a time, state and timers committed together
 * at the end of each turn, replies released after the commit.
 */
export class ActorRuntime {
  readonly #ctx: DurableObjectState;
  readonly #behaviour: Behaviour;
  readonly #options: RuntimeOptions;
  readonly #mailbox = new Mailbox<Queued>();
  readonly #pending = new PendingCalls();
  readonly #order = new SenderOrder();
  #store: Store;
  #name: string | undefined;
  /** JSON of the state as last committed (or loaded); undefined before the actor has started. */
  #committed: string | undefined;
  #storedAtOpen: string | undefined;
  #started = false;
  #state: unknown;
  #turn: Turn | undefined;
  #draining = false;
  #inAlarm = false;
  #droppedCasts = 0;

  constructor(ctx: DurableObjectState, behaviour: Behaviour, options: RuntimeOptions) {
    this.#ctx = ctx;
    this.#behaviour = behaviour;
    this.#options = options;
    this.#store = openStore(ctx.storage);
  }

  /** Loads name and state from storage. Runs under blockConcurrencyWhile, before any message. */
  async open(): Promise<void> {
    const stored = await this.#store.open(this.#ctx.id.name);
    this.#name = stored.name;
    this.#storedAtOpen = stored.state;
  }

  get name(): string {
    const name = this.#ctx.id.name ?? this.#name;
    if (name === undefined) {
      throw new NameUnknownError(
        `${this.#options.className} (id ${this.#ctx.id.toString().slice(0, 12)}…) has no name: it was created with newUniqueId() or idFromString() and never reached by name. Reach it with namespace.getByName(name) or getActor(namespace, name) so the name is known and stored.`,
      );
    }
    return name;
  }

  /** `Counter:room-1`, used in every message the runtime writes. */
  get label(): string {
    const name = this.#ctx.id.name ?? this.#name ?? `#${this.#ctx.id.toString().slice(0, 12)}`;
    return `${this.#options.className}:${name}`;
  }

  get id(): string {
    return this.#ctx.id.toString();
  }

  get stats(): MailboxStats {
    return { queued: this.#mailbox.size, droppedCasts: this.#droppedCasts, pendingCalls: this.#pending.size };
  }

  /** The chain an outgoing call from the running turn carries: who would wait on its reply. */
  outgoingChain(): readonly string[] {
    return this.#turn ? [...this.#turn.chain, this.id] : [];
  }

  // ── entry points ────────────────────────────────────────────────────────────

  call(msg: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS, chain: readonly string[] = [], order?: SendOrder): Promise<Outcome> {
    checkTimeout(timeoutMs);
    return new Promise((resolve) => this.#order.arrive(order, () => resolve(this.#acceptCall(msg, timeoutMs, chain))));
  }

  cast(msg: unknown, origin: CastOrigin, order?: SendOrder): void {
    this.#order.arrive(order, () => {
      if (this.#isFull()) {
        this.#droppedCasts++;
        return;
      }
      void this.#enqueue({ kind: "cast", msg, origin });
    });
  }

  #acceptCall(msg: unknown, timeoutMs: number, chain: readonly string[]): Promise<Outcome> {
    if (chain.includes(this.id)) {
      const path = [...chain, this.id].map((id) => (id === this.id ? this.label : id.slice(0, 12))).join(" → ");
      return Promise.resolve({
        ok: false,
        error: new SelfCallError(
          `${this.label} was called from inside its own turn (${path}); the call would wait for the turn that is waiting for it. Use a cast, noreply(state, { continue }) or sendAfter(0, …) instead.`,
        ),
      });
    }
    if (this.#isFull()) return Promise.resolve({ ok: false, error: this.#mailboxFull("call") });
    const { from, outcome } = this.#pending.open("rpc", timeoutMs, () => this.#timedOut(timeoutMs));
    void this.#enqueue({ kind: "call", msg, from, chain });
    return outcome;
  }

  async request(request: Request, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<Response> {
    if (this.#isFull()) {
      const error = this.#mailboxFull("request");
      return new Response(error.message, { status: 503, headers: { "retry-after": "1" } });
    }
    const { from, outcome } = this.#pending.open("http", timeoutMs, () => this.#timedOut(timeoutMs));
    void this.#enqueue({ kind: "request", request, from });
    const result = await outcome;
    if (result.ok && result.value instanceof Response) return result.value;
    if (result.ok) {
      console.error(`${this.label}: a request was answered with ${typeof result.value}; handleRequest must reply with a Response.`);
      return new Response(`Internal error in ${this.label}`, { status: 500 });
    }
    if (result.error instanceof CallTimeoutError) return new Response(result.error.message, { status: 504 });
    if (result.error instanceof ActorStoppedError) return new Response(result.error.message, { status: 503 });
    // No stack or internal detail over HTTP: the full error was logged where it was thrown.
    return new Response(`Internal error in ${this.label}`, { status: 500 });
  }

  async alarm(): Promise<void> {
    this.#store.alarmFired();
    this.#inAlarm = true;
    try {
      for (let round = 0; round < ALARM_ROUNDS; round++) {
        const due = await this.#store.due(clock.now(), ALARM_BATCH);
        if (due.length === 0) break;
        await Promise.all(due.map((row) => this.#enqueue({ kind: "timeout", row })));
      }
    } finally {
      this.#inAlarm = false;
      await this.#store.arm();
    }
  }

  // ── effects a handler asks for ──────────────────────────────────────────────

  reply(from: From, value: unknown): boolean {
    const outcome: Outcome = { ok: true, value };
    if (this.#turn) {
      // Released after this turn commits: a reply never reveals state that could still roll back.
      if (!this.#pending.has(from)) return false;
      this.#turn.replies.push([from, outcome]);
      return true;
    }
    return this.#pending.settle(from, outcome);
  }

  sendAfter(ms: number, msg: Json, key: string | undefined): string {
    const turn = this.#requireTurn("sendAfter");
    if (!Number.isFinite(ms) || ms < 0) throw new TimerError(`${this.label}: sendAfter needs a finite delay ≥ 0 ms, got ${ms}.`);
    const timerKey = key ?? crypto.randomUUID();
    const json = JSON.stringify(msg);
    if (json === undefined) throw new TimerError(`${this.label}: sendAfter's message must be JSON (got ${typeof msg}).`);
    turn.timers.push({ op: "set", key: timerKey, due: clock.now() + ms, msg: json });
    return timerKey;
  }

  cancelTimer(key: string): void {
    this.#requireTurn("cancelTimer").timers.push({ op: "cancel", key });
  }

  // ── test support ────────────────────────────────────────────────────────────

  /** Drops everything held in memory and reloads it from storage, as a wake from hibernation does. */
  async hibernate(): Promise<void> {
    if (this.#draining || this.#mailbox.size > 0 || this.#pending.size > 0) {
      throw new Error(
        `${this.label} can't hibernate now: ${this.#mailbox.size} queued, ${this.#pending.size} calls awaiting replies${this.#draining ? ", a turn running" : ""}. The platform only hibernates idle objects.`,
      );
    }
    this.#started = false;
    this.#state = undefined;
    this.#committed = undefined;
    this.#name = undefined;
    this.#store = openStore(this.#ctx.storage);
    await this.open();
  }

  // ── the mailbox loop ────────────────────────────────────────────────────────

  #enqueue(envelope: Envelope, front = false): Promise<void> {
    return new Promise<void>((done) => {
      const queued = { envelope, done };
      if (front) this.#mailbox.pushFront(queued);
      else this.#mailbox.push(queued);
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      for (let next = this.#mailbox.shift(); next; next = this.#mailbox.shift()) {
        try {
          await this.#process(next.envelope);
        } catch (error) {
          // #process handles handler errors itself; this is the runtime failing (e.g. storage).
          console.error(`${this.label}: a ${next.envelope.kind} message could not be processed`, error);
          this.#rollback();
          this.#settleFailed(next.envelope, toRemoteError(error));
        } finally {
          next.done();
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #process(envelope: Envelope): Promise<void> {
    if (envelope.kind === "timeout" && !(await this.#isLive(envelope.row))) return;
    if (!this.#started) {
      try {
        await this.#start();
      } catch (error) {
        console.error(`${this.label}: init() threw; the actor stays unstarted and the next message tries again`, error);
        this.#rollback();
        this.#settleFailed(envelope, toRemoteError(error));
        return;
      }
    }
    const turn = new Turn(envelope.kind === "call" ? envelope.chain : []);
    this.#turn = turn;
    let result: AnyResult;
    try {
      result = checkResult(await this.#dispatch(envelope), envelope, this.label);
      if (result.kind === "stop") {
        await this.#stop(result, envelope, turn);
        return;
      }
      await this.#commit(result.state === undefined ? this.#state : result.state, turn, envelope);
    } catch (error) {
      this.#turn = undefined;
      this.#rollback();
      await this.#failed(envelope, error);
      return;
    } finally {
      this.#turn = undefined;
    }
    this.#release(turn);
    if (result.kind === "reply" && (envelope.kind === "call" || envelope.kind === "request")) {
      this.#pending.settle(envelope.from, { ok: true, value: result.value });
    }
    if (result.continue !== undefined) void this.#enqueue({ kind: "continue", msg: result.continue }, true);
  }

  #dispatch(envelope: Envelope): unknown {
    const b = this.#behaviour;
    switch (envelope.kind) {
      case "call":
        return b.handleCall(envelope.msg, envelope.from, this.#state);
      case "request":
        return b.handleRequest(envelope.request, envelope.from, this.#state);
      case "cast":
        return b.handleCast(envelope.msg, this.#state, envelope.origin);
      case "timeout": {
        const { key, msg, attempts } = envelope.row;
        return b.handleInfo({ type: "timeout", key, msg: JSON.parse(msg) as Json, attempt: attempts }, this.#state);
      }
      case "continue":
        return b.handleContinue(envelope.msg, this.#state);
    }
  }

  async #start(): Promise<void> {
    if (this.#storedAtOpen !== undefined) {
      this.#state = JSON.parse(this.#storedAtOpen);
      this.#committed = this.#storedAtOpen;
      this.#started = true;
      return;
    }
    const turn = new Turn([]);
    this.#turn = turn;
    try {
      const state = await this.#behaviour.init();
      await this.#commit(state, turn, undefined, true);
    } finally {
      this.#turn = undefined;
    }
    this.#started = true;
  }

  async #commit(state: unknown, turn: Turn, envelope: Envelope | undefined, force = false): Promise<void> {
    const json = serializeState(state, this.label);
    const changed = force || json !== this.#committed;
    if (changed) checkStateSize(json, this.#store.maxStateBytes, this.label);
    const timers = envelope?.kind === "timeout" ? [{ op: "fired", key: envelope.row.key, seq: envelope.row.seq } as const, ...turn.timers] : turn.timers;
    if (changed || timers.length > 0) {
      await this.#store.commit({ state: changed ? json : undefined, timers, arm: !this.#inAlarm });
    }
    this.#state = state;
    this.#committed = json;
    this.#storedAtOpen = json;
  }

  #rollback(): void {
    // The last commit is the truth: in-place mutations of a failed turn are discarded with it.
    this.#state = this.#committed === undefined ? undefined : JSON.parse(this.#committed);
  }

  #release(turn: Turn): void {
    for (const [from, outcome] of turn.replies) this.#pending.settle(from, outcome);
  }

  async #stop(result: Stop<unknown, unknown>, envelope: Envelope, turn: Turn): Promise<void> {
    const erase = result.state === clearState;
    const json = erase ? null : serializeState(result.state === undefined ? this.#state : result.state, this.label);
    if (json !== null && json !== this.#committed) checkStateSize(json, this.#store.maxStateBytes, this.label);
    await this.#store.commit({ state: json === this.#committed ? undefined : json, timers: [{ op: "clear" }], arm: true });
    this.#turn = undefined;
    this.#release(turn);
    const stopped = new ActorStoppedError(`${this.label} stopped (${result.reason}) before replying to this call.`);
    if (envelope.kind === "call" || envelope.kind === "request") {
      this.#pending.settle(envelope.from, result.value === undefined ? { ok: false, error: stopped } : { ok: true, value: result.value });
    }
    // Calls still queued are not lost: the restarted actor handles them. Deferred ones can't be answered any more.
    this.#pending.rejectAll(stopped, this.#queuedCallers());
    this.#started = false;
    this.#state = undefined;
    this.#committed = undefined;
    this.#storedAtOpen = json ?? undefined;
  }

  async #failed(envelope: Envelope, error: unknown): Promise<void> {
    const what = envelope.kind === "timeout" ? `timeout "${envelope.row.key}"` : envelope.kind;
    console.error(`${this.label}: a ${what} handler threw; the turn was rolled back and the actor keeps serving.`, error);
    if (envelope.kind !== "timeout") return this.#settleFailed(envelope, toRemoteError(error));
    const { key, seq, attempts } = envelope.row;
    if (attempts + 1 >= MAX_TIMER_ATTEMPTS) {
      console.error(`${this.label}: timeout "${key}" threw ${MAX_TIMER_ATTEMPTS} times and was dropped.`);
      await this.#store.commit({ timers: [{ op: "fired", key, seq }], arm: !this.#inAlarm });
      return;
    }
    const due = clock.now() + TIMER_RETRY_BASE_MS * 2 ** attempts;
    await this.#store.commit({ timers: [{ op: "retry", key, seq, due }], arm: !this.#inAlarm });
  }

  /**
   * Answers a failed call. What a handler threw arrives as a `RemoteError` (a `CallTimeoutError` from a
   * nested call must not look like this call timing out); the runtime's own errors keep their class.
   */
  #settleFailed(envelope: Envelope, error: GenpartyError): void {
    if (envelope.kind !== "call" && envelope.kind !== "request") return;
    this.#pending.settle(envelope.from, { ok: false, error });
  }

  #queuedCallers(): Set<string> {
    const ids = new Set<string>();
    for (const { envelope } of this.#mailbox) if (envelope.kind === "call" || envelope.kind === "request") ids.add(envelope.from.id);
    return ids;
  }

  /** A timer read by the alarm may have been cancelled, re-armed or put off by a retry since. */
  async #isLive(row: TimerRow): Promise<boolean> {
    const current = await this.#store.timer(row.key);
    return current !== undefined && current.seq === row.seq && current.due <= clock.now();
  }

  #isFull(): boolean {
    return this.#mailbox.size >= this.#options.mailboxLimit;
  }

  #mailboxFull(what: string): MailboxFullError {
    return new MailboxFullError(
      `${this.label}'s mailbox is full (${this.#options.mailboxLimit} messages queued); this ${what} was rejected. Slow down callers, make handlers faster, or raise static mailbox = { limit }.`,
    );
  }

  #timedOut(timeoutMs: number): CallTimeoutError {
    return new CallTimeoutError(
      `${this.label} did not reply within ${timeoutMs} ms. The handler was not cancelled and may still finish. Raise the timeout with { timeout }, or answer quickly and finish the work later. If the actor called itself through a stub, that call waits on its own turn: use this.getActor(...) to fail fast, or a cast.`,
    );
  }

  #requireTurn(api: string): Turn {
    if (!this.#turn) {
      throw new TimerError(`${this.label}: ${api} can only be used while a handler (or init) runs, so the change commits with that turn's state.`);
    }
    return this.#turn;
  }
}

function checkTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`A call timeout must be a positive number of ms, got ${ms}`);
  return ms;
}

const LEGAL: Record<Envelope["kind"], readonly string[]> = {
  call: ["reply", "noreply", "stop"],
  request: ["reply", "noreply", "stop"],
  cast: ["noreply", "stop"],
  timeout: ["noreply", "stop"],
  continue: ["noreply", "stop"],
};

const HANDLER: Record<Envelope["kind"], string> = {
  call: "handleCall",
  request: "handleRequest",
  cast: "handleCast",
  timeout: "handleInfo",
  continue: "handleContinue",
};

/** Types catch a wrong shape in TypeScript; this catches it from JavaScript or a cast. */
function checkResult(result: unknown, envelope: Envelope, label: string): AnyResult {
  const kind = typeof result === "object" && result !== null ? (result as { kind?: unknown }).kind : undefined;
  if (typeof kind === "string" && LEGAL[envelope.kind].includes(kind)) {
    if (envelope.kind === "request" && kind === "reply" && !((result as { value: unknown }).value instanceof Response)) {
      throw new InvalidResultError(`${label}: handleRequest must reply with a Response.`);
    }
    return result as AnyResult;
  }
  const legal = LEGAL[envelope.kind].map((k) => `${k}(…)`).join(", ");
  throw new InvalidResultError(`${label}: ${HANDLER[envelope.kind]} returned ${describe(result)}; it must return one of ${legal}.`);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (did you forget to return?)";
  const kind = typeof value === "object" && value !== null ? (value as { kind?: unknown }).kind : undefined;
  return typeof kind === "string" ? `${kind}(…)` : typeof value;
}
