import { keepShape } from "../connections/kept-shapes.js";
import { CallTimeoutError, type GenpartyError } from "../protocol/errors.js";
import { CallFrom } from "./call-from.js";
import type { From } from "./types.js";

export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: GenpartyError };

interface Pending {
  readonly from: From;
  /** Set by `wait` when the call wasn't answered by then; until it is, an outcome is kept in `early`. */
  resolve?: (outcome: Outcome) => void;
  /** The outcome of a call answered before anyone waited (its turn ran and replied synchronously). */
  early?: Outcome;
  readonly timeoutMs: number;
  /** Set by `wait`, once the call's turn did not answer it at once. */
  timer?: ReturnType<typeof setTimeout>;
  /** Made only if the handler reads `from.signal`: most calls never do. */
  controller?: AbortController;
}

/** A registered call, for `PendingCalls.wait`. */
export interface PendingCall {
  readonly from: From;
}

/**
 * Calls waiting for their reply. A `from` is settled once: by a reply, by its timeout, or by
 * the actor stopping; anything after that is dropped, as GenServer drops late replies.
 */
export class PendingCalls {
  /**
   * By the id's counter, not the id: a Map keyed by a string made per call internalizes it, ~1 µs a
   * call (`perf` of `node bench/lab.mjs rpc`).
   */
  readonly #pending = new Map<number, Pending>();
  /**
   * Ids are a random prefix per instance plus a counter: unique across instances (a `from` kept in
   * state never matches a later instance's call) without a UUID per call. Made at the first call:
   * a wake for a socket frame or a timer waits on no reply, and needn't pay for one.
   */
  #prefix: string | undefined;
  #next = 0;

  get size(): number {
    return this.#pending.size;
  }

  /** The error a caller gets when its call times out: one function for every call, not a closure each. */
  readonly #timedOut: (timeoutMs: number) => GenpartyError;

  constructor(timedOut: (timeoutMs: number) => GenpartyError) {
    this.#timedOut = timedOut;
  }

  /** Registers a caller: post its message with `call.from`, then `wait(call)`. */
  open(type: "rpc" | "http", timeoutMs: number): PendingCall {
    const n = ++this.#next;
    const from = new RpcFrom(type, `${(this.#prefix ??= crypto.randomUUID())}.${n}`, this);
    const pending: Pending = { from, timeoutMs };
    this.#pending.set(n, pending);
    return pending;
  }

  /**
   * The call's outcome: itself when its turn already answered it (an idle actor, a synchronous
   * handler), so no promise, timer or extra microtask is spent on it; else a promise, and after
   * `timeoutMs` the caller gets the constructor's `timedOut` error.
   */
  wait(call: PendingCall): Outcome | Promise<Outcome> {
    const pending = call as Pending;
    if (pending.early !== undefined) return pending.early;
    return new Promise<Outcome>((resolve) => {
      pending.resolve = resolve;
      // Settled meanwhile can't be: the promise's executor runs right here.
      pending.timer = setTimeout(() => {
        const error = this.#timedOut(pending.timeoutMs);
        const controller = pending.controller;
        this.settle(pending.from, { ok: false, error });
        controller?.abort(error);
      }, pending.timeoutMs);
    });
  }

  has(from: From): boolean {
    return this.get(from) !== undefined;
  }

  /** The waiting call `from` stands for. */
  get(from: { readonly id: string }): Pending | undefined {
    const key = this.#keyOf(from.id);
    return key === undefined ? undefined : this.#pending.get(key);
  }

  /** Answers `from`. Returns false when it was answered, timed out or unknown already. */
  settle(from: From, outcome: Outcome): boolean {
    const key = this.#keyOf(from.id);
    const pending = key === undefined ? undefined : this.#pending.get(key);
    if (!pending) return false;
    this.#pending.delete(key!);
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    if (pending.resolve) pending.resolve(outcome);
    else pending.early = outcome;
    return true;
  }

  /** The counter of an id this instance made (`<prefix>.<n>`); undefined for any other id. */
  #keyOf(id: string): number | undefined {
    const prefix = this.#prefix;
    if (prefix === undefined || !id.startsWith(prefix) || id.charCodeAt(prefix.length) !== DOT) return undefined;
    return Number(id.slice(prefix.length + 1));
  }

  /** Rejects every waiting caller but those in `except` (keys as `rpc:<id>` / `http:<id>`). */
  rejectAll(error: GenpartyError, except: ReadonlySet<string> = new Set()): void {
    for (const { from } of [...this.#pending.values()]) {
      if (!except.has(`rpc:${from.id}`) && !except.has(`http:${from.id}`)) this.settle(from, { ok: false, error });
    }
  }
}

const DOT = ".".charCodeAt(0);

/** The `from` of an RPC or HTTP call (see call-from.ts). */
class RpcFrom extends CallFrom {
  readonly type: "rpc" | "http";
  readonly id: string;
  readonly #calls: PendingCalls;

  constructor(type: "rpc" | "http", id: string, calls: PendingCalls) {
    super();
    this.type = type;
    this.id = id;
    this.#calls = calls;
  }

  protected waiting(): Pending | undefined {
    return this.#calls.get(this);
  }
}

// Its map outlives the calls (see kept-shapes.ts).
keepShape(new RpcFrom("rpc", "", new PendingCalls(() => new CallTimeoutError(""))));
