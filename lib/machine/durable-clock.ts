import type { ActorOptions, AnyActorLogic, AnyActorRef, EventObject } from "xstate";

type Clock = NonNullable<ActorOptions<AnyActorLogic>["clock"]>;

/** A delayed event waiting on genparty's timers table, kept in the room's state beside the snapshot. */
export interface SavedDelay {
  /** Deadline, epoch ms on the runtime's clock. */
  readonly due: number;
  readonly event: EventObject;
}

interface ClockHost {
  now(): number;
  arm(key: string, ms: number): void;
  disarm(key: string): void;
}

/** Timer keys of machine delays, so the room tells them from its own timers. */
export const DELAY_KEY_PREFIX = "xstate:";

interface Scheduling {
  readonly source: AnyActorRef;
  readonly target: AnyActorRef;
  readonly event: EventObject;
  readonly id: string;
}

/**
 * xstate's clock, on genparty's durable timers. xstate keeps pending delays in memory only and does
 * not persist them (statelyai/xstate#5331), so `after` transitions would be lost on eviction. This
 * clock learns which event a `setTimeout` is for (it wraps the scheduler, which calls the clock
 * synchronously), stores `{id, due, event}` with the room's state, arms a keyed genparty timer, and
 * on restore registers the saved delays with xstate again under their original deadlines, so a
 * state exit still cancels them. A delay fires exactly once: its timer row is deleted in the turn
 * that delivers it.
 */
export class DurableClock implements Clock {
  readonly delays = new Map<string, SavedDelay>();
  readonly #host: ClockHost;
  readonly #callbacks = new Map<string, () => void>();
  #root: AnyActorRef | undefined;
  #scheduling: Scheduling | undefined;
  /** While restoring, the timer rows exist already: only bind xstate's callbacks to them. */
  #restoring = false;
  /** A replaced actor's clock: stopping that actor must not cancel the delays its successor owns. */
  #detached = false;

  constructor(host: ClockHost, saved: Record<string, SavedDelay> = {}) {
    this.#host = host;
    for (const [id, delay] of Object.entries(saved)) this.delays.set(id, delay);
  }

  /** Hooks into the actor's scheduler before it starts; then re-registers the saved delays. */
  attach(root: AnyActorRef): void {
    this.#root = root;
    const scheduler = root.system.scheduler;
    const schedule = scheduler.schedule.bind(scheduler);
    scheduler.schedule = (source, target, event, delay, id) => {
      const resolvedId = id ?? `delay.${crypto.randomUUID()}`;
      this.#scheduling = { source, target, event, id: resolvedId };
      try {
        schedule(source, target, event, delay, resolvedId);
      } finally {
        this.#scheduling = undefined;
      }
    };
  }

  /** Registers the saved delays with the (restored, started) actor, keeping their deadlines; their timers are set already. */
  restore(): void {
    if (!this.#root) return;
    this.#restoring = true;
    try {
      for (const [id, delay] of this.delays) {
        const ms = Math.max(0, delay.due - this.#host.now());
        this.#root.system.scheduler.schedule(this.#root, this.#root, delay.event, ms, id);
      }
    } finally {
      this.#restoring = false;
    }
  }

  /** Cuts this clock off the timers, before its actor is stopped and replaced by a restored one. */
  detach(): void {
    this.#detached = true;
    this.#callbacks.clear();
  }

  setTimeout(fn: () => void, timeout: number): unknown {
    if (this.#detached) return undefined;
    const scheduling = this.#scheduling;
    // Delays of child actors have no stable identity across restarts: they stay in memory (documented).
    if (!scheduling || scheduling.source !== this.#root || scheduling.target !== this.#root) return setTimeout(fn, timeout);
    const { id, event } = scheduling;
    this.#callbacks.set(id, fn);
    if (!this.#restoring) {
      this.delays.set(id, { due: this.#host.now() + timeout, event: toJson(event) });
      this.#host.arm(DELAY_KEY_PREFIX + id, timeout);
    }
    return { durable: id };
  }

  clearTimeout(handle: unknown): void {
    if (this.#detached) return;
    const id = (handle as { durable?: string } | null)?.durable;
    if (id === undefined) return clearTimeout(handle as ReturnType<typeof setTimeout>);
    this.#callbacks.delete(id);
    this.delays.delete(id);
    // A machine that threw is stopped, which cancels its delays; but the room goes back to its saved
    // state, whose delays these are. Between turns nothing would roll that cancel back.
    if ((this.#root?.getSnapshot() as { status?: string } | undefined)?.status === "error") return;
    this.#host.disarm(DELAY_KEY_PREFIX + id);
  }

  /** The timer of a delay came due: deliver its event through xstate, once. */
  fire(key: string): boolean {
    const id = key.slice(DELAY_KEY_PREFIX.length);
    const fn = this.#callbacks.get(id);
    this.#callbacks.delete(id);
    this.delays.delete(id);
    if (!fn) return false;
    fn();
    return true;
  }

  toJSON(): Record<string, SavedDelay> {
    return Object.fromEntries(this.delays);
  }
}

/** Delayed events are stored as JSON; what JSON can't hold is dropped (the event type always survives). */
function toJson(event: EventObject): EventObject {
  return JSON.parse(JSON.stringify(event)) as EventObject;
}
