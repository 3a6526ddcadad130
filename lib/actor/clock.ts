/**
 * The time the runtime's timers are measured by. Production reads `Date.now()`; tests move it
 * forward with `advanceClock` from `genparty/testing` instead of sleeping. Tests and objects share
 * one isolate under vitest-pool-workers, so one module-level offset is seen by both.
 */
let offsetMs = 0;

export const clock = {
  now(): number {
    return Date.now() + offsetMs;
  },
};

/** Moves genparty's clock forward by `ms`. For tests; see `genparty/testing`. */
export function shiftClock(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advanceClock needs a finite, non-negative number of ms, got ${ms}`);
  offsetMs += ms;
}

/** Puts genparty's clock back on real time. */
export function resetClockShift(): void {
  offsetMs = 0;
}
