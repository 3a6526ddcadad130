import type { GenpartyError } from "../protocol/errors.js";
import type { From } from "./types.js";

export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: GenpartyError };

interface Pending {
  readonly resolve: (outcome: Outcome) => void;
  readonly timeoutMs: number;
  readonly onTimeout: () => GenpartyError;
  /** Set by `arm`, once the call's turn did not answer it at once. */
  timer?: ReturnType<typeof setTimeout>;
  /** Made only if the handler reads `from.signal`: most calls never do. */
  controller?: AbortController;
}

/**
 * Calls waiting for their reply. A `from` is settled once: by a reply, by its timeout, or by
 * the actor stopping; anything after that is dropped, as GenServer drops late replies.
 */
export class PendingCalls {
  readonly #pending = new Map<string, Pending>();
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

  /**
   * `from.signal`: a getter, not data, so JSON (and so saved state) leaves it out, and the
   * controller is made on first read. One descriptor for every call of this instance.
   */
  readonly #signal: PropertyDescriptor = { enumerable: false, get: signalGetter(this.#pending) };

  /** Registers a caller; once armed, after `timeoutMs` it gets `onTimeout()`'s error. */
  open(type: "rpc" | "http", timeoutMs: number, onTimeout: () => GenpartyError): { from: From; outcome: Promise<Outcome> } {
    const id = `${(this.#prefix ??= crypto.randomUUID())}.${++this.#next}`;
    const from = Object.defineProperty({ type, id }, "signal", this.#signal) as From;
    const outcome = new Promise<Outcome>((resolve) => this.#pending.set(id, { resolve, timeoutMs, onTimeout }));
    return { from, outcome };
  }

  /**
   * Starts `from`'s timeout if it is still waiting. Called after the call is posted: a call whose
   * turn ran and answered synchronously (an idle actor, a synchronous handler) never needs a timer.
   */
  arm(from: From): void {
    const pending = this.#pending.get(from.id);
    if (!pending || pending.timer !== undefined) return;
    pending.timer = setTimeout(() => {
      const error = pending.onTimeout();
      const controller = pending.controller;
      this.settle(from, { ok: false, error });
      controller?.abort(error);
    }, pending.timeoutMs);
  }

  has(from: From): boolean {
    return this.#pending.has(from.id);
  }

  /** Answers `from`. Returns false when it was answered, timed out or unknown already. */
  settle(from: From, outcome: Outcome): boolean {
    const pending = this.#pending.get(from.id);
    if (!pending) return false;
    this.#pending.delete(from.id);
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.resolve(outcome);
    return true;
  }

  /** Rejects every waiting caller but those in `except` (keys as `rpc:<id>` / `http:<id>`). */
  rejectAll(error: GenpartyError, except: ReadonlySet<string> = new Set()): void {
    for (const id of [...this.#pending.keys()]) {
      if (!except.has(`rpc:${id}`) && !except.has(`http:${id}`)) this.settle({ type: "rpc", id }, { ok: false, error });
    }
  }
}

function signalGetter(pending: Map<string, Pending>): (this: { readonly id: string }) => AbortSignal {
  return function () {
    const entry = pending.get(this.id);
    if (!entry) return AbortSignal.abort();
    entry.controller ??= new AbortController();
    return entry.controller.signal;
  };
}
