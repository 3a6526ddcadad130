import { CallTimeoutError, fromWire, type GenpartyError } from "../protocol/errors.js";
import { encodeFrame, type ServerFrame } from "../protocol/frames.js";

export const DEFAULT_CLIENT_CALL_TIMEOUT_MS = 5_000;

interface Pending {
  readonly frame: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly cleanup: () => void;
}

/**
 * The client's calls waiting for replies. Ids are unique per client instance (a random prefix), so
 * a page reloaded with the same connection id never collides with replies the server remembers.
 */
export class ClientCalls {
  readonly #prefix = crypto.randomUUID().slice(0, 8);
  readonly #pending = new Map<string, Pending>();
  #next = 0;

  constructor(
    private readonly send: (frame: string) => void,
    private readonly room: () => string,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  call(msg: unknown, options: { timeout?: number; signal?: AbortSignal }): Promise<unknown> {
    const timeout = options.timeout ?? DEFAULT_CLIENT_CALL_TIMEOUT_MS;
    if (!(Number.isFinite(timeout) && timeout > 0)) return Promise.reject(new RangeError(`A call timeout must be a positive number of ms, got ${timeout}`));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = `${this.#prefix}-${++this.#next}`;
    const frame = encodeFrame({ gp: 1, t: "call", id, msg });
    return new Promise((resolve, reject) => {
      const giveUp = (error: unknown) => {
        if (!this.#pending.has(id)) return;
        this.#settle(id);
        // The server's handler sees from.signal abort, and a late reply is dropped here.
        this.send(encodeFrame({ gp: 1, t: "cancel", id }));
        reject(error);
      };
      const timer = setTimeout(
        () => giveUp(new CallTimeoutError(`${this.room()} did not reply within ${timeout} ms. The handler was told (from.signal) but may still finish. Raise the timeout with { timeout }.`)),
        timeout,
      );
      const onAbort = () => giveUp(abortError(signal!));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        frame,
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      });
      this.send(frame);
    });
  }

  /** A reply (or an error frame about a call): settles that call once; later duplicates are ignored. */
  receive(frame: ServerFrame): boolean {
    if (frame.t === "push" || frame.id === undefined) return false;
    const pending = this.#settle(frame.id);
    if (!pending) return true;
    if (frame.t === "reply" && frame.err === undefined) pending.resolve(frame.ok);
    else pending.reject(fromWire(frame.err!));
    return true;
  }

  /** After a reconnect: sends every unanswered call again, with its id, for the server to answer once. */
  resend(): void {
    for (const pending of this.#pending.values()) this.send(pending.frame);
  }

  rejectAll(error: GenpartyError | Error): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(error);
  }

  #settle(id: string): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    pending.cleanup();
    return pending;
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The call was aborted.", "AbortError");
}
