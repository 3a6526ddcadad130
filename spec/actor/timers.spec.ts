import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runtimeOf } from "../../lib/actor/actor.js";
import { MAX_TIMER_ATTEMPTS, PLATFORM_ALARM_TIMER, TIMER_RETRY_BASE_MS } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock, runAlarm } from "../../lib/testing/index.js";
import { backends, counterOn, savedState } from "../helpers.js";

afterEach(() => resetClock());

/** What the object's platform alarm is set to, read through its own storage. */
const armedAlarm = (counter: ReturnType<typeof counterOn>) => runInDurableObject(counter.stub, (_i, state) => state.storage.getAlarm());

const timeouts = (log: string[]) => log.filter((entry) => entry.startsWith("timeout:")).map((entry) => entry.replace(/@.*$/, ""));

describe.each(backends)("Durable timers on %s", (_backend, namespace) => {
  it("delivers a timeout to handleInfo when it is due, not before", async () => {
    const counter = counterOn(namespace, "due");
    expect(await counter.call({ type: "timer", ms: 10_000, key: "t", label: "one" })).toBe("t");
    // Real milliseconds pass too while the spec runs: leave a margin below the deadline.
    await advanceClock(9_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
    await advanceClock(1_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:t:one"]);
  });

  it("fires on the platform's own alarm, with no test helper involved", async () => {
    const counter = counterOn(namespace, "real-alarm");
    await counter.call({ type: "timer", ms: 50, key: "soon", label: "real" });
    await vi.waitFor(
      async () => expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:soon:real"]),
      { timeout: 5_000, interval: 50 },
    );
  });

  it("arms the alarm for a timer set by a message queued behind the alarm's last timeout", async () => {
    const counter = counterOn(namespace, "behind-alarm");
    await counter.call({ type: "timerThenCast", ms: 1_000, key: "first", cast: { type: "timer", ms: 60_000, key: "later", label: "later" } });
    await advanceClock(1_000, counter);
    await vi.waitFor(async () => expect(await counter.call({ type: "deadline", key: "later" })).not.toBeNull());
    const deadline = await counter.call({ type: "deadline", key: "later" });
    expect(await armedAlarm(counter)).toBe(deadline);
    await advanceClock(60_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:first:cast", "timeout:later:later"]);
  });

  it("arms the object's one alarm at the earliest deadline and clears it when no timer is left", async () => {
    const counter = counterOn(namespace, "alarm");
    const before = Date.now();
    await counter.call({ type: "timers", timers: [{ ms: 5_000, key: "late", label: "late" }, { ms: 2_000, key: "early", label: "early" }] });
    const alarm = await armedAlarm(counter);
    expect(alarm).toBeGreaterThanOrEqual(before + 2_000);
    expect(alarm).toBeLessThan(before + 3_000);
    await counter.call({ type: "cancel", key: "early" });
    await counter.call({ type: "cancel", key: "late" });
    expect(await armedAlarm(counter)).toBeNull();
  });

  it("fires many keyed timers in deadline order, whatever order they were set in", async () => {
    const counter = counterOn(namespace, "order");
    await counter.call({
      type: "timers",
      timers: [
        { ms: 3_000, key: "c", label: "3s" },
        { ms: 1_000, key: "a", label: "1s" },
        { ms: 2_000, key: "b", label: "2s" },
        { ms: 1_000, key: "a2", label: "1s too" },
      ],
    });
    await advanceClock(10_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:a:1s", "timeout:a2:1s too", "timeout:b:2s", "timeout:c:3s"]);
  });

  it("replaces a timer when its key is set again; the first never fires", async () => {
    const counter = counterOn(namespace, "rearm");
    await counter.call({ type: "timer", ms: 1_000, key: "k", label: "first" });
    await counter.call({ type: "timer", ms: 2_000, key: "k", label: "second" });
    await advanceClock(1_500, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
    await advanceClock(1_000, counter);
    await advanceClock(10_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:k:second"]);
  });

  /** What code that ran before genparty leaves behind: the platform alarm, set past the runtime, and no timer. */
  const setPlatformAlarm = (counter: ReturnType<typeof counterOn>, at: number) =>
    runInDurableObject(counter.stub, (instance) => runtimeOf(instance).platformAlarm.set(at));

  /** A started room with no timer of its own, an alarm due in `inMs` set past the runtime, then woken by `wake`. */
  const withForeignAlarm = async (room: string, inMs: number, wake: typeof evict = evict) => {
    const counter = counterOn(namespace, room);
    await counter.call({ type: "get" });
    const at = Date.now() + inMs;
    await setPlatformAlarm(counter, at);
    await wake(counter);
    return { counter, at };
  };

  it("keeps an alarm set before genparty ran as the timer genparty:alarm, read after a wake", async () => {
    const { counter, at } = await withForeignAlarm("adopt-start", 60_000);
    expect(await counter.call({ type: "deadline", key: PLATFORM_ALARM_TIMER })).toBe(at);
    // Setting a timer of its own meanwhile must not move the adopted alarm out of the way.
    await counter.call({ type: "timer", ms: 120_000, key: "later", label: "later" });
    await advanceClock(60_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([`timeout:${PLATFORM_ALARM_TIMER}:platform alarm`]);
  });

  it.each([
    ["an eviction", evict],
    ["hibernation", hibernate],
  ])("keeps an alarm set before genparty ran when the first turn after %s sets a timer", async (_wake, wake) => {
    const { counter, at } = await withForeignAlarm(`adopt-first-set-${wake.name}`, 60_000, wake);
    // No read of the alarm first: the timer's own commit must find and keep the other alarm.
    await counter.call({ type: "timer", ms: 120_000, key: "later", label: "later" });
    expect(await armedAlarm(counter)).toBe(at);
    expect(await counter.call({ type: "deadline", key: PLATFORM_ALARM_TIMER })).toBe(at);
    await advanceClock(60_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([`timeout:${PLATFORM_ALARM_TIMER}:platform alarm`]);
    await advanceClock(60_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([`timeout:${PLATFORM_ALARM_TIMER}:platform alarm`, "timeout:later:later"]);
  });

  it("keeps an alarm set before genparty ran when the first timer change is a cancel", async () => {
    const { counter, at } = await withForeignAlarm("adopt-first-cancel", 60_000);
    await counter.call({ type: "cancel", key: "never-set" });
    expect(await armedAlarm(counter)).toBe(at);
    await advanceClock(60_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([`timeout:${PLATFORM_ALARM_TIMER}:platform alarm`]);
  });

  it("delivers an alarm set before genparty ran when it wakes the object itself", async () => {
    const { counter } = await withForeignAlarm("adopt-fire", 100);
    // Nothing reaches the object until the platform's alarm starts it: the alarm finds no timer due.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await vi.waitFor(
      async () => expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([`timeout:${PLATFORM_ALARM_TIMER}:platform alarm`]),
      { timeout: 5_000, interval: 50 },
    );
  });

  it("takes no alarm for another's once it has had timers of its own", async () => {
    const counter = counterOn(namespace, "no-adopt");
    await counter.call({ type: "timer", ms: 1_000, key: "t", label: "mine" });
    await counter.call({ type: "cancel", key: "t" });
    // As a stale alarm of its own would be: set, with no timer behind it. Neither a start nor the alarm takes it.
    await setPlatformAlarm(counter, Date.now() + 60_000);
    await evict(counter);
    expect(await counter.call({ type: "deadline", key: PLATFORM_ALARM_TIMER })).toBeNull();
    expect(await runAlarm(counter)).toBe(true);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
  });

  it("reads a timer as no longer set inside its own timeout, as getAlarm() reads inside alarm()", async () => {
    const counter = counterOn(namespace, "probe");
    await counter.call({ type: "probeTimer", ms: 1_000, key: "p" });
    await advanceClock(1_000, counter);
    expect((await counter.call({ type: "state" })).log).toContain("timeout:p:deadline null");
  });

  it("never fires a cancelled timer", async () => {
    const counter = counterOn(namespace, "cancel");
    await counter.call({ type: "timer", ms: 1_000, key: "k", label: "cancelled" });
    await counter.call({ type: "timer", ms: 1_000, key: "other", label: "kept" });
    await counter.call({ type: "cancel", key: "k" });
    await advanceClock(5_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:other:kept"]);
  });

  it("fires after eviction, on a new instance that knows its name", async () => {
    const counter = counterOn(namespace, "evicted");
    await counter.call({ type: "timer", ms: 30_000, key: "t", label: "survives" });
    await evict(counter);
    await advanceClock(30_000, counter);
    const { log } = await counter.call({ type: "state" });
    expect(log).toEqual(["init", `timeout:t:survives@${counter.name}`]);
  });

  it("fires an overdue backlog in deadline order after hibernation and eviction", async () => {
    const counter = counterOn(namespace, "backlog");
    await counter.call({
      type: "timers",
      timers: [
        { ms: 3_000, key: "c", label: "c" },
        { ms: 1_000, key: "a", label: "a" },
        { ms: 2_000, key: "b", label: "b" },
      ],
    });
    await hibernate(counter);
    await evict(counter);
    await advanceClock(60_000);
    expect(await runAlarm(counter)).toBe(true);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:a:a", "timeout:b:b", "timeout:c:c"]);
  });

  it("retries a throwing timeout with backoff, then delivers it", async () => {
    const counter = counterOn(namespace, "retry");
    await counter.call({ type: "flakyTimer", ms: 100, failTimes: 2 });
    await advanceClock(100, counter);
    await advanceClock(TIMER_RETRY_BASE_MS / 2, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
    await advanceClock(TIMER_RETRY_BASE_MS / 2 + 100, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
    await advanceClock(2 * TIMER_RETRY_BASE_MS + 100, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:flaky:flaky ok after 2"]);
  });

  it("drops a timeout that keeps throwing after a bounded number of attempts, leaving no alarm behind", async () => {
    const counter = counterOn(namespace, "poison");
    await counter.call({ type: "flakyTimer", ms: 100, failTimes: 1_000 });
    await advanceClock(100, counter);
    for (let attempt = 1; attempt < MAX_TIMER_ATTEMPTS; attempt++) {
      await advanceClock(TIMER_RETRY_BASE_MS * 2 ** (attempt - 1) + 100, counter);
    }
    expect(await armedAlarm(counter)).toBeNull();
    expect(await runAlarm(counter)).toBe(false);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
    expect(await counter.call({ type: "add", by: 1 })).toBe(1);
  });

  it("commits a timer set outside any turn on its own, in mailbox order", async () => {
    const counter = counterOn(namespace, "outside");
    await counter.call({ type: "get" });
    await runInDurableObject(counter.stub, (instance) => {
      instance.sendAfter(1_000, { kind: "tick", label: "outside" }, { key: "o" });
    });
    expect(await runInDurableObject(counter.stub, (instance) => instance.timerDeadline("o"))).toBeGreaterThan(Date.now());
    await advanceClock(2_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:o:outside"]);
    expect(await runInDurableObject(counter.stub, (instance) => instance.timerDeadline("o"))).toBeNull();
  });

  it("commits a timer set by a callback while the turn before it was being written", async () => {
    const counter = counterOn(namespace, "while-committing");
    expect(await counter.call({ type: "timerWhileCommitting", ms: 1_000, key: "late", label: "late" })).toBe(1);
    await vi.waitFor(async () => expect(await counter.call({ type: "deadline", key: "late" })).not.toBeNull());
    await advanceClock(2_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:late:late"]);
  });

  it("keeps timers and state working after ctx.storage.deleteAll(), which wipes them with the rest", async () => {
    const counter = counterOn(namespace, "wiped");
    await counter.call({ type: "add", by: 2 });
    await counter.call({ type: "timer", ms: 5_000, key: "before", label: "before" });
    await runInDurableObject(counter.stub, (_i, state) => state.storage.deleteAll());
    expect(await counter.call({ type: "deadline", key: "before" })).toBeNull();
    expect(await armedAlarm(counter)).toBeNull();
    // The actor's state in memory is saved again by the next turn.
    expect(await counter.call({ type: "add", by: 1 })).toBe(3);
    await counter.call({ type: "timer", ms: 1_000, key: "after", label: "after" });
    await advanceClock(5_000, counter);
    await evict(counter);
    expect(await counter.call({ type: "get" })).toBe(3);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:after:after"]);
  });

  it("commits, after the wipe, the turn that calls ctx.storage.deleteAll() without awaiting it", async () => {
    const counter = counterOn(namespace, "wipe-unawaited");
    await counter.call({ type: "add", by: 2 });
    await counter.call({ type: "timer", ms: 5_000, key: "old", label: "old" });
    expect(await counter.call({ type: "reset" })).toBe(0);
    expect(await counter.call({ type: "deadline", key: "old" })).toBeNull();
    expect(await counter.call({ type: "deadline", key: "fresh" })).not.toBeNull();
    await evict(counter);
    expect(await counter.call({ type: "get" })).toBe(0);
    await advanceClock(5_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:fresh:after reset"]);
  });

  it("rolls a failed turn after ctx.storage.deleteAll() back to the last state, not to nothing", async () => {
    const counter = counterOn(namespace, "wiped-rollback");
    await counter.call({ type: "add", by: 2 });
    await runInDurableObject(counter.stub, (_i, state) => state.storage.deleteAll());
    await expect(counter.call({ type: "throw" })).rejects.toThrow();
    expect(await counter.call({ type: "get" })).toBe(2);
    await evict(counter);
    expect(await counter.call({ type: "get" })).toBe(2);
  });

  it("saves the state a stop keeps after ctx.storage.deleteAll(), though the stopping turn didn't change it", async () => {
    const counter = counterOn(namespace, "wiped-stop");
    await counter.call({ type: "add", by: 2 });
    await runInDurableObject(counter.stub, (_i, state) => state.storage.deleteAll());
    expect(await counter.call({ type: "stop", value: "bye" })).toBe("bye");
    await evict(counter);
    expect(await counter.call({ type: "get" })).toBe(2);
  });

  it("refuses a bad delay", async () => {
    const counter = counterOn(namespace, "bad-timer");
    await expect(counter.call({ type: "timer", ms: -5, label: "negative" })).rejects.toThrow(/finite delay ≥ 0 ms, got -5/);
    // Past what the platform's alarm can hold (it would refuse the alarm after the timer was stored).
    await expect(counter.call({ type: "timer", ms: Number.MAX_SAFE_INTEGER, label: "never" })).rejects.toThrow(/ends past 2262-04-11T23:47:16\.854Z, the latest time a Durable Object alarm/);
    expect(await counter.call({ type: "deadline", key: "never" })).toBeNull();
  });

  it("rounds a fractional delay up to the whole ms the alarm rings at", async () => {
    const counter = counterOn(namespace, "fraction");
    await counter.call({ type: "timer", ms: 1_500.5, key: "f", label: "fraction" });
    const deadline = await counter.call({ type: "deadline", key: "f" });
    expect(Number.isInteger(deadline)).toBe(true);
    expect(await armedAlarm(counter)).toBe(deadline);
  });

});

describe.each(backends)("A timer handleStart changes on the wake its own alarm caused (%s)", (_backend, namespace) => {
  /** handleStart runs on every wake (the guide's code_change): replaced here on the live instance, as a new deploy would. */
  const onStart = (counter: ReturnType<typeof counterOn>, change: (actor: TimerApi) => void) =>
    runInDurableObject(counter.stub, (instance) => {
      const actor = instance as unknown as TimerApi & { handleStart: () => unknown };
      actor.handleStart = () => {
        change(actor);
        return { kind: "noreply", state: undefined };
      };
    });

  it("never delivers a timer that handleStart cancelled", async () => {
    const counter = counterOn(namespace, "start-cancels");
    await counter.call({ type: "timer", ms: 1_000, key: "t", label: "cancelled on wake" });
    await hibernate(counter);
    await onStart(counter, (actor) => void actor.cancelTimer("t"));
    await advanceClock(2_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
  });

  it("delivers only the timer handleStart set again under the key, at its own time", async () => {
    const counter = counterOn(namespace, "start-rearms");
    await counter.call({ type: "timer", ms: 1_000, key: "heartbeat", label: "old" });
    await hibernate(counter);
    await onStart(counter, (actor) => actor.sendAfter(10_000, { kind: "tick", label: "new" }, { key: "heartbeat" }));
    await advanceClock(2_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual([]);
    await advanceClock(10_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:heartbeat:new"]);
  });
});

describe.each(backends)("Timers a stop cleared (%s)", (backend, namespace) => {
  it("don't start the actor again when the stop came earlier in the same alarm", async () => {
    const counter = counterOn(namespace, "stop-batch");
    await counter.call({ type: "timer", ms: 1_000, key: "a", label: "a" });
    await counter.call({ type: "timer", ms: 1_000, key: "b", label: "b" });
    await counter.call({ type: "continueOnStart", steps: "stop" });
    await hibernate(counter);
    // The alarm finds a and b due: a's wake starts the actor, whose handleStart continue stops it, clearing its timers.
    await advanceClock(1_000, counter);
    // Read from storage: a stopped actor answers no call without starting again.
    const { log } = (await savedState(counter.stub, backend)) as { log: string[] };
    expect(log.filter((entry) => entry === "start")).toHaveLength(1);
  });
});

interface TimerApi {
  cancelTimer(key: string): Promise<void>;
  sendAfter(ms: number, msg: unknown, options?: { key?: string }): string;
}

describe("Timers of a KV-backed object", () => {
  it("arms a lost alarm again when the object starts, so its timers still fire", async () => {
    const counter = counterOn(() => env.KV_COUNTER, "lost-alarm");
    await counter.call({ type: "timer", ms: 5_000, key: "t", label: "kept" });
    const deadline = await counter.call({ type: "deadline", key: "t" });
    await runInDurableObject(counter.stub, (_i, state) => state.storage.deleteAlarm());
    await evict(counter);
    await counter.call({ type: "get" });
    expect(await armedAlarm(counter)).toBe(deadline);
    await advanceClock(5_000, counter);
    expect(timeouts((await counter.call({ type: "state" })).log)).toEqual(["timeout:t:kept"]);
  });

  it("sets and clears more timers in one turn than one storage call may name (128)", async () => {
    const counter = counterOn(() => env.KV_COUNTER, "many-timers");
    await counter.call({ type: "get" });
    // Production's KV refuses a put or delete naming over 128 keys; local workerd doesn't check: count them here.
    await runInDurableObject(counter.stub, (_i, state) => {
      const transaction = state.storage.transaction.bind(state.storage);
      const checked = (txn: DurableObjectTransaction) =>
        new Proxy(txn, {
          get(target, property) {
            const value: unknown = Reflect.get(target, property);
            if (typeof value !== "function") return value;
            if (property !== "put" && property !== "delete") return value.bind(target);
            return (keys: unknown, ...rest: unknown[]) => {
              const count = Array.isArray(keys) ? keys.length : typeof keys === "object" && keys !== null ? Object.keys(keys).length : 1;
              if (count > 128) throw new RangeError(`Maximum number of keys is 128. ${count} were provided.`);
              return value.call(target, keys, ...rest);
            };
          },
        });
      state.storage.transaction = ((run: (txn: DurableObjectTransaction) => Promise<unknown>) => transaction((txn) => run(checked(txn)))) as typeof state.storage.transaction;
    });
    const timers = Array.from({ length: 300 }, (_, i) => ({ ms: 60_000 + i, key: `t${i}`, label: `${i}` }));
    expect(await counter.call({ type: "timers", timers })).toBe(300);
    expect(await counter.call({ type: "deadline", key: "t299" })).not.toBeNull();
    expect(await counter.call({ type: "stop", value: "bye" })).toBe("bye");
    expect(await armedAlarm(counter)).toBeNull();
    expect(await runInDurableObject(counter.stub, async (_i, state) => (await state.storage.list({ prefix: "genparty:timer:" })).size)).toBe(0);
  });
});
