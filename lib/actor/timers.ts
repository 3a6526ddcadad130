import { clock } from "./clock.js";
import type { Envelope } from "./envelope.js";
import { TimerError } from "./errors.js";
import type { Store, TimerOp, TimerRow } from "./storage.js";
import type { Turn } from "./turn.js";
import type { Json } from "./types.js";

/** Deliveries of a throwing timeout before it is dropped with an error log. */
export const MAX_TIMER_ATTEMPTS = 5;
/** The platform keeps alarm times as int64 nanoseconds since 1970: nothing later than this ms can be set. */
const LATEST_ALARM_MS = 9_223_372_036_854;
/** First retry delay of a throwing timeout; doubles per attempt. */
export const TIMER_RETRY_BASE_MS = 1_000;

interface TimerHost {
  turn(): Turn | undefined;
  enqueue(envelope: Envelope): Promise<void>;
  store(): Store;
  label(): string;
}

/**
 * Keyed durable timers on the object's one alarm. Changes made in a turn commit with it; changes
 * made outside any turn are queued as their own commit, so they keep mailbox order either way.
 */
export class Timers {
  readonly #host: TimerHost;

  constructor(host: TimerHost) {
    this.#host = host;
  }

  sendAfter(ms: number, msg: Json, key: string | undefined): string {
    const label = this.#host.label();
    if (!Number.isFinite(ms) || ms < 0) throw new TimerError(`${label}: sendAfter needs a finite delay ≥ 0 ms, got ${ms}.`);
    // Whole ms, rounded up: the platform's alarm drops the fraction, and an alarm ringing before its timer is due finds nothing.
    const due = Math.ceil(clock.now() + ms);
    if (due > LATEST_ALARM_MS) {
      throw new TimerError(`${label}: sendAfter's delay of ${ms} ms ends past ${new Date(LATEST_ALARM_MS).toISOString()}, the latest time a Durable Object alarm can be set to.`);
    }
    const timerKey = key ?? crypto.randomUUID();
    const json = JSON.stringify(msg);
    if (json === undefined) throw new TimerError(`${label}: sendAfter's message must be JSON (got ${typeof msg}).`);
    void this.#change({ op: "set", key: timerKey, due, msg: json });
    return timerKey;
  }

  cancel(key: string): Promise<void> {
    return this.#change({ op: "cancel", key });
  }

  /** When the timer with this key is due, counting changes the running turn made but hasn't committed. */
  async deadline(key: string): Promise<number | null> {
    const turn = this.#host.turn();
    if (!turn) return new Promise((answer) => void this.#host.enqueue({ kind: "timerRead", key, answer }));
    for (let i = turn.timers.length - 1; i >= 0; i--) {
      const op = turn.timers[i]!;
      if (op.op === "clear") return null;
      if (op.op === "set" && op.key === key) return op.due;
      if (op.op === "cancel" && op.key === key) return null;
    }
    // As the platform's getAlarm() inside alarm(): the timer being delivered is gone (until set again).
    if (turn.firing === key) return null;
    return (await this.#host.store().timer(key))?.due ?? null;
  }

  /** A timer read by the alarm may have been cancelled, re-armed or put off by a retry since. */
  async isLive(row: TimerRow): Promise<boolean> {
    const current = await this.#host.store().timer(row.key);
    return current !== undefined && current.seq === row.seq && current.due <= clock.now();
  }

  /** After a timeout handler threw: retry later with backoff, or drop it for good after the last attempt. */
  afterFailure(row: TimerRow): TimerOp {
    const { key, seq, attempts } = row;
    if (attempts + 1 >= MAX_TIMER_ATTEMPTS) {
      console.error(`${this.#host.label()}: timeout "${key}" threw ${MAX_TIMER_ATTEMPTS} times and was dropped.`);
      return { op: "fired", key, seq };
    }
    return { op: "retry", key, seq, due: clock.now() + TIMER_RETRY_BASE_MS * 2 ** attempts };
  }

  #change(op: TimerOp): Promise<void> {
    // A turn whose commit is under way (a callback ran while its write was in flight) has taken its
    // timer changes already: this one commits on its own, after it.
    if (this.#host.turn()?.addTimer(op)) return Promise.resolve();
    return this.#host.enqueue({ kind: "timers", ops: [op] });
  }
}
