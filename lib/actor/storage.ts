import { KvStore } from "./kv-store.js";
import { readSqliteMeta, SqliteStore } from "./sqlite-store.js";

/**
 * The timer that stands for a platform alarm genparty's timers didn't set. In an object that
 * never had a genparty timer, an alarm can only come from the code that ran there before (a
 * partyserver class moved to genparty, a raw Durable Object): it is kept as this timer, found when
 * the store first needs the alarm (KV at start, SQLite before its first timer change or read) or
 * when it fires, and arrives as `handleInfo({ type: "timeout", key, msg: null })` instead of being
 * dropped. The hooks layer maps `ctx.storage.setAlarm` onto the same key.
 */
export const PLATFORM_ALARM_TIMER = "genparty:alarm";

/** One durable timer: a row of the timers table. */
export interface TimerRow {
  readonly key: string;
  /** Generation: a re-armed key gets a new, larger seq, so a stale fire can be told apart. */
  readonly seq: number;
  /** Deadline, epoch milliseconds. */
  readonly due: number;
  /** The message, as JSON text. */
  readonly msg: string;
  /** Deliveries that threw so far. */
  readonly attempts: number;
}

export type TimerOp =
  | { readonly op: "set"; readonly key: string; readonly due: number; readonly msg: string }
  | { readonly op: "cancel"; readonly key: string }
  | { readonly op: "fired"; readonly key: string; readonly seq: number }
  | { readonly op: "retry"; readonly key: string; readonly seq: number; readonly due: number }
  | { readonly op: "clear" };

/** Everything one turn changes, written in one storage transaction. */
export interface Commit {
  /** New state as JSON text; `null` erases it; `undefined` leaves it as it is. */
  readonly state?: string | null;
  readonly timers: readonly TimerOp[];
  /** Re-arm the object's alarm to the earliest deadline. Off while the alarm handler runs; it re-arms at its end. */
  readonly arm: boolean;
}

export interface Stored {
  readonly name: string | undefined;
  readonly state: string | undefined;
}

/**
 * The actor's durable data: state, name and timers. Two backends with one contract:
 * SQLite-backed objects (`new_sqlite_classes`) use tables and synchronous transactions;
 * legacy KV-backed objects (`new_classes`) use keys and `storage.transaction`.
 */
export interface Store {
  readonly backend: "sqlite" | "kv";
  /** Largest state, in bytes as stored, that one value may hold on this backend. */
  readonly maxStateBytes: number;
  /** The bytes the state's JSON takes as this backend stores it. */
  stateBytes(json: string): number;
  /** Loads the name and state; stores `name` when it is known and not stored yet. SQLite does it synchronously. */
  open(name: string | undefined): Stored | Promise<Stored>;
  /** Writes a turn's changes atomically; SQLite does it synchronously (no promise), so the turn can stay synchronous. */
  commit(commit: Commit): Promise<void> | undefined;
  /** Timers due at `now`, in deadline order (ties in creation order). */
  due(now: number, limit: number): Promise<TimerRow[]>;
  timer(key: string): Promise<TimerRow | undefined>;
  /** Sets the alarm to the earliest deadline (but not before `notBefore`), or deletes it when no timer is left. */
  arm(notBefore?: number): Promise<void>;
  /** Forgets what the platform's alarm is set to (it is consumed when it fires). */
  alarmFired(): void;
  /**
   * Keeps a platform alarm due at `time` as the timer {@link PLATFORM_ALARM_TIMER}, if this object
   * never had a genparty timer (so the alarm isn't genparty's). True if it did. The store calls it
   * for an alarm it finds set (KV at open, SQLite before its first timer change or read); the alarm
   * handler, for one that fires with no timer due.
   */
  adoptAlarm(time: number): Promise<boolean>;
  /**
   * The object's storage is being wiped (`ctx.storage.deleteAll()`, called, `deleting` until done):
   * state, name and timers go. Makes the store usable again (SQLite's tables), stores `name` again,
   * and deletes the alarm, which has no timer left to ring for, before any later commit.
   */
  wiped(deleting: Promise<void>, name: string | undefined): Promise<void>;
}

/**
 * The platform alarm, captured when the object is built: adapters may wrap `ctx.storage.setAlarm`
 * for user code (the hooks layer maps it onto a timer), and the runtime must not call the wrapper.
 */
export interface AlarmApi {
  get(): Promise<number | null>;
  set(time: number): Promise<void>;
  delete(): Promise<void>;
}

/** The alarm time for the earliest deadline `earliest` (null: no timer), put off to `notBefore` if given. */
export function alarmTime(earliest: number | null, notBefore: number | undefined): number | null {
  return earliest === null || notBefore === undefined ? earliest : Math.max(earliest, notBefore);
}

export function alarmApi(storage: DurableObjectStorage): AlarmApi {
  const get = storage.getAlarm.bind(storage);
  const set = storage.setAlarm.bind(storage);
  const remove = storage.deleteAlarm.bind(storage);
  return { get: () => get(), set: (time) => set(time), delete: () => remove() };
}

/**
 * Tells the store when user code wipes storage with `ctx.storage.deleteAll()`: it takes genparty's
 * own tables and keys with it, and every later turn would fail on them.
 */
export function watchDeleteAll(storage: DurableObjectStorage, wiped: (deleting: Promise<void>) => Promise<void>): void {
  const deleteAll = storage.deleteAll.bind(storage);
  Object.defineProperty(storage, "deleteAll", {
    configurable: true,
    writable: true,
    // Told at the call, not once it resolves: a turn that doesn't await it commits right after.
    value: (options?: DurableObjectPutOptions) => wiped(deleteAll(options)),
  });
}

export function openStore(storage: DurableObjectStorage, alarm: AlarmApi): Store {
  const saved = readSqliteMeta(storage);
  return saved ? new SqliteStore(storage, alarm, saved) : new KvStore(storage, alarm);
}
