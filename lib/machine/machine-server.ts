import { type Actor as XStateActor, type AnyStateMachine, createActor, type EventFromLogic, type SnapshotFrom } from "xstate";
import { Actor, broadcastFrame, runtimeOf, sendFrame } from "../actor/actor.js";
import { logError } from "../actor/runtime-errors.js";
import { type CallResult, type CastResult, type NoReply, noreply, reply } from "../actor/results.js";
import { StateNotSerializableError } from "../actor/errors.js";
import { serializeState } from "../actor/state-json.js";
import type { Call, CastOrigin, From, Info, Json } from "../actor/types.js";
import type { Connection } from "../connections/connection.js";
import { encodeFrame } from "../protocol/frames.js";
import { toWire } from "../protocol/errors.js";
import { DELAY_KEY_PREFIX, DurableClock } from "./durable-clock.js";
import { InterruptedActorError, MachineVersionError, UnknownEventError } from "./errors.js";
import { checkMachine, interruptedChildren, type MachineState, plainErrors, withoutChildren } from "./snapshot.js";

/** What a subclass declares. */
interface MachineStatics {
  readonly name: string;
  readonly machine: AnyStateMachine;
  readonly version: number;
  readonly migrate?: (snapshot: unknown, fromVersion: number) => unknown;
}

const checkedClasses = new WeakSet<object>();

/** Events only the server sends (on socket connect and close); a client sending one is refused. */
const SERVER_EVENTS = new Set(["connect", "disconnect"]);

/** Why invoked work the saved snapshot lists as running stopped: a restart, or a rebuild after a failed turn (`#ensure`). */
type Interruption = "restart" | "rebuild";

const INTERRUPTED_BECAUSE: Record<Interruption, string> = {
  restart: "the room restarted while it ran",
  rebuild:
    "a turn failed after the machine had moved (a guard or action threw, and xstate stops a machine that throws), so the room went back to its last saved state without the work running then",
};

/** The timer that, a grace period after a restart, tells the machine of connections the restart dropped. */
const LOST_KEY = "genparty:lost-connections";

/** A turn with no event: it saves and pushes what changed in the machine meanwhile (a promise settled). */
const SYNC = { type: "genparty.sync" } as const;

/**
 * A room driven by an xstate machine: one xstate actor per room, its snapshot saved with each turn,
 * its `after` delays on genparty's durable timers, so a game or workflow continues in the same
 * state, with the same context and the same deadlines, after hibernation and eviction.
 *
 * @example
 * type GameView = { value: string; board: string[] };
 * export class Game extends MachineServer<Env, typeof gameMachine, GameView> {
 *   static override machine = gameMachine;
 *   override project(snapshot: SnapshotFrom<typeof gameMachine>, connection?: Connection): GameView {
 *     return { value: snapshot.value as string, board: snapshot.context.board };
 *   }
 * }
 * // a typed client's or ref's call answers with a GameView
 *
 * Events come from clients (`cast`, `call`, or a JSON text frame with a string `type`) and RPC; an
 * event from a socket carries `connection` (the sender's connection id) for guards and actions,
 * set by the server so a client can't pretend to be another. A call replies with the caller's view
 * of the resulting state. Connections get their view as a push frame `{ type: "state", state }`
 * on connect and whenever it changes. A machine that names `connect` / `disconnect` events gets
 * them when a socket connects or closes (with `connection` set), e.g. to free a player's seat.
 */
export abstract class MachineServer<Env = Cloudflare.Env, M extends AnyStateMachine = AnyStateMachine, View extends Json = Json> extends Actor<
  Env,
  MachineState,
  // A call answers with the caller's view: `View`, what `project` returns.
  Call<EventFromLogic<M>, View>,
  EventFromLogic<M>
> {
  /** The machine, made with `setup({ actors, … }).createMachine(…)`. */
  static machine: AnyStateMachine;
  /** Bump when a change to the machine makes old snapshots unfit; pair it with `static migrate`. */
  static version = 1;
  /**
   * A restart (a deploy, an eviction) drops sockets without a close. When the machine names
   * `disconnect`, a connection that hasn't come back this long after the restart gets its
   * `disconnect`; one that reconnects sooner gets only its `connect`, as a reload does.
   */
  static disconnectGraceMs = 10_000;

  #xstate: XStateActor<M> | undefined;
  #clock: DurableClock | undefined;
  /** Connections the machine was told of and not told left (`MachineState.present`), when it names `disconnect`. */
  #present = new Set<string>();
  /** `MachineState.disconnectAt`: the end of the grace period under way, if one is. */
  #disconnectAt: number | undefined;
  /** The state this instance returned last: anything else means a turn rolled back and the actor must be rebuilt. */
  #current: MachineState | undefined;
  /** `#current` as JSON, the text handed to the commit. */
  #currentJson: string | undefined;
  /**
   * Whether a turn may have moved the xstate actor since `#current` was taken (an event reached it, a
   * boot). A change between turns doesn't count: the actor holds it rightly, and a sync turn saves it.
   */
  #moved = true;
  /** What the machine threw between turns (an action run for settled invoked work), until the next turn deals with it. */
  #failedBetweenTurns: { error: unknown } | undefined;
  /** The view each connection was sent last, to send only changes; cleared at a boot (see `#bootSnapshot`). */
  readonly #sent = new Map<string, string>();
  /**
   * The snapshot restored at the last boot, until every connection has a `#sent` entry: what a
   * connection without one saw last (it connected before a wake, or before a rebuild), worked out
   * only when the state next changes, so a wake stays O(1) in the number of sockets.
   */
  #bootSnapshot: SnapshotFrom<M> | undefined;
  /** True while one of this class's handlers runs: machine changes then are saved by that turn. */
  #inTurn = false;
  #syncQueued = false;
  /** The snapshot (as JSON) the connections' views were last computed from. */
  #viewsOf: string | undefined;
  /** With the default `project` every connection sees the same view: computed, encoded and compared once per change. */
  readonly #sharedView: boolean;
  /** That one view, as last pushed to every connection. */
  #lastView: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const statics = this.#statics;
    if (!checkedClasses.has(statics)) {
      if (!statics.machine) throw new TypeError(`${statics.name} extends MachineServer but sets no static machine.`);
      checkMachine(statics.machine, statics.name);
      checkedClasses.add(statics);
    }
    this.#sharedView = this.project === MachineServer.prototype.project;
  }

  /**
   * What `connection` (or an RPC caller, when undefined) sees of the state: sent to connections and
   * returned by calls. Override it to hide what a player must not see. It must depend only on the
   * snapshot and the connection: views are recomputed when the snapshot changes. @default value, context, status
   */
  project(snapshot: SnapshotFrom<M>, connection?: Connection): View {
    void connection;
    const { value, context, status } = snapshot as { value: Json; context: Json; status: string };
    // The default view; a class that names its own `View` returns it from its own `project`.
    return { value, context, status } as Json as View;
  }

  /** The running xstate actor, e.g. to read `getSnapshot()` outside a turn. */
  get machineActor(): XStateActor<M> | undefined {
    return this.#xstate;
  }

  // ── the actor underneath ─────────────────────────────────────────────────────

  init(): MachineState {
    return { version: this.#statics.version, snapshot: null, delays: {} };
  }

  override handleStart(state: MachineState, props: unknown): NoReply<MachineState> {
    return this.#turn(() => {
      this.#boot(state, props);
      // Sockets a restart dropped closed unseen: give them the grace period to come back. Once: a
      // wake during it (an idle room hibernates) leaves the deadline where it is.
      if (this.#disconnectAt === undefined && this.#lost().length > 0) {
        const grace = (this.constructor as typeof MachineServer).disconnectGraceMs;
        this.#disconnectAt = this.now() + grace;
        this.sendAfter(grace, null, { key: LOST_KEY });
      }
      return noreply(this.#changed());
    });
  }

  override handleCast(event: EventFromLogic<M>, state: MachineState, origin: CastOrigin): CastResult<MachineState> {
    return this.#turn(() => {
      this.#ensure(state);
      if (origin.type === "rpc" && (event as { type?: unknown }).type === SYNC.type) {
        this.#syncQueued = false;
        this.#checkHealthy();
      } else {
        this.#send(event, origin.type === "socket" ? origin.connection.id : undefined, origin.type === "socket");
      }
      return noreply(this.#changed());
    });
  }

  override handleCall(event: EventFromLogic<M>, from: From, state: MachineState): CallResult<never, MachineState> {
    return this.#turn(() => {
      this.#ensure(state);
      const connection = from.type === "socket" ? this.getConnection(from.connection) : undefined;
      this.#send(event, from.type === "socket" ? from.connection : undefined, from.type === "socket");
      const next = this.#changed();
      // A View (the reply type of every call) that TypeScript can't see through the generic machine type.
      return reply(this.project(this.#snapshot(), connection) as never, next);
    });
  }

  override handleInfo(info: Info, state: MachineState): CastResult<MachineState> {
    return this.#turn(() => this.#info(info, state));
  }

  #info(info: Info, state: MachineState): CastResult<MachineState> {
    this.#ensure(state);
    switch (info.type) {
      case "connect":
        if (this.#accepts("disconnect", false)) this.#present.add(info.connection.id);
        // Opt-in: a machine that names a "connect" event hears of connections (with `connection` set).
        if (this.#accepts("connect", false)) this.#send({ type: "connect" }, info.connection.id);
        this.#sendView(info.connection, true);
        return noreply(this.#changed());
      case "message":
        this.#receiveFrame(info.connection, info.data);
        return noreply(this.#changed());
      case "timeout":
        if (info.key === LOST_KEY) {
          this.#disconnectAt = undefined;
          for (const id of this.#lost()) this.#disconnected(id);
        } else if (info.key.startsWith(DELAY_KEY_PREFIX)) {
          this.#moved = true;
          this.#clock?.fire(info.key);
          this.#checkHealthy();
        }
        return noreply(this.#changed());
      case "close":
        this.#sent.delete(info.connection.id);
        // A reload or reconnect with the same id is not a player leaving: the new socket's connect follows.
        if (!info.replaced && this.#accepts("disconnect", false)) this.#disconnected(info.connection.id);
        return noreply(this.#changed());
      case "error":
      case "self":
        return noreply();
    }
  }

  // ── machine plumbing ─────────────────────────────────────────────────────────

  #disconnected(id: string): void {
    this.#present.delete(id);
    this.#send({ type: "disconnect" }, id);
  }

  /** Connections the machine thinks present that have no socket now (dropped by a restart, unseen). */
  #lost(): string[] {
    if (this.#present.size === 0) return [];
    // A machine version that no longer names `disconnect` has nobody to tell.
    if (!this.#accepts("disconnect", false)) {
      this.#present.clear();
      return [];
    }
    const live = new Set(this.getConnections().map((connection) => connection.id));
    return [...this.#present].filter((id) => !live.has(id));
  }

  #turn<T>(run: () => T): T {
    this.#inTurn = true;
    try {
      return run();
    } catch (error) {
      // The turn rolls back to the state committed before it, which an immutable state hands back
      // as the very object `#current` holds: forget it, so `#ensure` checks whether the machine moved.
      this.#current = undefined;
      throw error;
    } finally {
      this.#inTurn = false;
    }
  }

  /** The machine changed between turns (an invoked promise settled): queue a turn that saves and pushes it. */
  #changedOutsideTurn(): void {
    if (this.#inTurn || this.#syncQueued) return;
    this.#syncQueued = true;
    runtimeOf(this).castSelf(SYNC);
  }

  get #statics(): MachineStatics {
    return this.constructor as unknown as MachineStatics;
  }

  /**
   * Creates the xstate actor: fresh (with `props` as input) or restored, with its delays
   * re-registered. Invoked work the snapshot lists as running can't resume: `interruptedBy` says
   * why, for the error each child's `onError` gets (false: report nothing).
   */
  #boot(state: MachineState, props: unknown, interruptedBy: Interruption | false = "restart"): void {
    this.#moved = true;
    const statics = this.#statics;
    let snapshot = state.snapshot;
    if (snapshot !== null && state.version !== statics.version) {
      if (!statics.migrate) {
        throw new MachineVersionError(
          `${statics.name}:${this.name}: the saved snapshot was made by machine version ${state.version}, this is version ${statics.version}. Add static migrate(snapshot, fromVersion) to carry it over, or clear the room.`,
        );
      }
      snapshot = statics.migrate(snapshot, state.version);
      if (typeof snapshot !== "object" || snapshot === null) {
        throw new MachineVersionError(
          `${statics.name}:${this.name}: migrate(snapshot, ${state.version}) returned ${snapshot === null ? "null" : typeof snapshot}; return the migrated snapshot (an edit in place still needs \`return snapshot\`). The saved snapshot is left as it was.`,
        );
      }
    }
    const interrupted = snapshot === null || !interruptedBy ? [] : interruptedChildren(snapshot, statics.machine);
    this.#clock?.detach();
    this.#xstate?.stop();
    const clock = new DurableClock(
      { now: () => this.now(), arm: (key, ms) => void this.sendAfter(ms, { delay: key }, { key }), disarm: (key) => void this.cancelTimer(key) },
      snapshot === null ? {} : state.delays,
    );
    const options = snapshot === null ? { clock, input: props } : { clock, snapshot: withoutChildren(snapshot, interrupted) };
    const actor = createActor(statics.machine, options as never) as XStateActor<M>;
    clock.attach(actor);
    // Errors are read from the snapshot after each event; unobserved, xstate would rethrow them later.
    actor.subscribe({
      next: () => this.#changedOutsideTurn(),
      // In a turn, #checkHealthy fails the turn. Between turns the next turn finds it (#ensure).
      error: (error: unknown) => {
        if (this.#inTurn || this.#xstate !== actor) return;
        this.#failedBetweenTurns = { error };
        this.#changedOutsideTurn();
      },
    });
    this.#failedBetweenTurns = undefined;
    actor.start();
    if (snapshot !== null) clock.restore();
    this.#xstate = actor;
    this.#clock = clock;
    this.#present = new Set(state.present);
    this.#disconnectAt = state.disconnectAt;
    // Connections saw this state before the restart: only a change from here on is news to them.
    // Remembering the snapshot (not every connection's view) keeps a wake O(1) in the number of sockets.
    this.#viewsOf = JSON.stringify(actor.getPersistedSnapshot());
    this.#lastView = this.#sharedView ? this.#view(undefined) : undefined;
    this.#sent.clear();
    this.#bootSnapshot = this.#sharedView ? undefined : (actor.getSnapshot() as SnapshotFrom<M>);
    // An invoked promise or callback can't resume its work: the machine hears it failed, and decides (onError).
    const because = interruptedBy ? INTERRUPTED_BECAUSE[interruptedBy] : "";
    const unheard: string[] = [];
    for (const id of interrupted) {
      const event = { type: `xstate.error.actor.${id}`, error: new InterruptedActorError(`Child "${id}" was interrupted: ${because}.`) };
      // Unheard (no onError in the state the machine is in), the error would stop the whole machine.
      if (this.#handles(actor, event)) actor.send(event as never);
      else unheard.push(id);
    }
    if (unheard.length > 0) {
      console.error(
        `${statics.name}:${this.name}: invoked ${unheard.join(", ")} was interrupted (${because}) and nothing in the machine's state handles its error (no onError); it stays in that state without the child. Add onError to decide what that means.`,
      );
    }
    if (interrupted.length > 0 && (actor.getSnapshot() as { status?: string }).status === "error") {
      // An onError that threw: keep the room alive in its saved state, without the children.
      logError(`${statics.name}:${this.name}: the machine failed while hearing that invoked ${interrupted.join(", ")} stopped; it stays in its saved state without them.`, (actor.getSnapshot() as { error?: unknown }).error);
      return this.#boot({ ...state, snapshot: withoutChildren(snapshot, interrupted), version: statics.version, delays: state.delays }, props, false);
    }
    this.#checkHealthy();
  }

  /** Whether the machine, as it is, has a transition for `event` (a throwing guard counts as none). */
  #handles(actor: XStateActor<M>, event: { type: string }): boolean {
    try {
      return this.#statics.machine.getTransitionData(actor.getSnapshot() as never, event as never).length > 0;
    } catch {
      return false;
    }
  }

  /**
   * After a rolled-back turn the xstate actor may be ahead of the saved state: rebuild it from what
   * was committed. Unless the failed turn never reached the machine (an event refused before it was
   * sent, say) and what was committed is what the actor holds: then the actor goes on as it is, and
   * work it invoked keeps running instead of being told the room restarted.
   */
  #ensure(state: MachineState): void {
    const failed = this.#failedBetweenTurns;
    if (failed) {
      // Its delays' timers are kept (see DurableClock.clearTimeout): the rebuilt actor binds to them again.
      logError(`${this.#statics.name}:${this.name}: the machine threw between turns (an action or guard run when invoked work settled), so the room goes back to its last saved state`, failed.error);
      return this.#boot(state, undefined, "rebuild");
    }
    if (state === this.#current && this.#xstate) return;
    if (this.#xstate && !this.#moved && this.#currentJson !== undefined && JSON.stringify(state) === this.#currentJson) {
      this.#current = state;
      return;
    }
    this.#boot(state, undefined, "rebuild");
  }

  #send(event: unknown, connection: string | undefined, fromClient = false): void {
    const type = (event as { type?: unknown } | null)?.type;
    if (typeof event !== "object" || event === null || typeof type !== "string") {
      throw new UnknownEventError(`${this.#statics.name}:${this.name}: an event must be an object with a string "type".`);
    }
    if (fromClient && SERVER_EVENTS.has(type)) {
      throw new UnknownEventError(`${this.#statics.name}:${this.name}: "${type}" is sent by the server when a socket connects or closes; a client can't send it.`);
    }
    if (type.startsWith("xstate.") || !this.#accepts(type)) {
      throw new UnknownEventError(`${this.#statics.name}:${this.name}: the machine has no event "${type}". Known: ${this.#knownEvents(fromClient).join(", ")}.`);
    }
    this.#moved = true;
    this.#xstate!.send((connection === undefined ? event : { ...event, connection }) as EventFromLogic<M>);
    this.#checkHealthy();
  }

  #receiveFrame(connection: Connection, data: string | ArrayBuffer): void {
    let event: unknown;
    try {
      event = typeof data === "string" ? JSON.parse(data) : undefined;
    } catch {
      event = undefined;
    }
    try {
      if (event === undefined) throw new UnknownEventError(`${this.#statics.name}:${this.name}: frames must be JSON text events like {"type": "…"}.`);
      this.#send(event, connection.id, true);
    } catch (error) {
      if (!(error instanceof UnknownEventError)) throw error;
      sendFrame(connection, encodeFrame({ gp: 1, t: "error", err: toWire(error) }));
    }
  }

  /** A machine in error status would be saved dead: fail the turn instead, so it rolls back. */
  #checkHealthy(): void {
    const snapshot = this.#xstate?.getSnapshot() as { status?: string; error?: unknown } | undefined;
    if (snapshot?.status === "error") throw snapshot.error instanceof Error ? snapshot.error : new Error(String(snapshot.error));
  }

  /** Whether some state names the event: its type, or (`wildcard`) a descriptor matching it, `"*"` or `"feedback.*"`. */
  #accepts(type: string, wildcard = true): boolean {
    const events = this.#statics.machine.events as readonly string[];
    return events.includes(type) || (wildcard && events.some((descriptor) => matchesWildcard(descriptor, type)));
  }

  /** The events a sender may name: a client is not told of the ones only the server sends. */
  #knownEvents(fromClient: boolean): string[] {
    return (this.#statics.machine.events as readonly string[]).filter((type) => !type.startsWith("xstate.") && !(fromClient && SERVER_EVENTS.has(type)));
  }

  #snapshot(): SnapshotFrom<M> {
    return this.#xstate!.getSnapshot() as SnapshotFrom<M>;
  }

  /** The state to commit, and each connection's view when it changed (sent after the commit). */
  #changed(): MachineState {
    // Until it is saved: a turn that fails to save the machine (a Date in context, say) has the room rebuilt.
    this.#moved = true;
    const next: MachineState = {
      version: this.#statics.version,
      snapshot: this.#xstate!.getPersistedSnapshot(),
      delays: this.#clock!.toJSON() as MachineState["delays"],
    };
    if (this.#present.size > 0) next.present = [...this.#present];
    if (this.#disconnectAt !== undefined) next.disconnectAt = this.#disconnectAt;
    this.#current = next;
    // Checked as the commit would check it, then handed to the commit: the snapshot is serialized once per turn.
    const runtime = runtimeOf(this);
    const snapshotJson = this.#snapshotJson(next, runtime);
    const present = next.present ? `,"present":${JSON.stringify(next.present)}` : "";
    const disconnectAt = next.disconnectAt === undefined ? "" : `,"disconnectAt":${next.disconnectAt}`;
    this.#currentJson = `{"version":${next.version},"snapshot":${snapshotJson},"delays":${JSON.stringify(next.delays)}${present}${disconnectAt}}`;
    this.#moved = false;
    runtime.knownJson(next, this.#currentJson);
    // Views are a function of the snapshot and the connection: no snapshot change, no view to send.
    if (snapshotJson !== this.#viewsOf) {
      this.#viewsOf = snapshotJson;
      if (this.#sharedView) this.#sendView(undefined, false);
      else {
        for (const connection of this.getConnections()) this.#sendView(connection, false);
        // Every connection has its entry now.
        this.#bootSnapshot = undefined;
      }
    }
    return next;
  }

  /** `next.snapshot` as JSON; Errors in it are saved as plain data, which a rare snapshot holds. */
  #snapshotJson(next: MachineState, runtime: { readonly label: string }): string {
    try {
      return serializeState(next.snapshot, runtime);
    } catch (error) {
      const plain = error instanceof StateNotSerializableError ? plainErrors(next.snapshot) : next.snapshot;
      if (plain === next.snapshot) throw error;
      next.snapshot = plain;
      return serializeState(plain, runtime);
    }
  }

  #view(connection: Connection | undefined, snapshot = this.#snapshot()): string {
    return JSON.stringify(this.project(snapshot, connection)) ?? "null";
  }

  /** The view `connection` was sent last: its entry, or, connected before the last boot, its view of the snapshot restored then. */
  #lastSent(connection: Connection): string | undefined {
    const sent = this.#sent.get(connection.id);
    if (sent !== undefined || this.#bootSnapshot === undefined) return sent;
    return this.#view(connection, this.#bootSnapshot);
  }

  /** Sends `connection` its view if it changed (or always, `force`); with the shared view, `undefined` means everyone. */
  #sendView(connection: Connection | undefined, force: boolean): void {
    if (this.#sharedView) {
      // A changed view goes to everyone (the new connection among them); an unchanged one to the new connection only.
      const view = this.#view(undefined);
      if (view !== this.#lastView) {
        this.#lastView = view;
        broadcastFrame(this, stateFrame(view));
      } else if (force && connection) sendFrame(connection, stateFrame(view));
      return;
    }
    if (!connection) return;
    const view = this.#view(connection);
    const last = this.#lastSent(connection);
    // Kept unchanged too: after a wake this is the entry that replaces the boot snapshot's view.
    this.#sent.set(connection.id, view);
    if (!force && last === view) return;
    sendFrame(connection, stateFrame(view));
  }
}

/**
 * xstate v5's wildcard descriptors: `"*"` matches every event; `"feedback.*"` matches `"feedback"`,
 * `"feedback.good"` and `"feedback.good.more"` (a `*` counts only as the last token).
 */
function matchesWildcard(descriptor: string, type: string): boolean {
  if (descriptor === "*") return true;
  if (!descriptor.endsWith(".*")) return false;
  const prefix = descriptor.slice(0, -2);
  return !prefix.split(".").includes("*") && (type === prefix || type.startsWith(`${prefix}.`));
}

/** The push frame around a view already in JSON: spliced in, not parsed and encoded again (this runs per connection). */
function stateFrame(viewJson: string): string {
  return `{"gp":1,"t":"push","msg":{"type":"state","state":${viewJson}}}`;
}
