/**
 * vitest helpers (for `@cloudflare/vitest-pool-workers`) that force on an actor what production
 * does to it at unpredictable times, so a spec can prove behaviour holds across them.
 *
 * - `hibernate(target)`: drop what the runtime holds in memory and reload it from storage, as a wake
 *   from hibernation does (workerd only hibernates after ~10 s idle and has no switch for it).
 * - `evict(target)`: abort the object; the next message constructs a new instance from storage.
 * - `advanceClock(ms, ...targets)`: move genparty's clock and run the targets' alarms, so timers fire
 *   without sleeping.
 * - `runAlarm(target)`: run the object's alarm now, if one is set.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { runtimeOf } from "../actor/actor.js";
import { resetClockShift, shiftClock } from "../actor/clock.js";
import { ActorRef, type AnyActor } from "../actor/ref.js";

export type Target<A extends AnyActor = AnyActor> = ActorRef<A> | DurableObjectStub<A>;

function stubOf<A extends AnyActor>(target: Target<A>): DurableObjectStub<A> {
  return target instanceof ActorRef ? target.stub : target;
}

/**
 * Drops the actor's in-memory state and reloads it from storage. Fields your subclass keeps in
 * memory are not dropped (only a real wake re-runs the constructor): keep what must survive in state.
 * Fails if the actor is busy, since the platform never hibernates a busy object.
 */
export async function hibernate<A extends AnyActor>(target: Target<A>): Promise<void> {
  await runInDurableObject(stubOf(target) as DurableObjectStub<AnyActor>, (instance) => runtimeOf(instance).hibernate());
}

/**
 * Evicts the object: storage (state, timers, alarm) is kept, memory is lost, and the next message
 * constructs a new instance. An `ActorRef` gets a new stub; a raw stub is dead afterwards, so get a new one.
 */
export async function evict<A extends AnyActor>(target: Target<A>): Promise<void> {
  try {
    await runInDurableObject(stubOf(target) as DurableObjectStub<AnyActor>, async (_instance, state) => {
      // Writes not yet flushed would be lost with the abort; production evicts only after they are durable.
      await state.storage.sync();
      state.abort("evicted by genparty/testing");
    });
  } catch (error) {
    if (!isReset(error)) throw error;
  } finally {
    if (target instanceof ActorRef) target.reconnect();
  }
}

function isReset(error: unknown): boolean {
  return error instanceof Error && /evicted by genparty\/testing|reset|abort/i.test(`${error.message}`);
}

/** Runs the object's alarm now. Returns false when no alarm was set. */
export function runAlarm<A extends AnyActor>(target: Target<A>): Promise<boolean> {
  return runDurableObjectAlarm(stubOf(target));
}

/** Moves genparty's clock forward by `ms`, then runs each target's alarm so its due timers fire. */
export async function advanceClock(ms: number, ...targets: Target[]): Promise<void> {
  shiftClock(ms);
  for (const target of targets) await runAlarm(target);
}

/** Puts genparty's clock back on real time; call it in `afterEach` when a spec advanced it. */
export function resetClock(): void {
  resetClockShift();
}
