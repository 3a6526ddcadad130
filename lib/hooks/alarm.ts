import { PLATFORM_ALARM_TIMER } from "../actor/storage.js";

/**
 * The timer that stands for the platform alarm a Server sets through `ctx.storage.setAlarm`: the
 * one that also keeps an alarm set by the code that ran before genparty, so it reaches onAlarm.
 */
export const ALARM_TIMER_KEY = PLATFORM_ALARM_TIMER;

interface TimerApi {
  now(): number;
  sendAfter(ms: number, msg: null, options: { key: string }): string;
  cancelTimer(key: string): Promise<void>;
  timerDeadline(key: string): Promise<number | null>;
}

/**
 * An object has one alarm, and genparty's timers use it. So that partyserver code calling
 * `this.ctx.storage.setAlarm/getAlarm/deleteAlarm` doesn't overwrite them, those calls become a
 * keyed timer whose firing runs `onAlarm`. (`setAlarm` inside `storage.transaction` is not mapped.)
 */
export function mapAlarmsOntoTimers(storage: DurableObjectStorage, timers: TimerApi): void {
  const define = (name: "setAlarm" | "getAlarm" | "deleteAlarm", value: (...args: never[]) => Promise<unknown>) =>
    Object.defineProperty(storage, name, { configurable: true, writable: true, value });
  // Alarm times are Date.now() times, as partyserver code writes them; timers run on genparty's
  // clock, which only `advanceClock` in a spec moves away from Date.now(). Measured from Date.now(),
  // an alarm re-armed "a minute from now" in onAlarm is a minute ahead on the moved clock too.
  const ahead = () => timers.now() - Date.now();
  define("setAlarm", async (time: number | Date) => {
    const due = typeof time === "number" ? time : time.getTime();
    timers.sendAfter(Math.max(0, due - Date.now()), null, { key: ALARM_TIMER_KEY });
    // Read back in mailbox order: resolves once the timer is stored, as setAlarm does once the alarm is.
    await timers.timerDeadline(ALARM_TIMER_KEY);
  });
  define("getAlarm", async () => {
    const deadline = await timers.timerDeadline(ALARM_TIMER_KEY);
    return deadline === null ? null : deadline - ahead();
  });
  define("deleteAlarm", () => timers.cancelTimer(ALARM_TIMER_KEY));
}
