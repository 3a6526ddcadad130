import { PLAIN_DATA } from "../connections/plain-data.js";

/**
 * The base of the `from` objects genparty makes for calls. Their data are own fields, which JSON
 * and a socket's attachment keep (a deferred reply's `from` is saved with state and read back as a
 * plain object), and `signal` is a getter on the class that makes the controller on first read.
 *
 * Classes, not object literals given `signal` with `Object.defineProperty`: defining it cost a
 * socket call ~1 µs (`perf`), and a getter made per actor gave every actor's `from`s but the first
 * one's a dictionary of properties (V8 can't share a map between different accessors).
 */
export abstract class CallFrom {
  /** Aborts when the caller gives up; already aborted once the call is answered or unknown here. */
  get signal(): AbortSignal {
    const waiting = this.waiting();
    if (!waiting) return AbortSignal.abort();
    waiting.controller ??= new AbortController();
    return waiting.controller.signal;
  }

  get [PLAIN_DATA](): true {
    return true;
  }

  /** The call's record while it still waits for its reply, where its controller is kept. */
  protected abstract waiting(): { controller?: AbortController } | undefined;
}
