import { unreachable } from "./sqlite-store.js";
import { type AlarmApi, alarmTime, type Commit, PLATFORM_ALARM_TIMER, type Store, type Stored, type TimerOp, type TimerRow } from "./storage.js";

/** 128 KiB per value is the KV backend's limit. */
const MAX_KV_STATE_BYTES = 131_072;

const ABOVE_LATIN1 = /[^\u0000-\u00ff]/;
/** Keys one `put(entries)` or `delete(keys)` may name (workerd enforces it in production, not locally). */
const MAX_KEYS_PER_CALL = 128;

const NAME = "genparty:name";
const STATE = "genparty:state";
const SEQ = "genparty:seq";
const TIMER = "genparty:timer:";

/**
 * Legacy KV-backed objects have no SQL, so timers are keys, mirrored in memory to find the
 * earliest deadline without a listing per turn. Meant for the modest timer counts such rooms have.
 */
export class KvStore implements Store {
  readonly backend = "kv";
  readonly maxStateBytes = MAX_KV_STATE_BYTES;

  /**
   * KV stores the string as V8 serializes it: one byte per character when each is below U+0100,
   * else two per UTF-16 unit (so one emoji doubles a long state's size, and "中" takes two, not three).
   */
  stateBytes(json: string): number {
    return ABOVE_LATIN1.test(json) ? json.length * 2 : json.length;
  }
  readonly #storage: DurableObjectStorage;
  #timers = new Map<string, TimerRow>();
  #seq = 0;
  #armed: number | null | undefined;
  /**
   * The last write in flight. Writes run one after another: the alarm re-arms (and adopts) outside
   * the mailbox, and a commit still awaiting its transaction hasn't put its timers in #timers yet.
   */
  #writing: Promise<unknown> = Promise.resolve();

  readonly #alarm: AlarmApi;

  constructor(storage: DurableObjectStorage, alarm: AlarmApi) {
    this.#storage = storage;
    this.#alarm = alarm;
  }

  async open(name: string | undefined): Promise<Stored> {
    // One round of reads, not three after each other: each is a storage round trip on a cold start.
    const [meta, timers, armed] = await Promise.all([
      this.#storage.get<string | number>([NAME, STATE, SEQ]),
      this.#storage.list<TimerRow>({ prefix: TIMER }),
      this.#alarm.get(),
    ]);
    this.#timers = new Map([...timers.values()].map((row) => [row.key, row]));
    this.#seq = Number(meta.get(SEQ) ?? 0);
    const stored = meta.get(NAME);
    if (name !== undefined && stored !== name) await this.#storage.put(NAME, name);
    this.#armed = armed;
    if (this.#armed !== null) await this.adoptAlarm(this.#armed);
    // Timers with no alarm to ring them (lost to a failed write, say) are armed again. Free here, where
    // the timers are read at every start anyway; SQLite writes the alarm in the timers' own transaction.
    else if (this.#timers.size > 0) await this.arm();
    const state = meta.get(STATE);
    return { name: name ?? (typeof stored === "string" ? stored : undefined), state: typeof state === "string" ? state : undefined };
  }

  commit(commit: Commit): Promise<void> {
    return this.#serially(() => this.#commit(commit));
  }

  async #commit(commit: Commit): Promise<void> {
    const timers = new Map(this.#timers);
    let seq = this.#seq;
    const writes = new Map<string, TimerRow>();
    const deletes = new Set<string>();
    const put = (row: TimerRow) => {
      timers.set(row.key, row);
      writes.set(row.key, row);
      deletes.delete(row.key);
    };
    const remove = (key: string) => {
      timers.delete(key);
      writes.delete(key);
      deletes.add(key);
    };
    const apply = (op: TimerOp): void => {
      const current = "key" in op ? timers.get(op.key) : undefined;
      switch (op.op) {
        case "set":
          put({ key: op.key, seq: ++seq, due: op.due, msg: op.msg, attempts: 0 });
          return;
        case "cancel":
          if (current) remove(op.key);
          return;
        case "fired":
          if (current?.seq === op.seq) remove(op.key);
          return;
        case "retry":
          if (current?.seq === op.seq) put({ ...current, due: op.due, attempts: current.attempts + 1 });
          return;
        case "clear":
          for (const key of timers.keys()) remove(key);
          return;
        default:
          return unreachable(op);
      }
    };
    commit.timers.forEach(apply);
    const next = earliest(timers);
    await this.#storage.transaction(async (txn) => {
      if (commit.state === null) await txn.delete(STATE);
      else if (commit.state !== undefined) await txn.put(STATE, commit.state);
      // The platform takes at most 128 keys a call (a stop clears every timer at once).
      for (const part of inParts([...writes], MAX_KEYS_PER_CALL)) await txn.put(Object.fromEntries(part.map(([key, row]) => [TIMER + key, row])));
      for (const part of inParts([...deletes], MAX_KEYS_PER_CALL)) await txn.delete(part.map((key) => TIMER + key));
      if (seq !== this.#seq) await txn.put(SEQ, seq);
      if (commit.arm && next !== this.#armed) {
        if (next === null) await txn.deleteAlarm();
        else await txn.setAlarm(next);
      }
    });
    this.#timers = timers;
    this.#seq = seq;
    if (commit.arm) this.#armed = next;
  }

  async due(now: number, limit: number): Promise<TimerRow[]> {
    return [...this.#timers.values()]
      .filter((row) => row.due <= now)
      .sort((a, b) => a.due - b.due || a.seq - b.seq)
      .slice(0, limit);
  }

  async timer(key: string): Promise<TimerRow | undefined> {
    return this.#timers.get(key);
  }

  arm(notBefore?: number): Promise<void> {
    return this.#serially(() => this.#arm(notBefore));
  }

  async #arm(notBefore?: number): Promise<void> {
    const next = alarmTime(earliest(this.#timers), notBefore);
    if (next === this.#armed) return;
    if (next === null) await this.#alarm.delete();
    else await this.#alarm.set(next);
    this.#armed = next;
  }

  /** Runs `write` after the write in flight, whether that one succeeded or not. */
  #serially<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#writing.then(write, write);
    this.#writing = run.catch(() => undefined);
    return run;
  }

  wiped(deleting: Promise<void>, name: string | undefined): Promise<void> {
    // In line with the writes: a commit made after deleteAll() was called waits for it, and writes after it.
    return this.#serially(async () => {
      await deleting;
      this.#timers = new Map();
      this.#seq = 0;
      if (name !== undefined) await this.#storage.put(NAME, name);
      this.#armed = undefined;
      await this.#arm();
    });
  }

  alarmFired(): void {
    this.#armed = undefined;
  }

  adoptAlarm(time: number): Promise<boolean> {
    return this.#serially(() => this.#adoptAlarm(time));
  }

  async #adoptAlarm(time: number): Promise<boolean> {
    // Timers are numbered from 1 and the count is stored with them: 0 means none was ever set here.
    if (this.#seq > 0) return false;
    const row: TimerRow = { key: PLATFORM_ALARM_TIMER, seq: 1, due: time, msg: "null", attempts: 0 };
    await this.#storage.put({ [TIMER + row.key]: row, [SEQ]: row.seq });
    this.#timers.set(row.key, row);
    this.#seq = row.seq;
    return true;
  }
}

function earliest(timers: Map<string, TimerRow>): number | null {
  let min: number | null = null;
  for (const row of timers.values()) if (min === null || row.due < min) min = row.due;
  return min;
}

/** `items` cut into runs of at most `size`. */
function inParts<T>(items: readonly T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}
