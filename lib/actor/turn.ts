import type { DeferredOp } from "../connections/connection.js";
import type { Outcome } from "./replies.js";
import type { TimerOp } from "./storage.js";
import type { From } from "./types.js";

/**
 * What one turn did besides computing the next state. Nothing here takes effect until the turn
 * commits: timer changes are written in the state's transaction, replies leave after it. A turn
 * that throws drops all of it.
 */
export class Turn {
  readonly timers: TimerOp[] = [];
  readonly replies: Array<readonly [From, Outcome]> = [];
  /** Socket sends and closes, in the order the turn made them. */
  readonly outbox: DeferredOp[] = [];

  constructor(
    /** Actors whose turns are waiting on this one (the caller's chain), for deadlock detection. */
    readonly chain: readonly string[],
  ) {}
}
