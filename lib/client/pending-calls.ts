import { ActorStoppedError, CallTimeoutError, fromWire, type GenpartyError, ProtocolError } from "../protocol/errors.js";
import { encodeFrame, frameBytes, MAX_ACKS, MAX_PROTOCOL_FRAME_BYTES, type ServerFrame } from "../protocol/frames.js";

export const DEFAULT_CLIENT_CALL_TIMEOUT_MS = 5_000;
/** The longest delay timers keep: browsers and Node fire a longer one at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Pending {
  readonly id: string;
  readonly frame: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly cleanup: () => void;
  /** Handed to an open socket at least once: the server may have it, so giving up tells it to cancel. */
  sent: boolean;
}

interface Transport {
  /** Sends on the open socket. */
  send(frame: string): void;
  isOpen(): boolean;
  room(): string;
}

/**
 * The client's calls waiting for replies, and what waits for the socket to open. Frames are sent
 * only on an open socket, never left in partysocket's queue: a call given up while offline (its
 * timeout, its signal) must never leave later, when the caller may have made it again meanwhile.
 * Ids are unique per client instance (a random prefix), so a page reloaded with the same
 * connection id never collides with replies the server remembers.
 */
export class ClientCalls {
  readonly #prefix = crypto.randomUUID().slice(0, 8);
  readonly #pending = new Map<string, Pending>();
  /** Calls and casts (their frames) made while the socket was not open, in the order they were made. */
  #waiting: Array<Pending | string> = [];
  #next = 0;
  /**
   * Ids of the calls whose replies came since the last call was sent. The next call frame carries
   * them (`ack`), and the server drops those replies, which it would otherwise keep for minutes in
   * case the call is sent again.
   */
  #acks: string[] = [];

  constructor(private readonly transport: Transport) {}

  get size(): number {
    return this.#pending.size;
  }

  /** Calls and casts waiting for the socket to open. */
  get waiting(): number {
    return this.#waiting.length;
  }

  call(msg: unknown, options: { timeout?: number; signal?: AbortSignal }): Promise<unknown> {
    const timeout = options.timeout ?? DEFAULT_CLIENT_CALL_TIMEOUT_MS;
    if (!(timeout > 0 && (timeout <= MAX_TIMER_MS || timeout === Infinity))) {
      return Promise.reject(new RangeError(`A call timeout must be a number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days), or Infinity for none; got ${timeout}.`));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = `${this.#prefix}-${++this.#next}`;
    let frame: string;
    try {
      frame = encodeFrame({ gp: 1, t: "call", id, msg });
    } catch (error) {
      return Promise.reject(new ProtocolError(`The call to ${this.transport.room()} was not sent: its message is not JSON (${(error as Error).message}).`));
    }
    const tooLarge = oversize(frame, `The call to ${this.transport.room()}`);
    if (tooLarge) return Promise.reject(tooLarge);
    return new Promise((resolve, reject) => {
      const giveUp = (error: unknown) => {
        const pending = this.#settle(id);
        if (!pending) return;
        // The server's handler sees from.signal abort, and a late reply is dropped here. A call that
        // never left needs no cancel: it is forgotten here, and leaves the queue, never to be sent.
        if (pending.sent) this.#sendOrWait(encodeFrame({ gp: 1, t: "cancel", id }));
        else this.#waiting = this.#waiting.filter((item) => item !== pending);
        reject(error);
      };
      const timer = timeout === Infinity ? undefined : setTimeout(() => giveUp(this.#timedOut(id, timeout)), timeout);
      const onAbort = () => giveUp(abortError(signal!));
      signal?.addEventListener("abort", onAbort, { once: true });
      const pending: Pending = {
        id,
        frame,
        resolve,
        reject,
        sent: false,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      this.#pending.set(id, pending);
      if (this.transport.isOpen()) this.#send(pending);
      else this.#waiting.push(pending);
    });
  }

  /** Sends a cast now, or once the socket opens, in order with the calls made meanwhile. */
  cast(frame: string): void {
    const tooLarge = oversize(frame, `A cast to ${this.transport.room()}`);
    if (tooLarge) throw tooLarge;
    this.#sendOrWait(frame);
  }

  /**
   * The socket opened (the first time, or after a reconnect): calls sent on a socket that dropped go
   * again, with their ids, for the server to answer once; then what waited, in the order it was made.
   */
  opened(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const pending of this.#pending.values()) if (pending.sent) this.transport.send(pending.frame);
    for (const item of waiting) {
      if (typeof item === "string") this.transport.send(item);
      // A call given up meanwhile is no longer pending: it never leaves.
      else if (this.#pending.get(item.id) === item) this.#send(item);
    }
  }

  /** A reply (or an error frame about a call): settles that call once; later duplicates are ignored. */
  receive(frame: ServerFrame): boolean {
    if (frame.t === "push" || frame.t === "stopped" || frame.id === undefined) return false;
    // Only replies are kept by the server (an error frame answers a frame it couldn't read). A
    // duplicate, or a reply to a call given up, is acknowledged all the same: the server has it.
    if (frame.t === "reply") this.#acknowledge(frame.id);
    const pending = this.#settle(frame.id);
    if (!pending) return true;
    if (frame.t === "reply" && frame.err === undefined) pending.resolve(frame.ok);
    else pending.reject(fromWire(frame.err!));
    return true;
  }

  /**
   * The actor stopped (its socket closes next): calls it had are rejected, not sent again after the
   * reconnect to run on the restarted actor, except `keep`, still queued there. Calls not yet sent
   * go to the restarted actor.
   */
  stopped(reason: string, keep: readonly string[]): void {
    for (const [id, pending] of [...this.#pending]) {
      if (!pending.sent || keep.includes(id)) continue;
      this.#settle(id);
      pending.reject(new ActorStoppedError(`${this.transport.room()} stopped (${reason}) before replying to this call.`));
    }
  }

  /** Rejects every pending call; those the server may be running are told to cancel first, if the socket is open. */
  rejectAll(error: GenpartyError | Error): void {
    for (const [id, pending] of this.#pending) {
      if (pending.sent && this.transport.isOpen()) this.transport.send(encodeFrame({ gp: 1, t: "cancel", id }));
    }
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(error);
    this.#waiting = [];
    this.#acks = [];
  }

  /** What a timeout means depends on whether the call ever left. */
  #timedOut(id: string, timeout: number): CallTimeoutError {
    const room = this.transport.room();
    if (this.#pending.get(id)?.sent) {
      return new CallTimeoutError(`${room} did not reply within ${timeout} ms. The handler was told (from.signal) but may still finish. Raise the timeout with { timeout }.`);
    }
    return new CallTimeoutError(
      `${room} was not reached within ${timeout} ms: the socket did not open, so the call was never sent (and never will be). The client's "close" and "error" events say why; a wrong host or party gets no socket at all.`,
    );
  }

  /** A call's first send, with the acks gathered so far. (Sent again after a reconnect, it goes as it was made.) */
  #send(pending: Pending): void {
    pending.sent = true;
    const acks = this.#acks;
    if (acks.length === 0) return this.transport.send(pending.frame);
    this.#acks = [];
    // The frame is an encoded object: `ack` joins it as its last key.
    this.transport.send(`${pending.frame.slice(0, -1)},"ack":${JSON.stringify(acks)}}`);
  }

  #acknowledge(id: string): void {
    // Past the limit the oldest goes unacknowledged: the server forgets it in time anyway.
    if (this.#acks.length === MAX_ACKS) this.#acks.shift();
    this.#acks.push(id);
  }

  #sendOrWait(frame: string): void {
    if (this.transport.isOpen()) this.transport.send(frame);
    else this.#waiting.push(frame);
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

/**
 * A frame the server would refuse: refused here instead, where nothing has been sent. Above the
 * platform's own limit the socket itself would close, and the frame go again at each reconnect.
 */
function oversize(frame: string, what: string): ProtocolError | undefined {
  const bytes = frameBytes(frame);
  if (bytes <= MAX_PROTOCOL_FRAME_BYTES) return undefined;
  return new ProtocolError(
    `${what} was not sent: its frame is ${bytes} bytes or more, and protocol frames are at most ${MAX_PROTOCOL_FRAME_BYTES}. Send large data over HTTP (handleRequest) or in parts.`,
  );
}
