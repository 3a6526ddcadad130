import { Actor } from "../actor/actor.js";
import { logError } from "../actor/runtime-errors.js";
import { type CallResult, type CastResult, type NoReply, noreply, reply } from "../actor/results.js";
import type { From, Info } from "../actor/types.js";
import type { Connection, WSMessage } from "../connections/connection.js";
import { type PartyServerOptions, routePartykitRequest } from "../routing/route.js";
import { ALARM_TIMER_KEY, mapAlarmsOntoTimers } from "./alarm.js";
import { HookError } from "./hook-error.js";

export interface ConnectionContext {
  readonly request: Request;
}

/**
 * partyserver's `Server`, running on genparty's actor core: every hook is a turn of one mailbox,
 * so an async `onMessage` never interleaves with another hook, and `onStart` has finished before
 * any of them (also after a wake and in alarms). Custom RPC methods you add run outside the mailbox:
 * reach the room with `getServerByName` (which waits for `onStart`) and keep them to reads.
 *
 * @example
 * export class Chat extends Server {
 *   onConnect(connection: Connection) {
 *     connection.send(`welcome to ${this.name}`);
 *   }
 *   onMessage(connection: Connection, message: WSMessage) {
 *     this.broadcast(message, [connection.id]);
 *   }
 * }
 *
 * What differs from partyserver, on purpose: hibernation is on by default (`static options =
 * { hibernate: false }` opts out, and options are inherited); sends made in a hook leave once it
 * returns (a hook that throws sends nothing); errors are logged and never reach a client or kill
 * the room; `this.ctx.storage.setAlarm` shares the one alarm with genparty's timers.
 */
export class Server<Env = Cloudflare.Env, Props = Record<string, unknown>> extends Actor<Env, null> {
  /** Routes `/parties/:server/:name` to the matching binding; the older name of `routePartykitRequest`. */
  static partyFetch(request: Request, env?: object, options?: PartyServerOptions): Promise<Response | null> {
    return routePartykitRequest(request, env, options);
  }

  static {
    // Code written for partyserver reads WebSocket.OPEN etc.; the Workers runtime names them READY_STATE_*.
    for (const [name, value] of Object.entries({ CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 })) {
      if (typeof WebSocket !== "undefined" && !(name in WebSocket)) {
        Object.defineProperty(WebSocket, name, { value, enumerable: true });
        Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
      }
    }
  }

  readonly #userAlarm: ((alarmInfo: AlarmInvocationInfo) => unknown) | undefined;
  #inUserAlarm = false;

  constructor(ctx: DurableObjectState, env: Env) {
    // Before anything is set up: a class that can't work must not touch the object's storage.
    refuseReservedNames(new.target);
    super(ctx, env);
    keepReservedNames(this);
    mapAlarmsOntoTimers(ctx.storage, this);
    // The seed README tells users to implement alarm(). Ours stays the entry point, so the one alarm
    // still drives timers and onStart runs first; the user's alarm() runs as a turn when its time comes.
    const alarm = (Object.getPrototypeOf(this) as { alarm: () => Promise<void> }).alarm;
    if (alarm !== Server.prototype.alarm) {
      this.#userAlarm = alarm.bind(this);
      Object.defineProperty(this, "alarm", { configurable: true, writable: true, value: Server.prototype.alarm.bind(this) });
    }
  }

  // ── partyserver's hooks ──────────────────────────────────────────────────────

  /** Once per start of the object (first start and every wake), before any other hook. */
  onStart(props?: Props): void | Promise<void> {
    void props;
  }

  /** A client connected. Runs before the client gets its 101, so sends here arrive first. */
  onConnect(connection: Connection, ctx: ConnectionContext): void | Promise<void> {
    void connection;
    void ctx;
  }

  onMessage(connection: Connection, message: WSMessage): void | Promise<void> {
    void connection;
    void message;
  }

  /**
   * A connection closed. `replaced` (genparty's; partyserver passes four arguments) is true when a
   * newer socket with this connection's id took its place, a reload say: the client is still there,
   * and its onConnect comes next. Only the runtime sets it; a client's close reason can't.
   */
  onClose(connection: Connection, code: number, reason: string, wasClean: boolean, replaced?: boolean): void | Promise<void> {
    void connection;
    void code;
    void reason;
    void wasClean;
    void replaced;
  }

  onError(connection: Connection, error: unknown): void | Promise<void> {
    logError(`${this.name}: error on connection ${connection.id}:`, error);
    console.info("Implement onError on your server to handle connection errors.");
  }

  onRequest(request: Request): Response | Promise<Response> {
    console.warn(`${this.name}: onRequest is not implemented; answered 404 to ${request.method} ${new URL(request.url).pathname}.`);
    return new Response("Not implemented", { status: 404 });
  }

  /** Runs when the time set with `this.ctx.storage.setAlarm(...)` comes. */
  onAlarm(): void | Promise<void> {
    console.info(`${this.name}: an alarm fired; implement onAlarm to handle it.`);
  }

  // ── the actor underneath ─────────────────────────────────────────────────────

  init(): null {
    return null;
  }

  override async handleStart(_state: null, props: unknown): Promise<NoReply<null>> {
    // Every hook may read this.name: a room reached without a name fails here, with how to fix it.
    void this.name;
    await runHook("onStart", () => this.onStart(props as Props | undefined));
    return noreply();
  }

  override handleRequest(request: Request, _from: From, _state: null): CallResult<Response, null> | Promise<CallResult<Response, null>> {
    const response = runHook("onRequest", () => this.onRequest(request));
    return response instanceof Promise ? response.then((r) => reply(r)) : reply(response);
  }

  /** A hook that returns synchronously keeps the whole turn synchronous: no promise per message. */
  override handleInfo(info: Info, _state: null): CastResult<null> | Promise<CastResult<null>> {
    const ran = this.#runInfoHook(info);
    return ran instanceof Promise ? ran.then(() => NOREPLY) : NOREPLY;
  }

  #runInfoHook(info: Info): unknown {
    switch (info.type) {
      case "connect":
        return runHook("onConnect", () => this.onConnect(info.connection, { request: info.request }));
      case "message":
        return runHook("onMessage", () => this.onMessage(info.connection, info.data));
      case "close":
        return runHook("onClose", () => this.onClose(info.connection, info.code, info.reason, info.wasClean, info.replaced === true));
      case "error":
        return runHook("onError", () => this.onError(info.connection, info.error));
      case "timeout":
        if (info.key === ALARM_TIMER_KEY) return runHook("onAlarm", () => this.#alarmHook(info.attempt, info.due));
        console.warn(`${this.name}: timer "${info.key}" fired, but a Server handles timers only through onAlarm.`);
        return undefined;
      case "self":
        console.warn(`${this.name}: sendSelf delivered a message, but a Server has no hook for it; call your own method instead.`);
        return undefined;
      default:
        return info satisfies never;
    }
  }

  /**
   * The Durable Object fetch entry: always a promise, as partyserver's, so that an override may
   * chain `super.fetch(request).then(…)` (the actor underneath answers at once when it can).
   */
  override fetch(request: Request): Promise<Response> {
    return Promise.resolve(super.fetch(request));
  }

  /** The Durable Object alarm entry. From a user's own `alarm()` override, `super.alarm()` runs onAlarm as partyserver did. */
  override async alarm(alarmInfo?: AlarmInvocationInfo): Promise<void> {
    if (this.#inUserAlarm) return this.onAlarm();
    return super.alarm(alarmInfo);
  }

  /** Runs onAlarm, or the user's own alarm(), told how many deliveries of this alarm failed before (the timer's retries). */
  async #alarmHook(attempt: number, scheduledTime: number): Promise<void> {
    if (!this.#userAlarm) return this.onAlarm();
    this.#inUserAlarm = true;
    try {
      await this.#userAlarm({ retryCount: attempt, isRetry: attempt > 0, scheduledTime });
    } finally {
      this.#inUserAlarm = false;
    }
  }
}

const NOREPLY: NoReply<null> = noreply();

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/** Runs a hook, naming it in what it throws or rejects with; stays synchronous for a synchronous hook, and a thenable comes back as a Promise. */
function runHook<T>(hook: string, run: () => T | PromiseLike<T>): T | Promise<T> {
  let result: T | PromiseLike<T>;
  try {
    result = run();
  } catch (error) {
    throw new HookError(hook, error);
  }
  if (!isPromiseLike(result)) return result;
  return Promise.resolve(result).catch((error: unknown) => {
    throw new HookError(hook, error);
  });
}

/**
 * Methods of the actor underneath that the runtime (or the alarm mapping) calls on the instance. A
 * partyserver class may well have a helper with one of these names: it would replace genparty's
 * own, and the room would fail in ways that point nowhere near it.
 */
const RESERVED = ["init", "handleStart", "handleCall", "handleCast", "handleInfo", "handleRequest", "handleContinue", "now", "sendAfter", "cancelTimer", "timerDeadline"];
const checked = new WeakSet<object>();

function refuseReservedNames(target: object): void {
  if (checked.has(target)) return;
  for (let proto = (target as { prototype: object }).prototype; proto && proto !== Server.prototype; proto = Object.getPrototypeOf(proto) as object) {
    const name = RESERVED.find((reserved) => Object.hasOwn(proto, reserved));
    if (name !== undefined) {
      throw new TypeError(
        `${(target as { name: string }).name} defines ${name}(), a method genparty's Server runs itself (it is an Actor underneath). Rename yours; reserved: ${RESERVED.join(", ")}.`,
      );
    }
  }
  checked.add(target);
}

/**
 * The same names as the instance's own fixed properties: a class field of a subclass (`now = () =>
 * …`, which the prototype check can't see) then fails when the object is built, with the name.
 */
function keepReservedNames(server: object): void {
  for (const name of RESERVED) {
    Object.defineProperty(server, name, { value: (server as Record<string, unknown>)[name], writable: false, enumerable: false, configurable: false });
  }
}
