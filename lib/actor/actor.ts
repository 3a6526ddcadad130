import { DurableObject } from "cloudflare:workers";
import { toWire, type WireError } from "../protocol/errors.js";
import { encodeFrame } from "../protocol/frames.js";
import type { Behaviour } from "./behaviour.js";
import { clock } from "./clock.js";
import { NotImplementedError } from "./errors.js";
import { ActorRef, type ActorRefOptions, type AnyActor } from "./ref.js";
import { type CallResult, type CastResult, type MaybePromise, type NoReply, noreply, reply } from "./results.js";
import { type CallAnswer, failedAnswer, toAnswer } from "./answer.js";
import { ActorRuntime, DEFAULT_MAILBOX_LIMIT, RPC_ORIGIN } from "./runtime.js";
import type { SendOrder } from "./sender-order.js";
import { type Connection, ownCopy, sendOwned, type WSMessage } from "../connections/connection.js";
import type { ActorOptions, CallOptions, CastOrigin, From, Info, Json, MailboxOptions, MailboxStats, ReplyOf } from "./types.js";

/** Phantom key carrying an actor's message and state types to `ActorRef` and the client. */
export declare const actorTypes: unique symbol;

/** Reply envelope of the internal RPC method: errors as data, since DO RPC drops error classes. */
export type CallEnvelope = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: WireError };

/** Options of `stub.call`, beyond the timeout: a chain for deadlock detection and a send order, which `ActorRef` passes to `__genpartyCall` instead. */
export interface RpcCallOptions extends CallOptions {
  chain?: readonly string[];
  order?: SendOrder;
}

/** The default `exclude` of broadcast: one shared empty list, not a new one per call. */
const NO_IDS: readonly string[] = [];

const runtimes = new WeakMap<object, ActorRuntime>();

/** The runtime behind an actor instance; for `genparty/testing` and adapters in this package. */
export function runtimeOf(actor: object): ActorRuntime {
  const runtime = runtimes.get(actor);
  if (!runtime) throw new TypeError("Not a genparty Actor instance.");
  return runtime;
}

/**
 * A GenServer on a Durable Object. Messages (RPC calls and casts, HTTP requests, timers) are
 * handled one turn at a time, even when a handler awaits; the state each turn returns is saved
 * before its reply leaves, together with its timer changes.
 *
 * @example
 * type CounterCall = Call<{ type: "get" }, number>;
 * type CounterCast = { type: "add"; by: number };
 *
 * export class Counter extends Actor<Env, { n: number }, CounterCall, CounterCast> {
 *   init() {
 *     return { n: 0 };
 *   }
 *   handleCall(msg: CounterCall, from: From, state: { n: number }) {
 *     return reply(state.n);
 *   }
 *   handleCast(msg: CounterCast, state: { n: number }) {
 *     return noreply({ n: state.n + msg.by });
 *   }
 * }
 *
 * // in a worker
 * const counter = getActor(env.COUNTER, "room-1");
 * await counter.cast({ type: "add", by: 2 });
 * const n = await counter.call({ type: "get" }); // 2, typed number
 *
 * Handlers return `reply(value, state?)`, `noreply(state?)` or `stop(reason, state?, value?)`;
 * see `results.ts` for what each does.
 */
export abstract class Actor<Env = Cloudflare.Env, State = unknown, CallMsg = never, CastMsg = never> extends DurableObject<Env> {
  /** Bounded mailbox: beyond `limit` queued messages, calls reject with `MailboxFullError` and casts are dropped. */
  static mailbox: MailboxOptions = { limit: DEFAULT_MAILBOX_LIMIT };

  declare readonly [actorTypes]?: { readonly state: State; readonly call: CallMsg; readonly cast: CastMsg };

  /**
   * `hibernate: true` (the default) accepts WebSockets so the object can sleep with them open;
   * `immutableState: true` freezes the state, so handlers return new ones (see `ActorOptions`).
   * Options merge down the class chain: a subclass that sets other options keeps `hibernate`.
   */
  static options: ActorOptions = { hibernate: true };

  /** Also in `runtimes` (for `runtimeOf`); a field here spares the actor's own methods a WeakMap lookup per message. */
  readonly #runtime: ActorRuntime;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const statics = new.target as unknown as { mailbox?: Partial<MailboxOptions>; name: string };
    const options = mergedOptions(new.target);
    const runtime = new ActorRuntime(ctx, this as unknown as Behaviour, {
      className: statics.name,
      mailboxLimit: checkLimit(statics.mailbox?.limit ?? DEFAULT_MAILBOX_LIMIT, statics.name),
      hibernate: options.hibernate !== false,
      immutableState: options.immutableState === true,
    });
    runtimes.set(this, runtime);
    this.#runtime = runtime;
    // SQLite opens synchronously: no blockConcurrencyWhile, which alone costs a wake ~0.1 ms
    // (bench/readings.md, "Wake, on the same workerd by hand").
    const opening = runtime.open();
    if (opening) void ctx.blockConcurrencyWhile(() => opening);
  }

  // ── callbacks ───────────────────────────────────────────────────────────────

  /** The first state. Runs once, on the very first message; later starts load the saved state. */
  abstract init(): MaybePromise<State>;

  /**
   * Runs on every start of an instance (the first start, and each wake after hibernation or
   * eviction), after `init` or the state load and before any message. `props` are those given to
   * `getServerByName` / routing, when any. A throw fails the message that woke the actor; the next one tries again.
   * `noreply(state, { continue: msg })` runs `handleContinue(msg)` before that message, as `init`'s `{:continue, m}` does.
   */
  handleStart(state: State, props: unknown): MaybePromise<NoReply<State>> {
    void state;
    void props;
    return noreply();
  }

  /** Answers a call (`getActor(...).call(msg)`, `stub.call(msg)`). */
  handleCall(msg: CallMsg, from: From, state: State): MaybePromise<CallResult<ReplyOf<CallMsg>, State>> {
    void msg;
    void from;
    void state;
    throw new NotImplementedError(`${this.#label} received a call but defines no handleCall(msg, from, state).`);
  }

  /** Answers an HTTP request routed to this object; the reply must be a `Response`. @default 404 */
  handleRequest(request: Request, from: From, state: State): MaybePromise<CallResult<Response, State>> {
    void from;
    void state;
    return reply(new Response(`${this.#label} does not handle HTTP requests (${request.method} ${new URL(request.url).pathname}).`, { status: 404 }));
  }

  /** Handles a cast: fire-and-forget, nobody waits for it. */
  handleCast(msg: CastMsg, state: State, origin: CastOrigin): MaybePromise<CastResult<State>> {
    void msg;
    void state;
    void origin;
    throw new NotImplementedError(`${this.#label} received a cast but defines no handleCast(msg, state, origin).`);
  }

  /** Handles what the platform or runtime sends: timeouts of `sendAfter`, connection events and frames, and `sendSelf` messages. */
  handleInfo(info: Info, state: State): MaybePromise<CastResult<State>> {
    void state;
    if (info.type === "timeout" || info.type === "message" || info.type === "self") {
      console.warn(`${this.#label} received a ${info.type} but defines no handleInfo(info, state); it was ignored.`);
    }
    return noreply();
  }

  /** Tags for a connecting socket, to find it later with `getConnections(tag)`. Runs before the socket is accepted. @default [] */
  getConnectionTags(connection: Connection, context: { request: Request }): string[] | Promise<string[]> {
    void connection;
    void context;
    return [];
  }

  /** The subprotocol to answer a client that offered some in `Sec-WebSocket-Protocol`. @default the first offered */
  getSubprotocol(offered: readonly string[], request: Request): string | undefined {
    void request;
    return offered[0];
  }

  /** Runs right after a turn that returned `{ continue: msg }`, before any queued message. */
  handleContinue(msg: unknown, state: State): MaybePromise<CastResult<State>> {
    void msg;
    void state;
    throw new NotImplementedError(`${this.#label} asked to continue but defines no handleContinue(msg, state).`);
  }

  // ── what handlers use ───────────────────────────────────────────────────────

  /** The name this object was reached by; known in every entry point, also after eviction. */
  get name(): string {
    return this.#runtime.name;
  }

  /** Answers a call kept with `noreply`. Returns false if that caller was already answered or timed out. */
  reply(from: From, value: unknown): boolean {
    return this.#runtime.reply(from, value);
  }

  /**
   * Delivers `{ type: "timeout", key, msg }` to `handleInfo` after `ms`. Durable: survives
   * hibernation and eviction. Setting a key again replaces its timer. Returns the key.
   * In a handler the timer commits with the turn (and rolls back with it); elsewhere it commits
   * on its own, in mailbox order.
   */
  sendAfter(ms: number, msg: Json, options: { key?: string } = {}): string {
    return this.#runtime.sendAfter(ms, msg, options.key);
  }

  /** Cancels the timer with this key; it will not fire. */
  cancelTimer(key: string): Promise<void> {
    return this.#runtime.cancelTimer(key);
  }

  /** When the timer with this key is due (epoch ms on `this.now()`'s clock), or null. */
  timerDeadline(key: string): Promise<number | null> {
    return this.#runtime.timerDeadline(key);
  }

  /**
   * GenServer's `send(self(), msg)`: `msg` arrives at `handleInfo({ type: "self", msg })` after the
   * messages queued now. Only the actor can send one, so unlike a cast to itself no client can
   * forge it; use it from callbacks outside a turn (a `from.signal` listener, a `fetch` that
   * finished) to bring their work back into the mailbox. It waits in memory, as every queued
   * message does: an object reset before it runs loses it (`sendAfter` is durable).
   */
  sendSelf(msg: Json): void {
    this.#runtime.sendSelf(msg);
  }

  /** Milliseconds since the epoch on the clock timers use (moved by `advanceClock` in tests): compute deadlines with it. */
  now(): number {
    return clock.now();
  }

  /** Sends to every open connection except the ids in `exclude`. A peer that just left is skipped, never an error. */
  broadcast(message: WSMessage, exclude: readonly string[] | null = NO_IDS): void {
    // One copy of binary data for every socket, not one each.
    sendToAll(this.#runtime.connections.all(), ownCopy(message), exclude);
  }

  /**
   * Sends `msg` as a protocol `push` frame, which `genparty/client` hands to `on("push")`: to one
   * connection (`to`, a connection or its id), or to all open ones but the ids in `exclude`.
   */
  push(msg: Json, options: { to?: Connection | string; exclude?: readonly string[] } = {}): void {
    const frame = encodeFrame({ gp: 1, t: "push", msg });
    if (options.to === undefined) return broadcastFrame(this, frame, options.exclude);
    const connection = typeof options.to === "string" ? this.getConnection(options.to) : options.to;
    if (connection) sendFrame(connection, frame);
  }

  /** Open connections, optionally only those with `tag`. Closing and closed sockets are never listed. */
  getConnections<TState = unknown>(tag?: string): Connection<TState>[] {
    return this.#runtime.connections.all(tag) as Connection<TState>[];
  }

  /** The open connection with this id. */
  getConnection<TState = unknown>(id: string): Connection<TState> | undefined {
    return this.#runtime.connections.get(id) as Connection<TState> | undefined;
  }

  get mailboxStats(): MailboxStats {
    return this.#runtime.stats;
  }

  /** A reference to another actor whose calls carry this turn's call chain, so a cycle back here fails fast with `SelfCallError`. */
  getActor<A extends AnyActor>(namespace: DurableObjectNamespace<A>, name: string, options: ActorRefOptions = {}): ActorRef<A> {
    // The runtime itself, not closures over it: a bundle built with esbuild's keepNames (wrangler's
    // default) names each closure made at run time with a defineProperty, ~1 µs apiece.
    return new ActorRef(namespace, name, { ...options, caller: this.#runtime });
  }

  get #label(): string {
    return this.#runtime.label;
  }

  // ── Durable Object entry points ─────────────────────────────────────────────

  override fetch(request: Request): Response | Promise<Response> {
    return this.#runtime.request(request);
  }

  /** Runs the timers that are due. The platform's `alarmInfo` isn't needed: each timer counts its own retries (`info.attempt`). */
  override alarm(_alarmInfo?: AlarmInvocationInfo): Promise<void> {
    return this.#runtime.alarm();
  }

  override webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): void {
    const runtime = this.#runtime;
    const connection = runtime.connections.of(socket);
    if (connection) runtime.socketMessage(connection, message);
  }

  override webSocketClose(socket: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    return this.#runtime.socketClose(socket, code, reason, wasClean);
  }

  override webSocketError(socket: WebSocket, error: unknown): void {
    const connection = this.#runtime.connections.of(socket);
    if (connection) this.#runtime.socketError(connection, error);
  }

  /**
   * RPC: sends a call and waits for its reply. Across DO RPC a thrown error arrives as a plain
   * `Error` whose message starts with its class name; `getActor(...).call` rebuilds the class.
   */
  async call(msg: CallMsg, options: RpcCallOptions = {}): Promise<ReplyOf<CallMsg>> {
    const outcome = await this.#runtime.call(msg, options.timeout, options.chain, options.order);
    if (!outcome.ok) throw outcome.error;
    return outcome.value as ReplyOf<CallMsg>;
  }

  /**
   * RPC: queues a cast and returns at once. `order` is set by `ActorRef` to keep its casts in order.
   * Not async: a value returned at once spares the RPC layer a promise to wait on.
   */
  cast(msg: CastMsg, order?: SendOrder): void {
    this.#runtime.cast(msg, RPC_ORIGIN, order);
  }

  /** RPC used by routing and `getServerByName`: starts the actor (its `handleStart` gets `props`) and resolves once started. */
  async __genpartyStart(props?: unknown): Promise<CallEnvelope> {
    try {
      await this.#runtime.start(props);
      return { ok: true, value: undefined };
    } catch (error) {
      return { ok: false, error: toWire(error) };
    }
  }

  /**
   * RPC used by `ActorRef`: like `call`, with errors as data so their class survives the trip (see answer.ts).
   * Positional primitives, not an options object: they cross the RPC boundary with less to copy.
   * Its name and parameters stay as they are: during a deploy a new Worker calls objects still on
   * the old code, and the other way round (guides/deploying.md, "Two versions at once").
   */
  __genpartyCall(msg: unknown, timeout?: number, chain?: readonly string[], sender?: string, seq?: number, base?: number): CallAnswer | Promise<CallAnswer> {
    try {
      const order = sender === undefined || seq === undefined ? undefined : { sender, seq, base };
      const outcome = this.#runtime.call(msg, timeout, chain, order);
      // Answered at once: returned as a value, which DO RPC sends without waiting on a promise.
      return outcome instanceof Promise ? outcome.then(toAnswer, failedAnswer) : toAnswer(outcome);
    } catch (error) {
      return failedAnswer(error);
    }
  }
}

/** A protocol frame the runtime built (a push, a machine room's state) to every open connection but `exclude`. */
export function broadcastFrame(actor: { getConnections(): Connection[] }, frame: string, exclude?: readonly string[] | null): void {
  sendToAll(actor.getConnections(), frame, exclude ?? NO_IDS);
}

/** A protocol frame the runtime built, to one connection; one that just left is skipped. */
export function sendFrame(connection: Connection, frame: string): void {
  try {
    sendOwned(connection, frame);
  } catch {
    // Left meanwhile.
  }
}

function sendToAll(connections: readonly Connection[], data: WSMessage, exclude: readonly string[] | null): void {
  for (const connection of connections) {
    // `null` too, as partyserver takes it: nobody left out.
    if (exclude && exclude.length > 0 && exclude.includes(connection.id)) continue;
    try {
      sendOwned(connection, data);
    } catch {
      // Closed between listing and sending; its close event is on its way.
    }
  }
}

/** Each class's merged options, read at its first construction: a class's statics are its configuration. */
const optionsOf = new WeakMap<Function, ActorOptions>();

/** `static options` from the base class down to `target`, later ones winning: a subclass adds to its parent's. */
function mergedOptions(target: Function): ActorOptions {
  const known = optionsOf.get(target);
  if (known) return known;
  const chain: ActorOptions[] = [];
  for (let current: unknown = target; typeof current === "function" && current !== Function.prototype; current = Object.getPrototypeOf(current)) {
    if (Object.hasOwn(current, "options")) chain.unshift((current as unknown as { options: ActorOptions }).options);
  }
  const options: ActorOptions = Object.freeze(Object.assign({}, ...chain));
  optionsOf.set(target, options);
  return options;
}

function checkLimit(limit: number, className: string): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`${className}.mailbox.limit must be a positive integer, got ${limit}.`);
  }
  return limit;
}
