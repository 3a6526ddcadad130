import { type AlarmApi, alarmTime, type Commit, PLATFORM_ALARM_TIMER, type Store, type Stored, type TimerOp, type TimerRow } from "./storage.js";

/** 2 MB per row is the SQLite backend's limit; leave room for the row's other columns. */
const MAX_SQLITE_STATE_BYTES = 2_000_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS _genparty_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _genparty_timers (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  due INTEGER NOT NULL,
  msg TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS _genparty_timers_due ON _genparty_timers (due, seq);
`;

type Row = Record<string, SqlStorageValue>;

/** What the platform's `exec` throws on a KV-backed class ("SQL is not enabled for this Durable Object class. …"). */
const NO_SQL = /SQL is not enabled/;

/** genparty's rows of the meta table: `name` and `state`, as stored. */
export type SqliteMeta = ReadonlyMap<string, string>;

function readMeta(sql: SqlStorage): SqliteMeta {
  const rows = sql.exec<{ key: string; value: string }>("SELECT key, value FROM _genparty_meta WHERE key IN ('name', 'state')").toArray();
  return new Map(rows.map((row) => [row.key, row.value]));
}

/**
 * The name and state an object saved, read by the first statement a start runs; undefined when
 * the object has no SQL (a KV-backed class, whose `exec` throws "SQL is not enabled"). The tables
 * are made when that read fails, not by every start: a probe plus the schema's `CREATE … IF NOT
 * EXISTS` were four statements more on every wake (bench/readings.md, "More samples"). A later change
 * to the schema must therefore be made by a migration that a start runs when it finds the old one.
 */
export function readSqliteMeta(storage: DurableObjectStorage): SqliteMeta | undefined {
  try {
    return readMeta(storage.sql);
  } catch (error) {
    // No SQL at all (a KV-backed class) says so: without this it would throw again below, on every wake.
    if (NO_SQL.test(String(error))) return undefined;
    // Else a new object (no tables yet).
  }
  try {
    storage.sql.exec(SCHEMA);
  } catch {
    return undefined;
  }
  return readMeta(storage.sql);
}

export class SqliteStore implements Store {
  readonly backend = "sqlite";
  readonly maxStateBytes = MAX_SQLITE_STATE_BYTES;

  /** SQLite keeps text as UTF-8. */
  stateBytes(json: string): number {
    return new TextEncoder().encode(json).byteLength;
  }
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;
  /** What the platform alarm is set to, so a turn that doesn't move the earliest deadline writes nothing. */
  #armed: number | null | undefined;
  /** Whether a genparty timer was ever stored here; read when first needed (a start with no alarm set never needs it). */
  #timedBefore: boolean | undefined;
  /**
   * Whether a platform alarm other code set could still be here, not adopted yet. Checked before
   * the first timer change or read, not at start: a start that reads the alarm (and so has to wait
   * under blockConcurrencyWhile) costs every wake ~0.1 ms (bench/readings.md, "Wake, on the same
   * workerd by hand").
   */
  #alarmUnchecked = true;
  #checking: Promise<void> | undefined;

  readonly #alarm: AlarmApi;
  /** What `readSqliteMeta` found when the store was made, for `open` (which drops it: the state may be large). */
  #saved: SqliteMeta | undefined;

  constructor(storage: DurableObjectStorage, alarm: AlarmApi, saved: SqliteMeta) {
    this.#storage = storage;
    this.#alarm = alarm;
    this.#sql = storage.sql;
    this.#saved = saved;
  }

  /** Synchronous: the object starts without blockConcurrencyWhile. */
  open(name: string | undefined): Stored {
    const meta = this.#saved ?? readMeta(this.#sql);
    this.#saved = undefined;
    if (name !== undefined && meta.get("name") !== name) {
      this.#sql.exec("INSERT OR REPLACE INTO _genparty_meta (key, value) VALUES ('name', ?)", name);
    }
    return { name: name ?? meta.get("name"), state: meta.get("state") };
  }

  commit(commit: Commit): Promise<void> | undefined {
    // The state alone is one statement, atomic by itself: no transaction to open (the common turn).
    if (commit.timers.length === 0) return this.#writeState(commit.state);
    // Even a cancel: with the armed alarm unknown, re-arming would delete another's alarm.
    const checking = this.#checkAlarm();
    if (checking) return checking.then(() => this.#commitTimers(commit));
    this.#commitTimers(commit);
    return undefined;
  }

  /**
   * Adopts an alarm other code left here (see `adoptAlarm`) before genparty's timers first touch
   * the alarm. An object that ever had a timer of its own skips the read: adoption can't happen.
   */
  #checkAlarm(): Promise<void> | undefined {
    if (!this.#alarmUnchecked) return undefined;
    if (this.#hasTimedBefore()) {
      this.#alarmUnchecked = false;
      return undefined;
    }
    // Cleared either way: a read that failed fails its turn, and the next timer change reads again.
    return (this.#checking ??= this.#alarm
      .get()
      .then(async (armed) => {
        if (this.#alarmUnchecked && armed !== null) await this.adoptAlarm(armed);
        this.#armed ??= armed;
        this.#alarmUnchecked = false;
      })
      .finally(() => {
        this.#checking = undefined;
      }));
  }

  #hasTimedBefore(): boolean {
    // AUTOINCREMENT's counter row exists from the first timer on, and stays when every timer is gone.
    return (this.#timedBefore ??= this.#sql.exec("SELECT 1 FROM sqlite_sequence WHERE name = '_genparty_timers'").toArray().length > 0);
  }

  #commitTimers(commit: Commit): void {
    this.#storage.transactionSync(() => {
      this.#writeState(commit.state);
      for (const op of commit.timers) this.#apply(op);
      if (commit.arm) this.#armSync();
    });
  }

  #writeState(state: string | null | undefined): undefined {
    // An upsert updates the row in place: one row written (the cursor's rowsWritten, what the
    // platform bills). REPLACE deletes and inserts it again: two. Locally REPLACE looks faster only in
    // a new object's first ~1,000 commits, while the log file grows (bench/readings.md, "Persisted acks").
    if (state === null) this.#sql.exec("DELETE FROM _genparty_meta WHERE key = 'state'");
    else if (state !== undefined) this.#sql.exec("INSERT INTO _genparty_meta (key, value) VALUES ('state', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", state);
    return undefined;
  }

  #apply(op: TimerOp): void {
    switch (op.op) {
      case "set":
        this.#sql.exec("INSERT OR REPLACE INTO _genparty_timers (key, due, msg, attempts) VALUES (?, ?, ?, 0)", op.key, op.due, op.msg);
        this.#timedBefore = true;
        return;
      case "cancel":
        this.#sql.exec("DELETE FROM _genparty_timers WHERE key = ?", op.key);
        return;
      case "fired":
        this.#sql.exec("DELETE FROM _genparty_timers WHERE key = ? AND seq = ?", op.key, op.seq);
        return;
      case "retry":
        this.#sql.exec("UPDATE _genparty_timers SET due = ?, attempts = attempts + 1 WHERE key = ? AND seq = ?", op.due, op.key, op.seq);
        return;
      case "clear":
        this.#sql.exec("DELETE FROM _genparty_timers");
        return;
      default:
        return unreachable(op);
    }
  }

  async due(now: number, limit: number): Promise<TimerRow[]> {
    return this.#sql
      .exec<Row>("SELECT key, seq, due, msg, attempts FROM _genparty_timers WHERE due <= ? ORDER BY due, seq LIMIT ?", now, limit)
      .toArray()
      .map(toTimerRow);
  }

  async timer(key: string): Promise<TimerRow | undefined> {
    // An alarm left by other code reads as the timer it will be adopted as.
    await this.#checkAlarm();
    const rows = this.#sql.exec<Row>("SELECT key, seq, due, msg, attempts FROM _genparty_timers WHERE key = ?", key).toArray();
    return rows[0] && toTimerRow(rows[0]);
  }

  async arm(notBefore?: number): Promise<void> {
    this.#armSync(notBefore);
  }

  alarmFired(): void {
    this.#armed = undefined;
    // The alarm that fired was the only one; an alarm that finds nothing due adopts it (see ActorRuntime.alarm).
    this.#alarmUnchecked = false;
  }

  async adoptAlarm(time: number): Promise<boolean> {
    if (this.#hasTimedBefore()) return false;
    // The platform alarm stays as it is: it already rings at this timer's deadline.
    this.#apply({ op: "set", key: PLATFORM_ALARM_TIMER, due: time, msg: "null" });
    return true;
  }

  wiped(deleting: Promise<void>, name: string | undefined): Promise<void> {
    // The platform empties the database before deleteAll() returns: the tables are made again at
    // once, so a turn that didn't await it still commits.
    this.#recreate(name);
    return deleting;
  }

  #recreate(name: string | undefined): void {
    this.#sql.exec(SCHEMA);
    if (name !== undefined) this.#sql.exec("INSERT OR REPLACE INTO _genparty_meta (key, value) VALUES ('name', ?)", name);
    this.#timedBefore = undefined;
    this.#armed = undefined;
    this.#alarmUnchecked = false;
    this.#armSync();
  }

  #armSync(notBefore?: number): void {
    const next = alarmTime(this.#sql.exec<{ due: number | null }>("SELECT MIN(due) AS due FROM _genparty_timers").one().due, notBefore);
    if (next === this.#armed) return;
    // Not awaited: inside transactionSync the alarm write joins the transaction.
    if (next === null) void this.#alarm.delete();
    else void this.#alarm.set(next);
    this.#armed = next;
  }
}

function toTimerRow(row: Row): TimerRow {
  return {
    key: String(row.key),
    seq: Number(row.seq),
    due: Number(row.due),
    msg: String(row.msg),
    attempts: Number(row.attempts),
  };
}

export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
