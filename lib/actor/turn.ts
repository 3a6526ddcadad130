import type { DeferredOp } from "../connections/connection.js";
import { keepShape } from "../connections/kept-shapes.js";
import type { Outcome } from "./replies.js";
import type { TimerOp } from "./storage.js";
import type { From } from "./types.js";

const NONE: readonly never[] = Object.freeze([]);
const NO_CHAIN: readonly string[] = NONE;

/**
 * What one turn did besides computing the next state. Nothing here takes effect until the turn
 * commits: timer changes are written in the state's transaction, replies leave after it. A turn
 * that throws drops all of it. Most turns send a frame or two and nothing else, so each list is
 * made on its first entry (a turn runs per message: three empty arrays each time add up).
 */
export class Turn {
  #timers: TimerOp[] | undefined;
  /** The commit has taken the timer changes: a later one (a callback while the write is in flight) must commit on its own. */
  #timersTaken = false;
  #replies: Array<readonly [From, Outcome]> | undefined;
  #outbox: DeferredOp[] | undefined;

  constructor(
    /** Actors whose turns are waiting on this one (the caller's chain), for deadlock detection. */
    readonly chain: readonly string[] = NO_CHAIN,
    /** The key of the timer this turn delivers: it has fired, so it is no longer set. */
    readonly firing?: string,
  ) {}

  get timers(): readonly TimerOp[] {
    return this.#timers ?? NONE;
  }

  get replies(): ReadonlyArray<readonly [From, Outcome]> {
    return this.#replies ?? NONE;
  }

  /** Socket sends and closes, in the order the turn made them. */
  get outbox(): readonly DeferredOp[] {
    return this.#outbox ?? NONE;
  }

  /** The timer changes, for the commit: from here on `addTimer` refuses more. */
  takeTimers(): readonly TimerOp[] {
    this.#timersTaken = true;
    return this.timers;
  }

  /** False once the commit has taken the timer changes: the change isn't part of this turn. */
  addTimer(op: TimerOp): boolean {
    if (this.#timersTaken) return false;
    // Each list starts as a literal of its first entry: a push onto `[]` grows it through V8's slow path (`perf`).
    if (this.#timers) this.#timers.push(op);
    else this.#timers = [op];
    return true;
  }

  /** Queues `from`'s answer; false if this turn already answers it (a caller is answered once). */
  addReply(from: From, outcome: Outcome): boolean {
    const replies = this.#replies;
    if (!replies) {
      this.#replies = [[from, outcome]];
      return true;
    }
    for (const [queued] of replies) if (sameCaller(queued, from)) return false;
    replies.push([from, outcome]);
    return true;
  }

  addOutgoing(operation: DeferredOp): void {
    if (this.#outbox) this.#outbox.push(operation);
    else this.#outbox = [operation];
  }
}

// Its map outlives the turns that share it (see kept-shapes.ts).
keepShape(new Turn());

function sameCaller(a: From, b: From): boolean {
  return a.id === b.id && a.type === b.type && (a.type !== "socket" || a.connection === (b as typeof a).connection);
}
