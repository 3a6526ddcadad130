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
import { runInDurableObject } from "cloudflare:test";
import { runtimeOf } from "../actor/actor.js";
import { resetClockShift, shiftClock } from "../actor/clock.js";
import { ActorRef } from "../actor/ref.js";

/** An `ActorRef` (from `getActor`) or a raw stub of an actor. */
export type Target = { readonly stub: DurableObjectStub } | DurableObjectStub;

function stubOf(target: Target): DurableObjectStub {
  // Not `"stub" in target`: a raw RPC stub answers every property name.
  const isRef: boolean = target instanceof ActorRef;
  return isRef ? (target as { readonly stub: DurableObjectStub }).stub : (target as DurableObjectStub);
}

/** Runs `fn` inside the target's object with genparty's view of it. */
function inside<R>(target: Target, fn: (instance: object, state: DurableObjectState) => R | Promise<R>): Promise<R> {
  // The pool's generic wants the class; every genparty actor is one, and the runtime checks it.
  return runInDurableObject(stubOf(target) as never, fn);
}

/**
 * Drops the actor's in-memory state and reloads it from storage. Fields your subclass keeps in
 * memory are not dropped (only a real wake re-runs the constructor): keep what must survive in state.
 * Fails if the actor is busy, since the platform never hibernates a busy object.
 */
export async function hibernate(target: Target): Promise<void> {
  await inside(target, (instance) => runtimeOf(instance).hibernate());
}

/**
 * Evicts the object: storage (state, timers, alarm) is kept, memory is lost, and the next message
 * constructs a new instance. An `ActorRef` gets a new stub; a raw stub is dead afterwards, so get a new one.
 */
export async function evict(target: Target): Promise<void> {
  const ref = refOf(target);
  // A ref whose stub an eviction made elsewhere broke gets a new one and tries once more.
  if (!(await abortInside(target, ref !== undefined)) && ref) {
    ref.reconnect();
    await abortInside(target, true);
  }
  // The aborted stub is broken for good.
  ref?.reconnect();
}

function refOf(target: Target): { reconnect(): void } | undefined {
  const isRef: boolean = target instanceof ActorRef;
  return isRef ? (target as unknown as { reconnect(): void }) : undefined;
}

/**
 * Aborts the instance `target` reaches; false when it reached none: a stub evicted before fails
 * with that old abort, and only an abort this call made counts as done.
 */
async function abortInside(target: Target, isRef: boolean): Promise<boolean> {
  let reached = false;
  try {
    await inside(target, async (_instance, state) => {
      reached = true;
      // Writes not yet flushed would be lost with the abort; production evicts only after they are durable.
      await state.storage.sync();
      state.abort("evicted by genparty/testing");
    });
  } catch (error) {
    if (!isReset(error)) throw error;
    if (!reached && !isRef) {
      throw new Error("evict: this stub is dead, evicted earlier, so it reaches no instance. Get a new one (namespace.getByName(name)), or pass the ActorRef, which gets one itself.", {
        cause: error,
      });
    }
  }
  return reached;
}

function isReset(error: unknown): boolean {
  return error instanceof Error && /evicted by genparty\/testing|reset|abort/i.test(`${error.message}`);
}

/**
 * Runs the object's alarm now, as the platform would: the alarm is consumed, then `alarm()` runs.
 * Returns false when no alarm was set. (Not the pool's runDurableObjectAlarm: it clears the alarm
 * through `ctx.storage`, which a Server maps onto its own timer.)
 */
export function runAlarm(target: Target): Promise<boolean> {
  return inside(target, async (instance) => {
    const alarm = runtimeOf(instance).platformAlarm;
    if ((await alarm.get()) === null) return false;
    await alarm.delete();
    await (instance as { alarm(): Promise<void> }).alarm();
    return true;
  });
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

export { type FetchWebSocket, type FetchWebSocketClass, fetchWebSocket } from "./fetch-websocket.js";
