import { closeSilently, type Connection, type ConnectionHost, runDeferred } from "../connections/connection.js";
import { HibernatingConnections } from "../connections/hibernating.js";
import { InMemoryConnections } from "../connections/in-memory.js";
import type { ConnectionManager } from "../connections/manager.js";
import { ActorStoppedError, type GenpartyError, toRemoteError } from "../protocol/errors.js";
import type { Behaviour, RuntimeOptions } from "./behaviour.js";
import { afterBody, responseFor } from "./http-response.js";
import { logError, mailboxFull, selfCall, timedOut } from "./runtime-errors.js";
import { clock } from "./clock.js";
import { type AnyResult, checkResult, type Envelope, HANDLER } from "./envelope.js";
import { InvalidResultError, NameUnknownError } from "./errors.js";
import { Mailbox } from "./mailbox.js";
import { type Outcome, PendingCalls } from "./replies.js";
import { clearState, type Stop } from "./results.js";
import { type SendOrder, SenderOrder } from "./sender-order.js";
import { closeReason, isBenignTeardown, isUpgrade } from "./sockets.js";
import { checkStateSize, serializeState } from "./state-json.js";
import { explainFrozenWrite, freezeState } from "./frozen-state.js";
import { type AlarmApi, alarmApi, openStore, type Store, type Stored, watchDeleteAll } from "./storage.js";
import { SocketTurns } from "./socket-turns.js";
import { Timers } from "./timers.js";
import { Turn } from "./turn.js";
import { callKey, SocketCalls } from "./socket-calls.js";
import { isProtocolFrame } from "../protocol/frames.js";
import type { CastOrigin, From, Json, MailboxStats } from "./types.js";

export const DEFAULT_CALL_TIMEOUT_MS = 5_000;
export const DEFAULT_MAILBOX_LIMIT = 1_000;
/** Timers read per round of the alarm, and rounds per alarm before it yields to a re-armed alarm. */
const ALARM_BATCH = 100;
const ALARM_ROUNDS = 50;
/** After a start that failed in the alarm, its timers wait this long, doubling per failure in a row, up to the cap. */
const START_RETRY_BASE_MS = 1_000;
const START_RETRY_MAX_MS = 5 * 60_000;
/** The origin of casts over RPC and of the actor's own: one frozen object, not one per cast. */
export const RPC_ORIGIN: CastOrigin = Object.freeze({ type: "rpc" });

interface Queued {
  readonly envelope: Envelope;
  readonly done: () => void;
}


/**
 * The engine under `Actor`: one mailbox, one turn at a time, state and timers committed together
 * at the end of each turn, replies and socket sends released after the commit.
 */
export class ActorRuntime {
  readonly #ctx: DurableObjectState;
  readonly #behaviour: Behaviour;
  readonly #options: RuntimeOptions;
  readonly #mailbox = new Mailbox<Queued>();
  readonly #pending = new PendingCalls((timeoutMs) => timedOut(this.label, timeoutMs));
  readonly #order = new SenderOrder();
  readonly connections: ConnectionManager;
  readonly #host: ConnectionHost;
  readonly #timers: Timers;
  readonly #sockets: SocketTurns;
  readonly #socketCalls: SocketCalls;
  /** The platform alarm itself, for `genparty/testing` (user code may see a wrapped `ctx.storage`). */
  readonly platformAlarm: AlarmApi;
  #store: Store;
  #name: string | undefined;
  #label: string | undefined;
  #id: string | undefined;
  /** JSON of the state as last committed (or loaded); undefined before the actor has started. */
  #committed: string | undefined;
  #storedAtOpen: string | undefined;
  #started = false;
  #state: unknown;
  #turn: Turn | undefined;
  #draining = false;
  #inAlarm = false;
  /** Starts that failed in a row, for the backoff of the timers an alarm couldn't deliver. */
  #failedStarts = 0;
  /** The running alarm met a start that failed: it stops, and puts its timers off. */
  #startFailedInAlarm = false;
  #droppedCasts = 0;
  /** Storage was wiped (`deleteAll`): the next commit writes the state even if it didn't change. */
  #rewrite = false;
  /** Props for the next start's handleStart (routing and getServerByName pass them over RPC). */
  #startProps: unknown;
  /** A state object whose JSON its owner already made (and checked) in this turn; see `knownJson`. */
  #known: { readonly state: unknown; readonly json: string } | undefined;

  constructor(ctx: DurableObjectState, behaviour: Behaviour, options: RuntimeOptions) {
    this.#ctx = ctx;
    this.#behaviour = behaviour;
    this.#options = options;
    this.platformAlarm = alarmApi(ctx.storage);
    this.#store = openStore(ctx.storage, this.platformAlarm);
    // Nothing is stored any more: the next commit writes the state again, whatever it is (the last
    // committed JSON stays what a failed turn rolls back to).
    watchDeleteAll(ctx.storage, (deleting) => {
      this.#rewrite = true;
      return this.#store.wiped(deleting, this.#ctx.id.name ?? this.#name);
    });
    this.#host = {
      roomName: () => this.#ctx.id.name ?? this.#name ?? this.id,
      defer: (operation) => {
        if (!this.#turn) return false;
        this.#turn.addOutgoing(operation);
        return true;
      },
      closedByServer: (connection, code, reason) => {
        if (this.connections.isRetired(connection)) return;
        this.connections.retire(connection);
        // Never dropped for a full mailbox, as a client's close isn't: the actor must hear the connection is gone.
        this.#post({ kind: "closed", connection, code, reason, wasClean: true });
      },
    };
    this.connections = options.hibernate
      ? new HibernatingConnections(ctx, this.#host)
      : new InMemoryConnections(this.#host, {
          message: (connection, data) => this.socketMessage(connection, data),
          close: (connection, code, reason, wasClean, retired) => void this.#sockets.closed(connection, code, reason, wasClean, retired),
          error: (connection, error) => this.socketError(connection, error),
        });
    const enqueue = (envelope: Envelope) => this.#enqueue(envelope);
    const label = () => this.label;
    this.#timers = new Timers({ turn: () => this.#turn, enqueue, store: () => this.#store, label });
    this.#socketCalls = new SocketCalls({
      connections: this.connections,
      label,
      isFull: () => this.#isFull(),
      enqueue: (envelope) => this.#post(envelope),
      admit: (envelope) => this.#admit(envelope),
    });
    this.#sockets = new SocketTurns({
      connections: this.connections,
      host: this.#host,
      enqueue,
      label,
      isFull: () => this.#isFull(),
      state: () => this.#state,
      handleInfo: (info, state) => behaviour.handleInfo(info, state),
      getConnectionTags: (connection, context) => behaviour.getConnectionTags(connection, context),
      getSubprotocol: (offered, request) => behaviour.getSubprotocol(offered, request),
    });
  }

  /**
   * Loads name and state from storage, before any message: synchronously on SQLite; on KV it returns
   * the promise to run under blockConcurrencyWhile.
   */
  open(): Promise<void> | undefined {
    const stored = this.#store.open(this.#ctx.id.name);
    if (stored instanceof Promise) return stored.then((loaded) => this.#opened(loaded));
    this.#opened(stored);
    return undefined;
  }

  #opened(stored: Stored): void {
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
    if (this.#label !== undefined) return this.#label;
    const name = this.#ctx.id.name ?? this.#name;
    const label = `${this.#options.className}:${name ?? `#${this.#ctx.id.toString().slice(0, 12)}`}`;
    // Cached once the name is known (it never changes after that); before, an id-only label may still become a name.
    if (name !== undefined) this.#label = label;
    return label;
  }

  /** The object's id as a string, made once: every RPC call checks its chain against it. */
  get id(): string {
    return (this.#id ??= this.#ctx.id.toString());
  }

  get stats(): MailboxStats {
    return { queued: this.#mailbox.size, droppedCasts: this.#droppedCasts, pendingCalls: this.#pending.size };
  }

  /** The chain an outgoing call from the running turn carries: who would wait on its reply. */
  outgoingChain(): readonly string[] {
    return this.#turn ? [...this.#turn.chain, this.id] : [];
  }

  // ── entry points ────────────────────────────────────────────────────────────

  /** The outcome itself when the call was answered at once (an idle actor, a synchronous handler), else a promise of it. */
  call(msg: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS, chain: readonly string[] = [], order?: SendOrder): Outcome | Promise<Outcome> {
    checkTimeout(timeoutMs);
    // In order (the usual case) the call is accepted right here; only a held one needs a callback.
    if (this.#order.passes(order)) return this.#acceptCall(msg, timeoutMs, chain);
    return new Promise((resolve) => this.#order.arrive(order, () => resolve(this.#acceptCall(msg, timeoutMs, chain))));
  }

  cast(msg: unknown, origin: CastOrigin, order?: SendOrder): void {
    // As a call: in order, admitted right here, without a callback made for it.
    if (this.#order.passes(order)) return this.#admit({ kind: "cast", msg, origin });
    this.#order.arrive(order, () => this.#admit({ kind: "cast", msg, origin }));
  }

  /**
   * A cast the actor sends itself (an adapter's own bookkeeping): never dropped by a full mailbox,
   * as a process's message to itself isn't. The limit guards against callers, not against the actor.
   */
  castSelf(msg: unknown): void {
    this.#post({ kind: "cast", msg, origin: RPC_ORIGIN });
  }

  /** `this.sendSelf`: to handleInfo at the mailbox's tail, never dropped by a full mailbox, for the reason castSelf isn't. */
  sendSelf(msg: Json): void {
    this.#post({ kind: "self", msg });
  }

  request(request: Request, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Response | Promise<Response> {
    if (isUpgrade(request)) return this.#sockets.upgrade(request);
    if (this.#isFull()) {
      const error = mailboxFull(this.label, this.#options.mailboxLimit, "request");
      return afterBody(request, new Response(error.message, { status: 503, headers: { "retry-after": "1" } }));
    }
    const call = this.#pending.open("http", timeoutMs);
    this.#post({ kind: "request", request, from: call.from });
    const outcome = this.#pending.wait(call);
    // Answered in its own turn already (an idle actor, a synchronous handler): the Response goes back without a promise.
    if (!(outcome instanceof Promise)) return afterBody(request, responseFor(outcome, this.label, timeoutMs));
    return outcome.then((settled) => afterBody(request, responseFor(settled, this.label, timeoutMs)));
  }

  async alarm(): Promise<void> {
    this.#store.alarmFired();
    this.#inAlarm = true;
    this.#startFailedInAlarm = false;
    try {
      for (let round = 0; round < ALARM_ROUNDS; round++) {
        const due = await this.#store.due(clock.now(), ALARM_BATCH);
        if (due.length === 0) {
          // An alarm that finds nothing due may be one other code set before genparty ran here (see PLATFORM_ALARM_TIMER).
          if (round === 0 && (await this.#store.adoptAlarm(clock.now()))) continue;
          break;
        }
        await Promise.all(due.map((row) => this.#enqueue({ kind: "timeout", row })));
        if (this.#startFailedInAlarm) break;
      }
    } finally {
      this.#inAlarm = false;
      // The timers of an actor that can't start (a MachineVersionError waiting for the deploy that fixes
      // it, say) are put off, not rung again at once: that would spin the alarm for as long as it fails.
      const retry = this.#startFailedInAlarm ? clock.now() + Math.min(START_RETRY_BASE_MS * 2 ** (this.#failedStarts - 1), START_RETRY_MAX_MS) : undefined;
      this.#startFailedInAlarm = false;
      await this.#store.arm(retry);
    }
  }

  /** Starts the actor if it hasn't started, with `props` for its handleStart; rejects if starting fails. */
  start(props: unknown): Promise<void> {
    if (props !== undefined) this.#startProps = props;
    // Started: nothing to wait for, as in partyserver. Queued, the start would wait for the turn
    // running, and a hook that looks up its own room, or a room that looks it up in return, would
    // wait on itself for good.
    if (this.#started) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let error: unknown;
      void this.#enqueue({ kind: "start", failed: (e) => (error = e) }).then(() => (error === undefined ? resolve() : reject(error)));
    });
  }

  socketMessage(connection: Connection, data: string | ArrayBuffer): void {
    if (isProtocolFrame(data)) {
      // A socket replaced by a newer one with its id (or closed by the server) speaks for nobody: its calls would answer the new one.
      // (Other frames are checked when their turn comes, see #isRelevant.)
      return this.connections.isRetired(connection) ? undefined : this.#socketCalls.receive(connection, data);
    }
    this.#admit({ kind: "frame", connection, data });
  }

  /** Hibernation entry: `webSocketClose` of the Durable Object. */
  socketClose(socket: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    return this.#sockets.platformClosed(socket, code, reason, wasClean);
  }

  socketError(connection: Connection, error: unknown): void {
    if (isBenignTeardown(connection, error) || this.connections.isRetired(connection)) return;
    this.#admit({ kind: "socketError", connection, error });
  }

  // ── effects a handler asks for ──────────────────────────────────────────────

  reply(from: From, value: unknown): boolean {
    const outcome: Outcome = { ok: true, value };
    if (this.#turn) {
      // Released after this turn commits: a reply never reveals state that could still roll back.
      return this.#canAnswer(from) && this.#turn.addReply(from, outcome);
    }
    return this.#settle(from, outcome);
  }

  #canAnswer(from: From): boolean {
    return from.type === "socket" ? this.#socketCalls.canAnswer(from) : this.#pending.has(from);
  }

  /** Delivers a call's outcome to its caller, wherever it waits. False if it was answered already or gave up. */
  #settle(from: From, outcome: Outcome): boolean {
    if (from.type === "socket") return this.#socketCalls.answer(from, outcome);
    // DO RPC copies a reply only as it sends it, after the turns that run in this task (those
    // queued, those the sender order releases together): a reply sharing objects with the state
    // would show what they change, or a rollback undoes. So an object is copied here (a frozen
    // state can't change; a socket reply is encoded at once).
    if (from.type === "rpc" && outcome.ok && !this.#options.immutableState) {
      const value = copyOfReply(outcome.value);
      // A primitive is its own copy: the outcome goes as it is, not as a new object per call.
      return this.#pending.settle(from, value === outcome.value ? outcome : { ok: true, value });
    }
    return this.#pending.settle(from, outcome);
  }

  /**
   * Tells the commit that `state` serializes to `json`, checked as `serializeState` would: an
   * adapter that had to serialize the state anyway (MachineServer compares snapshots) saves the
   * commit doing it again. Only the very object passed is matched, and only until the next commit.
   */
  knownJson(state: object, json: string): void {
    this.#known = { state, json };
  }

  sendAfter(ms: number, msg: Json, key: string | undefined): string {
    return this.#timers.sendAfter(ms, msg, key);
  }

  cancelTimer(key: string): Promise<void> {
    return this.#timers.cancel(key);
  }

  timerDeadline(key: string): Promise<number | null> {
    return this.#timers.deadline(key);
  }

  // ── test support ────────────────────────────────────────────────────────────

  /** Drops everything held in memory and reloads it from storage, as a wake from hibernation does. */
  async hibernate(): Promise<void> {
    const held = this.#order.held;
    if (this.#draining || this.#mailbox.size > 0 || this.#pending.size > 0 || held > 0) {
      throw new Error(
        `${this.label} can't hibernate now: ${this.#mailbox.size} queued, ${this.#pending.size} calls awaiting replies${held > 0 ? `, ${held} waiting for an earlier message of their sender` : ""}${this.#draining ? ", a turn running" : ""}. The platform only hibernates idle objects.`,
      );
    }
    if (!this.connections.hibernate && this.connections.all().length > 0) {
      throw new Error(`${this.label} can't hibernate: it has in-memory WebSockets open (static options = { hibernate: false }), which keep an object awake.`);
    }
    // What a new instance wouldn't have: a wake hands handleStart no props (only a start does).
    this.#started = false;
    this.#startProps = undefined;
    this.#failedStarts = 0;
    this.#droppedCasts = 0;
    this.#known = undefined;
    this.#state = undefined;
    this.#committed = undefined;
    this.#name = undefined;
    this.#store = openStore(this.#ctx.storage, this.platformAlarm);
    this.connections.forget();
    this.#socketCalls.forget();
    this.#order.forget();
    await this.open();
  }

  // ── the mailbox loop ────────────────────────────────────────────────────────

  /** Queues a message nobody waits on; when the mailbox is full it is dropped and counted. */
  #admit(envelope: Envelope): void {
    if (this.#isFull()) {
      this.#droppedCasts++;
      return;
    }
    this.#post(envelope);
  }

  #acceptCall(msg: unknown, timeoutMs: number, chain: readonly string[]): Outcome | Promise<Outcome> {
    if (chain.includes(this.id)) return { ok: false, error: selfCall(this.label, this.id, chain) };
    if (this.#isFull()) return { ok: false, error: mailboxFull(this.label, this.#options.mailboxLimit, "call") };
    const call = this.#pending.open("rpc", timeoutMs);
    this.#post({ kind: "call", msg, from: call.from, chain });
    return this.#pending.wait(call);
  }

  /** Queues a message and resolves once it was processed. */
  #enqueue(envelope: Envelope, front = false): Promise<void> {
    return new Promise<void>((done) => this.#post(envelope, front, done));
  }

  /** Queues a message nobody waits on (calls answer through their `from`): no promise per message. */
  #post(envelope: Envelope, front = false, done: () => void = noop): void {
    // Not draining means the mailbox is empty: the message is next, so it runs without being queued.
    if (!this.#draining) return this.#drain(envelope, done);
    const queued = { envelope, done };
    if (front) this.#mailbox.pushFront(queued);
    else this.#mailbox.push(queued);
  }

  /**
   * Runs `envelope`, then the queued messages, one at a time. A turn whose handler and commit are
   * synchronous finishes right here, without a promise; the first one that has to wait continues
   * the loop when it settles.
   */
  #drain(envelope: Envelope, done: () => void): void {
    this.#draining = true;
    for (;;) {
      let waiting: Promise<void> | undefined;
      try {
        waiting = this.#process(envelope);
      } catch (error) {
        this.#processFailed(envelope, error);
      }
      if (waiting) {
        const current = envelope;
        const finished = done;
        void waiting
          .catch((error: unknown) => this.#processFailed(current, error))
          .finally(() => {
            finished();
            this.#drainNext();
          });
        return;
      }
      done();
      const next = this.#mailbox.shift();
      if (!next) break;
      ({ envelope, done } = next);
    }
    this.#draining = false;
  }

  #drainNext(): void {
    const next = this.#mailbox.shift();
    if (next) this.#drain(next.envelope, next.done);
    else this.#draining = false;
  }

  /** #process handles handler errors itself; this is the runtime failing (e.g. storage). */
  #processFailed(envelope: Envelope, error: unknown): void {
    logError(`${this.label}: a ${envelope.kind} message could not be processed`, error);
    this.#turn = undefined;
    this.#rollback();
    // A timeout stays due, and its alarm delivers it again; every other sender is answered.
    if (envelope.kind !== "timeout") this.#failedUnhandled(envelope, error);
  }

  /** Handles one message; returns a promise only when something in it has to wait. */
  #process(envelope: Envelope): Promise<void> | undefined {
    if (envelope.kind === "timeout") return this.#processTimeout(envelope);
    if (!this.#isRelevant(envelope)) return undefined;
    if (envelope.kind === "timers") return this.#store.commit({ timers: envelope.ops, arm: !this.#inAlarm });
    if (envelope.kind === "timerRead") return this.#store.timer(envelope.key).then((row) => envelope.answer(row?.due ?? null));
    if (!this.#started) return this.#startThenProcess(envelope);
    if (envelope.kind === "start") return undefined;
    return this.#runTurn(envelope);
  }

  async #processTimeout(envelope: Envelope & { kind: "timeout" }): Promise<void> {
    // The actor failed to start in this alarm: the rest of its timers wait for the next one.
    if (this.#startFailedInAlarm) return;
    // A timer read by the alarm may have been cancelled, re-armed or put off since (a stop earlier
    // in this alarm clears them all): a dead one doesn't start the actor.
    if (!(await this.#timers.isLive(envelope.row))) return;
    if (!this.#started) {
      if (!(await this.#startFor(envelope))) return;
      // handleStart (and its continues) may have cancelled the timer or set its key again.
      if (!(await this.#timers.isLive(envelope.row))) return;
    }
    await this.#runTurn(envelope);
  }

  async #startThenProcess(envelope: Envelope): Promise<void> {
    if ((await this.#startFor(envelope)) && envelope.kind !== "start") await this.#runTurn(envelope);
  }

  /**
   * Starts the actor for the message that woke it: init or the saved state, handleStart and its
   * continues. False when that message is not to be handled (the start failed, or stopped the
   * actor): it has been answered for already.
   */
  async #startFor(envelope: Envelope): Promise<boolean> {
    let next: unknown;
    try {
      next = await this.#start();
    } catch (thrown) {
      const error = this.#explain(thrown, "handleStart");
      logError(`${this.label}: starting (init / handleStart) threw; the actor stays unstarted and the next message tries again`, error);
      this.#failedStarts++;
      if (this.#inAlarm) this.#startFailedInAlarm = true;
      this.#turn = undefined;
      this.#rollback();
      this.#failedUnhandled(envelope, error);
      return false;
    }
    // handleStart's continue (`{:ok, s, {:continue, m}}`), and theirs, run before the message that woke the actor.
    while (next !== undefined && this.#started) {
      const then: { next?: unknown } = {};
      await this.#runTurn({ kind: "continue", msg: next, then });
      next = then.next;
    }
    // A continue that stopped the actor: the message that woke it goes unhandled, as a call deferred at a stop does.
    if (!this.#started) {
      this.#failedUnhandled(envelope, new ActorStoppedError(`${this.label} stopped in a continue of handleStart, before handling this ${envelope.kind}.`));
      return false;
    }
    return true;
  }

  #runTurn(envelope: Envelope): Promise<void> | undefined {
    const turn = new Turn(envelope.kind === "call" ? envelope.chain : undefined, envelope.kind === "timeout" ? envelope.row.key : undefined);
    this.#turn = turn;
    let dispatched: unknown;
    try {
      dispatched = this.#dispatch(envelope);
    } catch (error) {
      return this.#turnFailed(envelope, error);
    }
    if (dispatched instanceof Promise) {
      return dispatched.then(
        (result: unknown) => this.#endTurn(envelope, turn, result),
        (error: unknown) => this.#turnFailed(envelope, error),
      );
    }
    return this.#endTurn(envelope, turn, dispatched);
  }

  /** Commits what the handler returned; a turn that writes nothing skips the storage call and stays synchronous. */
  #endTurn(envelope: Envelope, turn: Turn, dispatched: unknown): Promise<void> | undefined {
    let settled: Exclude<AnyResult, { kind: "stop" }>;
    let committing: Promise<void> | undefined;
    try {
      const result = checkResult(dispatched, envelope, this);
      if (result.kind === "stop") return this.#stop(result, envelope, turn).catch((error: unknown) => this.#turnFailed(envelope, error));
      settled = result;
      committing = this.#commit(result.state === undefined ? this.#state : result.state, turn, envelope);
    } catch (error) {
      return this.#turnFailed(envelope, error);
    }
    if (committing) {
      return committing.then(
        () => this.#turnDone(envelope, turn, settled),
        (error: unknown) => this.#turnFailed(envelope, error),
      );
    }
    this.#turnDone(envelope, turn, settled);
    return undefined;
  }

  #turnDone(envelope: Envelope, turn: Turn, result: Exclude<AnyResult, { kind: "stop" }>): void {
    this.#turn = undefined;
    this.#release(turn);
    if (result.kind === "reply" && (envelope.kind === "call" || envelope.kind === "request")) {
      this.#settle(envelope.from, { ok: true, value: result.value });
    }
    if (result.continue === undefined) return;
    if (envelope.kind === "continue" && envelope.then) envelope.then.next = result.continue;
    else this.#post({ kind: "continue", msg: result.continue }, true);
  }

  #turnFailed(envelope: Envelope, error: unknown): Promise<void> | undefined {
    this.#turn = undefined;
    this.#rollback();
    return this.#failed(envelope, this.#explain(error, HANDLER[envelope.kind]));
  }

  /** A write to the frozen state, named as such (`immutableState`); any other error as it was. */
  #explain(error: unknown, handler: string): unknown {
    return this.#options.immutableState ? explainFrozenWrite(error, this.label, handler) : error;
  }

  #dispatch(envelope: Envelope): unknown {
    const b = this.#behaviour;
    const state = this.#state;
    switch (envelope.kind) {
      case "call":
        return b.handleCall(envelope.msg, envelope.from, state);
      case "request":
        return b.handleRequest(envelope.request, envelope.from, state);
      case "cast":
        return b.handleCast(envelope.msg, state, envelope.origin);
      case "timeout": {
        const { key, msg, attempts, due } = envelope.row;
        return b.handleInfo({ type: "timeout", key, msg: JSON.parse(msg) as Json, attempt: attempts, due }, state);
      }
      case "continue":
        return b.handleContinue(envelope.msg, state);
      case "self":
        return b.handleInfo({ type: "self", msg: envelope.msg }, state);
      case "connect":
        return this.#sockets.connect(envelope.upgrade);
      case "replaced":
        return this.#sockets.replace(envelope.id);
      case "frame":
        return b.handleInfo({ type: "message", connection: envelope.connection, data: envelope.data }, state);
      case "closed": {
        const { connection, code, reason, wasClean } = envelope;
        return b.handleInfo({ type: "close", connection, code, reason, wasClean }, state);
      }
      case "socketError":
        return b.handleInfo({ type: "error", connection: envelope.connection, error: envelope.error }, state);
      case "start":
      case "timers":
      case "timerRead":
        throw new Error(`unreachable: ${envelope.kind} has no handler turn`);
    }
  }

  /**
   * Loads the saved state (or runs init on the very first start), then handleStart: one turn,
   * committed together. Returns the continue handleStart asked for, if any.
   */
  async #start(): Promise<unknown> {
    const turn = new Turn();
    this.#turn = turn;
    const first = this.#storedAtOpen === undefined;
    let then: unknown;
    try {
      this.#committed = this.#storedAtOpen;
      this.#state = first ? await this.#behaviour.init() : JSON.parse(this.#storedAtOpen!);
      if (this.#options.immutableState) freezeState(this.#state);
      const result = await this.#behaviour.handleStart(this.#state, this.#startProps);
      const kind = (result as { kind?: unknown } | null)?.kind;
      if (kind !== "noreply") throw new InvalidResultError(`${this.label}: handleStart must return noreply(state?), got ${kind ?? typeof result}.`);
      const next = (result as { state?: unknown }).state;
      then = (result as { continue?: unknown }).continue;
      await this.#commit(next === undefined ? this.#state : next, turn, undefined, first);
    } finally {
      this.#turn = undefined;
    }
    this.#started = true;
    this.#failedStarts = 0;
    this.#release(turn);
    return then;
  }

  /** Saves what the turn changed; returns the storage write to wait for, or undefined when there is nothing to write. */
  #commit(state: unknown, turn: Turn, envelope: Envelope | undefined, force = false): Promise<void> | undefined {
    const known = this.#known;
    this.#known = undefined;
    let json: string;
    if (!force && this.#options.immutableState && state === this.#state && this.#committed !== undefined) {
      // The committed state itself, frozen: nothing in it can have changed, so it isn't encoded.
      json = this.#committed;
    } else {
      json = known !== undefined && known.state === state ? known.json : serializeState(state, this, force ? undefined : this.#committed);
      // Frozen before it is written: what is stored is what the next turn gets.
      if (this.#options.immutableState) freezeState(state);
    }
    const changed = force || this.#rewrite || json !== this.#committed;
    if (changed) checkStateSize(json, this.#store, this.label);
    const timers = envelope?.kind === "timeout" ? [{ op: "fired", key: envelope.row.key, seq: envelope.row.seq } as const, ...turn.takeTimers()] : turn.takeTimers();
    const written = changed || timers.length > 0 ? this.#store.commit({ state: changed ? json : undefined, timers, arm: !this.#inAlarm }) : undefined;
    if (written) return written.then(() => this.#saved(state, json));
    this.#saved(state, json);
    return undefined;
  }

  #saved(state: unknown, json: string): void {
    this.#rewrite = false;
    this.#state = state;
    this.#committed = json;
    this.#storedAtOpen = json;
  }

  #rollback(): void {
    // Frozen, the committed state can't have been changed by the failed turn.
    if (this.#options.immutableState && this.#committed !== undefined) return;
    // The last commit is the truth: in-place mutations of a failed turn are discarded with it.
    this.#state = this.#committed === undefined ? undefined : JSON.parse(this.#committed);
  }

  /** After a commit: socket operations in order, then replies. A failed send means a peer that left; its close event follows. */
  #release(turn: Turn): void {
    // An index loop: this runs once per message, before the code is optimized too.
    const outbox = turn.outbox;
    for (let i = 0; i < outbox.length; i++) {
      try {
        runDeferred(outbox[i]!);
      } catch {
        // The socket closed meanwhile.
      }
    }
    const replies = turn.replies;
    for (let i = 0; i < replies.length; i++) this.#settle(replies[i]![0], replies[i]![1]);
  }

  async #stop(result: Stop<unknown, unknown>, envelope: Envelope, turn: Turn): Promise<void> {
    const erase = result.state === clearState;
    const json = erase ? null : serializeState(result.state === undefined ? this.#state : result.state, this);
    // After a deleteAll(), the state kept is written even if the turn didn't change it: nothing is stored.
    const write = this.#rewrite || json !== this.#committed;
    if (json !== null && write) checkStateSize(json, this.#store, this.label);
    await this.#store.commit({ state: write ? json : undefined, timers: [{ op: "clear" }], arm: true });
    this.#rewrite = false;
    this.#turn = undefined;
    this.#release(turn);
    const stopped = new ActorStoppedError(`${this.label} stopped (${result.reason}) before replying to this call.`);
    if (envelope.kind === "call" || envelope.kind === "request") {
      this.#settle(envelope.from, result.value === undefined ? { ok: false, error: stopped } : { ok: true, value: result.value });
    }
    // Calls still queued are not lost: the restarted actor handles them. Deferred ones can't be answered any more.
    const queued = this.#queuedCallers();
    this.#pending.rejectAll(stopped, queued);
    this.#socketCalls.rejectPending(stopped, queued);
    const code = result.reason === "normal" || result.reason === "shutdown" ? 1000 : 1011;
    for (const connection of this.connections.all()) {
      this.connections.retire(connection);
      this.#socketCalls.stopped(connection, result.reason, queued);
      closeSilently(connection, code, closeReason(`${this.label} stopped: ${result.reason}`));
    }
    // The stop told the actor of none of these closes: queued ones (a client's heard while the turn
    // ran, the turn's own) would start the next actor only to tell it of connections it never had.
    for (const { done } of this.#mailbox.remove(({ envelope }) => envelope.kind === "closed")) done();
    this.#started = false;
    this.#state = undefined;
    this.#committed = undefined;
    this.#storedAtOpen = json ?? undefined;
  }

  async #failed(envelope: Envelope, error: unknown): Promise<void> {
    const what = envelope.kind === "timeout" ? `timeout "${envelope.row.key}"` : envelope.kind;
    logError(`${this.label}: ${HANDLER[envelope.kind]} threw on a ${what}; the turn was rolled back and the actor keeps serving.`, error);
    if (envelope.kind !== "timeout") return this.#failedUnhandled(envelope, error);
    await this.#store.commit({ timers: [this.#timers.afterFailure(envelope.row)], arm: !this.#inAlarm });
  }

  /** What a failed turn owes its sender: an error reply, or a closed socket for a failed connect. */
  #failedUnhandled(envelope: Envelope, error: unknown): void {
    if (envelope.kind === "start") return envelope.failed(toRemoteError(error));
    if (envelope.kind === "connect") return this.#sockets.refuse(envelope.upgrade);
    this.#settleFailed(envelope, toRemoteError(error));
  }

  /**
   * Answers a failed call. What a handler threw arrives as a `RemoteError` (a `CallTimeoutError` from a
   * nested call must not look like this call timing out); the runtime's own errors keep their class.
   */
  #settleFailed(envelope: Envelope, error: GenpartyError): void {
    if (envelope.kind !== "call" && envelope.kind !== "request") return;
    this.#settle(envelope.from, { ok: false, error });
  }

  #queuedCallers(): Set<string> {
    const keys = new Set<string>();
    for (const { envelope } of this.#mailbox) if (envelope.kind === "call" || envelope.kind === "request") keys.add(callKey(envelope.from));
    return keys;
  }

  /** A frame or error may come from a socket replaced meanwhile (a timer's liveness is checked in storage). */
  #isRelevant(envelope: Envelope): boolean {
    if (envelope.kind === "frame" || envelope.kind === "socketError") return !this.connections.isRetired(envelope.connection);
    return true;
  }

  #isFull(): boolean {
    return this.#mailbox.size >= this.#options.mailboxLimit;
  }
}

const noop = () => undefined;

/** A reply's own copy; what structured clone can't copy (a function, an RpcTarget) goes by reference, as DO RPC sends it. */
function copyOfReply(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}

function checkTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`A call timeout must be a positive number of ms, got ${ms}`);
  return ms;
}
