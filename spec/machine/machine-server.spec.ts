import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runtimeOf } from "../../lib/actor/actor.js";
import { clock } from "../../lib/actor/clock.js";
import type { SnapshotFrom } from "xstate";
import { type Connection, getActor, RemoteError } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock, runAlarm } from "../../lib/testing/index.js";
import { type GatedMachine, gates, rejections, TicTacToe, type ticTacToe } from "../fixtures/machines.js";
import { uniqueName } from "../helpers.js";
import { connect, type TestSocket } from "../sockets.js";

/** The tic-tac-toe room projecting only the connection's own mark: a view most changes leave alone. */
class MarkOnly extends TicTacToe {
  override project(snapshot: SnapshotFrom<typeof ticTacToe>, connection?: Connection) {
    const { players } = snapshot.context;
    return { you: connection === undefined ? null : players.x === connection.id ? "x" : players.o === connection.id ? "o" : null };
  }
}

afterEach(() => {
  resetClock();
  vi.restoreAllMocks();
});

/** The snapshot a KV-stored machine room saved. */
const savedGated = (stub: DurableObjectStub<GatedMachine>) =>
  runInDurableObject(stub, async (_i, state) => (JSON.parse((await state.storage.get<string>("genparty:state")) ?? "{}") as { snapshot?: unknown }).snapshot);

type View = { value: string; board: (string | null)[]; turn: string; winner: string | null; you: string | null };

/** The next state push a socket got. */
async function nextState(socket: TestSocket): Promise<View> {
  for (;;) {
    const frame = JSON.parse(await socket.next()) as { t: string; msg?: { type: string; state: View } };
    if (frame.t === "push" && frame.msg?.type === "state") return frame.msg.state;
  }
}

describe("MachineServer", () => {
  it("plays tic-tac-toe over real sockets, each player seeing their own mark", async () => {
    const room = uniqueName("ttt");
    const alice = await connect(`/parties/tic-tac-toe/${room}?_pk=alice`);
    expect(await nextState(alice)).toMatchObject({ value: "waiting", you: null });
    const bob = await connect(`/parties/tic-tac-toe/${room}?_pk=bob`);
    await nextState(bob);
    alice.send(JSON.stringify({ type: "join" }));
    expect(await nextState(alice)).toMatchObject({ value: "waiting", you: "x" });
    bob.send(JSON.stringify({ type: "join" }));
    expect(await nextState(bob)).toMatchObject({ value: "playing", you: "o", turn: "x" });
    for (const [player, cell] of [[alice, 0], [bob, 3], [alice, 1], [bob, 4], [alice, 2]] as const) {
      player.send(JSON.stringify({ type: "move", cell }));
      // Pushes from earlier moves may be queued: wait for the one showing this move, so the next
      // player (on another socket, with no ordering between sockets) moves after it.
      for (let view = await nextState(player); view.board[cell] === null; view = await nextState(player));
    }
    let final = await nextState(bob);
    while (final.value !== "finished") final = await nextState(bob);
    expect(final).toMatchObject({ value: "finished", winner: "x", you: "o" });
    expect(final.board).toEqual(["x", "x", "x", "o", "o", null, null, null, null]);
  });

  it("ignores a move out of turn and answers bad or unknown frames with an error frame, the room going on", async () => {
    const room = uniqueName("ttt-bad");
    const alice = await connect(`/parties/tic-tac-toe/${room}?_pk=alice`);
    await nextState(alice);
    alice.send("not json");
    expect(JSON.parse(await alice.next())).toMatchObject({ t: "error", err: { name: "UnknownEventError", message: expect.stringMatching(/JSON text events/) } });
    alice.send(JSON.stringify({ no: "type" }));
    expect(JSON.parse(await alice.next())).toMatchObject({ t: "error", err: { message: expect.stringMatching(/string "type"/) } });
    alice.send(JSON.stringify({ type: "fly" }));
    expect(JSON.parse(await alice.next())).toMatchObject({ t: "error", err: { message: expect.stringMatching(/no event "fly". Known: join, move, reset/) } });
    alice.send(JSON.stringify({ type: "xstate.after.30000.ttt.playing" }));
    expect(JSON.parse(await alice.next())).toMatchObject({ t: "error", err: { name: "UnknownEventError" } });
    alice.send(JSON.stringify({ type: "join" }));
    expect(await nextState(alice)).toMatchObject({ you: "x" });
  });

  it("takes the sender from the connection, not from what the client wrote", async () => {
    const room = uniqueName("ttt-spoof");
    const game = getActor(env.TicTacToe, room);
    await game.cast({ type: "join", player: "alice" });
    await game.cast({ type: "join", player: "bob" });
    const mallory = await connect(`/parties/tic-tac-toe/${room}?_pk=mallory`);
    await nextState(mallory);
    mallory.send(JSON.stringify({ type: "move", cell: 4, connection: "alice" }));
    mallory.send(JSON.stringify({ gp: 1, t: "call", id: "1", msg: { type: "move", cell: 4, connection: "alice" } }));
    const reply = JSON.parse(await mallory.next()) as { t: string; ok: View };
    expect(reply.ok.board[4]).toBeNull();
  });

  it("replies to a call with the caller's view, and keeps state across hibernation and eviction", async () => {
    const room = uniqueName("ttt-rpc");
    const game = getActor(env.TicTacToe, room);
    await game.call({ type: "join", player: "a" });
    await hibernate(game);
    expect(await game.call({ type: "join", player: "b" })).toMatchObject({ value: "playing", you: null });
    await evict(game);
    expect(await game.call({ type: "move", cell: 4, player: "a" })).toMatchObject({ board: [null, null, null, null, "x", null, null, null, null], turn: "o" });
  });

  it("wakes without computing a view per connection, and pushes only what changed", async () => {
    const { projections } = await import("../fixtures/machines.js");
    const room = uniqueName("ttt-wake");
    const sockets = await Promise.all(["a", "b", "c", "d", "e"].map((id) => connect(`/parties/tic-tac-toe/${room}?_pk=${id}`)));
    await Promise.all(sockets.map((socket) => nextState(socket)));
    const game = getActor(env.TicTacToe, room);
    await hibernate(game);
    const before = projections.count;
    // The first change after the wake works out each connection's view before and after it (2 × 5),
    // then a join by a name already seated changes nothing: one view, the reply's, and no pushes.
    await game.call({ type: "join", player: "x-player" });
    await game.call({ type: "join", player: "x-player" });
    expect(projections.count - before).toBe(2 + 2 * 5);
    await hibernate(game);
    const idle = projections.count;
    await game.call({ type: "join", player: "x-player" });
    expect(projections.count - idle).toBe(1);
  });

  it("pushes a change after a wake only to the connections whose view it changes", async () => {
    const room = uniqueName("ttt-seen");
    const a = await connect(`/parties/tic-tac-toe/${room}?_pk=a`);
    const b = await connect(`/parties/tic-tac-toe/${room}?_pk=b`);
    await Promise.all([nextState(a), nextState(b)]);
    // A wake from hibernation is a new instance on the same storage and sockets, with nothing in memory.
    await runInDurableObject(env.TicTacToe.getByName(room), async (_asleep, state) => {
      const woken = new TicTacToe(state, env);
      await woken.call({ type: "join", player: "a" });
      await woken.call({ type: "join", player: "b" });
    });
    // The first join changes only a's view (`you`): b is sent nothing for it, so its next push is the game starting.
    expect(await nextState(a)).toMatchObject({ value: "waiting", you: "x" });
    expect(await nextState(b)).toMatchObject({ value: "playing", you: "o" });
  });

  it("after a wake, pushes nothing to a connection whose view the next changes all leave alone", async () => {
    const room = uniqueName("ttt-unchanged");
    const a = await connect(`/parties/tic-tac-toe/${room}?_pk=a`);
    const b = await connect(`/parties/tic-tac-toe/${room}?_pk=b`);
    await Promise.all([a.next(), b.next()]);
    await runInDurableObject(env.TicTacToe.getByName(room), async (_asleep, state) => {
      const woken = new MarkOnly(state, env);
      await woken.call({ type: "join", player: "a" });
      await woken.call({ type: "join", player: "someone" });
    });
    expect(JSON.parse(await a.next())).toMatchObject({ t: "push", msg: { state: { you: "x" } } });
    // b's view ({ you: null }) changed with neither join.
    expect(await b.next(300).catch(() => "nothing")).toBe("nothing");
  });

  it("accepts events a partial wildcard names, as xstate matches them", async () => {
    const room = getActor(env.JOBS, uniqueName("notes"));
    expect(await room.call({ type: "note.added" })).toMatchObject({ context: { notes: 1 } });
    expect(await room.call({ type: "note" })).toMatchObject({ context: { notes: 2 } });
    const error = await room.call({ type: "notes" } as never).catch((e: unknown) => e);
    expect(error).toMatchObject({ remoteName: "UnknownEventError" });
    expect((error as Error).message).toMatch(/the machine has no event "notes"\. Known: /);
  });

  it("rejects an unknown event from RPC with UnknownEventError", async () => {
    const game = getActor(env.TicTacToe, uniqueName("ttt-unknown"));
    const error = await game.call({ type: "dance" } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ remoteName: "UnknownEventError" });
  });

  it("fires a 30 s `after` once, at its original deadline, across an eviction in between", async () => {
    const room = uniqueName("ttt-after");
    const game = getActor(env.TicTacToe, room);
    await game.call({ type: "join", player: "a" });
    await game.call({ type: "join", player: "b" });
    await advanceClock(20_000, game);
    await evict(game);
    await advanceClock(9_000, game);
    expect(await game.call({ type: "join", player: "c" })).toMatchObject({ value: "playing" });
    await advanceClock(1_500, game);
    const view = await game.call({ type: "join", player: "c" });
    expect(view).toMatchObject({ value: "finished", winner: "o" });
    const state = await runInDurableObject(game.stub, (instance) => (instance.machineActor?.getSnapshot().context as { log: string[] }).log);
    expect(state).toEqual(["forfeit:x"]);
    expect(await runAlarm(game)).toBe(false);
  });

  it("restarts the deadline when a move re-enters the state, and never fires the cancelled one", async () => {
    const room = uniqueName("ttt-rearm");
    const game = getActor(env.TicTacToe, room);
    await game.call({ type: "join", player: "a" });
    await game.call({ type: "join", player: "b" });
    await advanceClock(20_000, game);
    await game.call({ type: "move", cell: 0, player: "a" });
    await hibernate(game);
    await advanceClock(20_000, game);
    expect(await game.call({ type: "join", player: "z" })).toMatchObject({ value: "playing", turn: "o" });
    await advanceClock(11_000, game);
    expect(await game.call({ type: "join", player: "z" })).toMatchObject({ value: "finished", winner: "x" });
  });

  it("ends in the same state whether or not it was hibernated and evicted along the way", async () => {
    const script = [
      { type: "join", player: "a" },
      { type: "join", player: "b" },
      { type: "move", cell: 4, player: "a" },
      { type: "move", cell: 4, player: "b" },
      { type: "move", cell: 0, player: "b" },
      { type: "move", cell: 8, player: "a" },
      { type: "move", cell: 2, player: "b" },
      { type: "move", cell: 6, player: "a" },
      { type: "move", cell: 3, player: "b" },
      { type: "move", cell: 7, player: "a" },
    ] as const;
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const continuous = getActor(env.TicTacToe, uniqueName("ttt-continuous"));
    const interrupted = getActor(env.TicTacToe, uniqueName("ttt-interrupted"));
    for (const event of script) {
      await continuous.call(event);
      await interrupted.call(event);
      const roll = random();
      if (roll < 0.3) await hibernate(interrupted);
      else if (roll < 0.6) await evict(interrupted);
    }
    const persisted = async (ref: typeof continuous) => runInDurableObject(ref.stub, (instance) => instance.machineActor?.getPersistedSnapshot());
    expect(await interrupted.call({ type: "join", player: "q" })).toEqual(await continuous.call({ type: "join", player: "q" }));
    expect(await persisted(interrupted)).toEqual(await persisted(continuous));
  });
});

describe("Delayed raise and sendTo", () => {
  const context = (view: unknown) => {
    const { pings, pongs } = (view as { context: { pings: number; pongs: number } }).context;
    return { pings, pongs };
  };

  it("fire after an eviction, at their deadline, once", async () => {
    const pinger = getActor(env.PINGER, uniqueName("ping"));
    await pinger.call({ type: "arm" });
    await pinger.call({ type: "send" });
    await evict(pinger);
    await advanceClock(1_000, pinger);
    expect(context(await pinger.call({ type: "pong" }))).toEqual({ pings: 0, pongs: 1 });
    await advanceClock(1_500, pinger);
    expect(context(await pinger.call({ type: "pong" }))).toEqual({ pings: 0, pongs: 3 });
    await advanceClock(3_000, pinger);
    expect(context(await pinger.call({ type: "disarm" }))).toEqual({ pings: 1, pongs: 3 });
  });

  it("never fire once cancelled, and leave no alarm behind", async () => {
    const pinger = getActor(env.PINGER, uniqueName("cancel"));
    await pinger.call({ type: "arm" });
    await hibernate(pinger);
    await pinger.call({ type: "disarm" });
    await advanceClock(10_000, pinger);
    expect(context(await pinger.call({ type: "pong" }))).toEqual({ pings: 0, pongs: 1 });
    expect(await runAlarm(pinger)).toBe(false);
  });

  it("fires an overdue delay when the room wakes", async () => {
    const pinger = getActor(env.PINGER, uniqueName("overdue"));
    await pinger.call({ type: "arm" });
    await evict(pinger);
    await advanceClock(60_000, pinger);
    expect(context(await pinger.call({ type: "pong" }))).toEqual({ pings: 1, pongs: 1 });
  });
});

describe("Connection events", () => {
  it("can't be sent by a client", async () => {
    const socket = await connect(`/parties/pinger/${uniqueName("spoof")}?_pk=s`);
    await socket.next();
    socket.send(JSON.stringify({ type: "disconnect" }));
    expect(JSON.parse(await socket.next())).toMatchObject({ t: "error", err: { message: expect.stringMatching(/sent by the server when a socket connects or closes/) } });
  });

  it("reach a machine that names connect and disconnect, with the connection id", async () => {
    const name = uniqueName("seen");
    const socket = await connect(`/parties/pinger/${name}?_pk=p1`);
    const first = JSON.parse(await socket.next()) as { msg: { state: { context: { seen: string[] } } } };
    expect(first.msg.state.context.seen).toEqual(["+p1"]);
    socket.close(1000, "bye");
    const pinger = getActor(env.PINGER, name);
    await vi.waitFor(async () => expect(((await pinger.call({ type: "pong" })) as { context: { seen: string[] } }).context.seen).toEqual(["+p1", "-p1"]));
  });

  it("tell the machine of sockets a restart dropped unseen, once they haven't come back within the grace period", async () => {
    const name = uniqueName("dropped");
    const pinger = getActor(env.PINGER, name);
    const seen = async () => ((await pinger.call({ type: "pong" })) as { context: { seen: string[] } }).context.seen;
    for (const id of ["a", "b"]) await (await connect(`/parties/pinger/${name}?_pk=${id}`)).next();
    // A wake keeps the sockets: nobody left.
    await hibernate(pinger);
    await advanceClock(10_000, pinger);
    expect(await seen()).toEqual(["+a", "+b"]);
    // A restart drops them (code 1006), with no close for the room to hear; a comes back.
    await evict(pinger);
    await (await connect(`/parties/pinger/${name}?_pk=a`)).next();
    await advanceClock(9_000, pinger);
    expect(await seen()).toEqual(["+a", "+b", "+a"]);
    await advanceClock(1_000, pinger);
    expect(await seen()).toEqual(["+a", "+b", "+a", "-b"]);
    // Told once: the next restart finds only a gone (the grace period counts from the start).
    await evict(pinger);
    expect(await seen()).toHaveLength(4);
    await advanceClock(10_000, pinger);
    expect(await seen()).toEqual(["+a", "+b", "+a", "-b", "-a"]);
  });

  it("tell the machine of a dropped socket at the grace period's end even when the room hibernates during it", async () => {
    const name = uniqueName("dropped-asleep");
    const pinger = getActor(env.PINGER, name);
    const seen = async () => ((await pinger.call({ type: "pong" })) as { context: { seen: string[] } }).context.seen;
    await (await connect(`/parties/pinger/${name}?_pk=b`)).next();
    await evict(pinger);
    expect(await seen()).toEqual(["+b"]);
    // Idle rooms hibernate; each wake runs handleStart, which must leave the deadline where it is.
    await hibernate(pinger);
    await advanceClock(6_000, pinger);
    await hibernate(pinger);
    expect(await seen()).toEqual(["+b"]);
    await advanceClock(4_000, pinger);
    expect(await seen()).toEqual(["+b", "-b"]);
  });

  it("tell a reload apart from leaving: a socket replaced by one with its id sends no disconnect", async () => {
    const name = uniqueName("reload");
    const first = await connect(`/parties/pinger/${name}?_pk=p1`);
    await first.next();
    const again = await connect(`/parties/pinger/${name}?_pk=p1`);
    const view = JSON.parse(await again.next()) as { msg: { state: { context: { seen: string[] } } } };
    expect(view.msg.state.context.seen).toEqual(["+p1", "+p1"]);
    expect((await first.closed).reason).toBe("Replaced by a newer connection with the same id");
  });
});

describe("The default view", () => {
  const pongsOf = (frame: string) => (JSON.parse(frame) as { msg: { state: { context: { pongs: number; seen: string[] } } } }).msg.state.context;

  it("goes to every connection once per change, and not at all for an event that changes nothing", async () => {
    const name = uniqueName("shared");
    const a = await connect(`/parties/pinger/${name}?_pk=a`);
    expect(pongsOf(await a.next()).seen).toEqual(["+a"]);
    const b = await connect(`/parties/pinger/${name}?_pk=b`);
    // b's connect changed the view: both get it, b once (not its own forced copy as well).
    await vi.waitFor(() => expect(a.received.map((f) => pongsOf(String(f)).seen.length)).toEqual([1, 2]));
    await vi.waitFor(() => expect(b.received).toHaveLength(1));
    const pinger = getActor(env.PINGER, name);
    await pinger.call({ type: "pong" });
    // In idle, "disarm" is not handled: the snapshot stays as it is.
    await pinger.call({ type: "disarm" });
    await pinger.call({ type: "pong" });
    await hibernate(pinger);
    await pinger.call({ type: "disarm" });
    await pinger.call({ type: "pong" });
    const pongs = (socket: TestSocket) => socket.received.map((f) => pongsOf(String(f)).pongs).filter((n) => n > 0).sort();
    await vi.waitFor(() => expect(pongs(a)).toEqual([1, 2, 3]));
    await vi.waitFor(() => expect(pongs(b)).toEqual([1, 2, 3]));
    expect(a.received).toHaveLength(5);
    expect(b.received).toHaveLength(4);
  });
});

describe("MachineServer restarts", () => {
  it("tells the machine an invoked promise was interrupted instead of silently running it again", async () => {
    const flow = getActor(env.WORKFLOW, uniqueName("flow"));
    expect(await flow.call({ type: "start" })).toMatchObject({ value: "working" });
    await evict(flow);
    // The first message after the restart finds the machine told, through its onError transition.
    expect(await flow.call({ type: "step" })).toMatchObject({ value: "failed", context: { error: "InterruptedActorError" } });
    // Running the job again is the machine's own decision.
    expect(await flow.call({ type: "start" })).toMatchObject({ value: "working" });
  });

  it("keeps the room alive when an interrupted invoke has no onError", async () => {
    const flow = getActor(env.WORKFLOW, uniqueName("unguarded"));
    expect(await flow.call({ type: "unguarded" })).toMatchObject({ value: "unguarded" });
    await evict(flow);
    expect(await flow.call({ type: "step" })).toMatchObject({ value: "unguarded", status: "active" });
    // The state's own timeout is still armed: the room isn't stuck there.
    await advanceClock(60_000, flow);
    expect(await flow.call({ type: "step" })).toMatchObject({ value: "timedOut" });
  });

  it("tells every interrupted invoke that has an onError, though another one has none", async () => {
    const room = getActor(env.JOBS, uniqueName("two-jobs"));
    await room.call({ type: "runA" });
    expect(await room.call({ type: "runB" })).toMatchObject({ value: { a: "working", b: "working" } });
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await evict(room);
    expect(await room.call({ type: "note.x" })).toMatchObject({
      value: { a: "failed", b: "working" },
      context: { error: 'Child "jobA" was interrupted: the room restarted while it ran.' },
    });
    expect(String(logged.mock.calls[0]?.[0])).toMatch(/invoked jobB was interrupted \(the room restarted while it ran\) and nothing in the machine's state handles its error/);
    logged.mockRestore();
  });

  it("tells invoked work that a failed turn stopped it, not that the room restarted", async () => {
    const room = getActor(env.JOBS, uniqueName("failed-turn"));
    await room.call({ type: "runA" });
    expect(await room.call({ type: "bad" }).catch((e: unknown) => e)).toMatchObject({ remoteName: "Error", message: "bad input" });
    expect(await room.call({ type: "note.x" })).toMatchObject({
      value: { a: "failed" },
      context: { notes: 1, error: expect.stringMatching(/^Child "jobA" was interrupted: a turn failed after the machine had moved \(a guard or action threw/) },
    });
  });

  it("goes on after a throwing action with immutableState, instead of failing every turn after it", async () => {
    const room = getActor(env.FROZEN_JOBS, uniqueName("frozen"));
    expect(await room.call({ type: "note.a" })).toMatchObject({ context: { notes: 1 } });
    expect(await room.call({ type: "bad" }).catch((e: unknown) => e)).toMatchObject({ message: "bad input" });
    expect(await room.call({ type: "note.a" })).toMatchObject({ context: { notes: 2 }, status: "active" });
    await hibernate(room);
    expect(await room.call({ type: "note.a" })).toMatchObject({ context: { notes: 3 } });
  });

  it("saves and pushes what an invoked promise resolved to without waiting for another message", async () => {
    const name = uniqueName("quick");
    const socket = await connect(`/parties/workflow/${name}?_pk=w`);
    await socket.next();
    socket.send(JSON.stringify({ type: "quick" }));
    const pushed: string[] = [];
    for (let value = ""; value !== "done"; ) {
      const frame = JSON.parse(await socket.next()) as { msg: { state: { value: string; context: { result: string | null } } } };
      value = frame.msg.state.value;
      pushed.push(`${value}:${frame.msg.state.context.result}`);
    }
    expect(pushed).toEqual(["quickWork:null", "done:quick result"]);
    const saved = await runInDurableObject(env.WORKFLOW.getByName(name), (_i, state) =>
      JSON.parse(state.storage.sql.exec<{ value: string }>("SELECT value FROM _genparty_meta WHERE key = 'state'").one().value),
    );
    expect(saved.snapshot).toMatchObject({ value: "done", context: { result: "quick result" } });
  });

  it("saves what an invoked promise resolved to even if it settled while the mailbox was full", async () => {
    const room = getActor(env.GATED_MACHINE, uniqueName("gated"));
    for (const round of [1, 2]) {
      expect(await room.call({ type: "run" })).toMatchObject({ value: "running" });
      const release = gates.shift()!;
      if (round === 1) {
        // A burst fills the mailbox (one turn committing, two queued, the rest dropped) as the job settles.
        await runInDurableObject(room.stub, async (instance) => {
          for (let i = 0; i < 5; i++) void instance.cast({ type: "step" });
          expect(instance.mailboxStats.droppedCasts).toBeGreaterThan(0);
          release("done");
          await vi.waitFor(() => expect(instance.mailboxStats.queued).toBe(0));
        });
      } else {
        // Then, with nothing else arriving, the next result is saved by its own turn.
        await runInDurableObject(room.stub, () => release("done"));
      }
      await vi.waitFor(async () => expect(await savedGated(room.stub)).toMatchObject({ value: "idle", context: { runs: round } }));
    }
    await evict(room);
    expect(await room.call({ type: "step" })).toMatchObject({ value: "idle", context: { runs: 2 } });
  });

  it("migrates a snapshot saved by an older machine version", async () => {
    const name = uniqueName("migrate");
    const flow = getActor(env.WORKFLOW, name);
    await flow.call({ type: "step" });
    await runInDurableObject(flow.stub, (_i, state) => {
      const row = state.storage.sql.exec<{ value: string }>("SELECT value FROM _genparty_meta WHERE key = 'state'").one();
      const saved = JSON.parse(row.value) as { version: number; snapshot: { context: Record<string, unknown> } };
      saved.version = 1;
      saved.snapshot.context = { result: null, error: null, count: 5 };
      state.storage.sql.exec("UPDATE _genparty_meta SET value = ? WHERE key = 'state'", JSON.stringify(saved));
    });
    await hibernate(flow);
    expect(await flow.call({ type: "step" })).toMatchObject({ context: { steps: 6 } });
  });

  /** As a deploy that changed the machine's version finds the room: its snapshot saved by `version`, and woken. */
  const savedBy = async (room: { stub: DurableObjectStub }, version: number) => {
    await runInDurableObject(room.stub, (_i, state) => {
      state.storage.sql.exec("UPDATE _genparty_meta SET value = json_set(value, '$.version', ?) WHERE key = 'state'", version);
    });
    await hibernate(room);
  };
  const saved = (room: { stub: DurableObjectStub }) =>
    runInDurableObject(room.stub, (_i, state) => JSON.parse(state.storage.sql.exec<{ value: string }>("SELECT value FROM _genparty_meta WHERE key = 'state'").one().value) as unknown);

  it("refuses a migrate that returns no snapshot, leaving the saved one untouched instead of starting afresh", async () => {
    const flow = getActor(env.SLOPPY_WORKFLOW, uniqueName("sloppy"));
    await flow.call({ type: "step" });
    await flow.call({ type: "step" });
    await savedBy(flow, 1);
    const error = await flow.call({ type: "step" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ remoteName: "MachineVersionError", message: expect.stringMatching(/migrate\(snapshot, 1\) returned undefined; return the migrated snapshot/) });
    expect(await saved(flow)).toMatchObject({ version: 1, snapshot: { context: { steps: 2 } } });
  });

  it("keeps what invoked work settled to when an event queued before its save is refused", async () => {
    const room = getActor(env.GATED_MACHINE, uniqueName("refused-first"));
    expect(await room.call({ type: "run" })).toMatchObject({ value: "running" });
    await runInDurableObject(room.stub, async (instance) => {
      // The step's write is in flight when the job settles: its save queues behind the refused event.
      void instance.cast({ type: "step" });
      void instance.cast({ type: "dance" } as never);
      gates.shift()!("done");
      await vi.waitFor(() => expect(instance.mailboxStats.queued).toBe(0));
    });
    expect(await savedGated(room.stub)).toMatchObject({ value: "idle", context: { runs: 1, steps: 1 } });
    expect(await room.call({ type: "step" })).toMatchObject({ value: "idle", context: { runs: 1, steps: 2 } });
  });

  it("goes back to its saved state, delays still armed, when an action run for settled work throws", async () => {
    const room = getActor(env.GATED_MACHINE, uniqueName("throws-between"));
    expect(await room.call({ type: "risk" })).toMatchObject({ value: "risky" });
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await runInDurableObject(room.stub, () => gates.shift()!("done"));
    await vi.waitFor(() => expect(logged.mock.calls.map((call) => String(call[0])).join("\n")).toMatch(/the machine threw between turns/));
    // The next message is not the one blamed for it.
    expect(await room.call({ type: "step" })).toMatchObject({ value: "risky", status: "active", context: { steps: 1 } });
    await evict(room);
    await advanceClock(60_000, room);
    expect(await room.call({ type: "step" })).toMatchObject({ value: "idle", context: { steps: 2 } });
  });

  it("goes back to its saved state when settled work leaves the context unsaveable, instead of failing every turn", async () => {
    const room = getActor(env.GATED_MACHINE, uniqueName("dated"));
    expect(await room.call({ type: "dated" })).toMatchObject({ value: "dated" });
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await runInDurableObject(room.stub, () => gates.shift()!("done"));
    await vi.waitFor(() => expect(logged.mock.calls.map((call) => call.map(String).join(" ")).join("\n")).toMatch(/key "finishedAt" holds a Date/));
    expect(await room.call({ type: "step" })).toMatchObject({ value: "dated", context: { steps: 1, finishedAt: null } });
    expect(await room.call({ type: "step" })).toMatchObject({ context: { steps: 2 } });
  });

  it("keeps the delays of a state whose onError throws when told of a restart", async () => {
    const room = getActor(env.GATED_MACHINE, uniqueName("brittle"));
    expect(await room.call({ type: "brittle" })).toMatchObject({ value: "brittle" });
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await evict(room);
    expect(await room.call({ type: "step" })).toMatchObject({ value: "brittle", status: "active" });
    expect(logged.mock.calls.map((call) => String(call[0])).join("\n")).toMatch(/the machine failed while hearing that invoked .* stopped/);
    await advanceClock(30_000, room);
    expect(await room.call({ type: "step" })).toMatchObject({ value: "idle", context: { steps: 2 } });
  });

  it("saves an Error the machine keeps in its context as plain data, after a rejection and after a restart", async () => {
    const room = getActor(env.GATED_MACHINE, uniqueName("error-in-context"));
    expect(await room.call({ type: "fragile" })).toMatchObject({ value: "fragile" });
    await runInDurableObject(room.stub, () => rejections.shift()!(new TypeError("no network")));
    await vi.waitFor(async () =>
      expect(await savedGated(room.stub)).toMatchObject({ value: "idle", context: { lastError: { name: "TypeError", message: "no network" } } }),
    );
    expect(await room.call({ type: "fragile" })).toMatchObject({ value: "fragile" });
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await evict(room);
    expect(await room.call({ type: "step" })).toMatchObject({ value: "idle", status: "active" });
    expect(await savedGated(room.stub)).toMatchObject({
      context: { lastError: { name: "InterruptedActorError", code: "actor_interrupted", message: expect.stringMatching(/the room restarted/) } },
    });
  });

  it("keeps invoked work running when an event is refused before it reached the machine", async () => {
    const flow = getActor(env.WORKFLOW, uniqueName("refused"));
    expect(await flow.call({ type: "start" })).toMatchObject({ value: "working" });
    const error = await flow.call({ type: "dance" } as never).catch((e: unknown) => e);
    expect(error).toMatchObject({ remoteName: "UnknownEventError" });
    await flow.cast({ type: "dance" } as never);
    // Not told "the room restarted": the job is still the one it invoked, and the room still working.
    expect(await flow.call({ type: "step" })).toMatchObject({ value: "working", context: { error: null } });
  });

  it("puts off the delays of a room that refuses its snapshot, instead of ringing its alarm again at once", async () => {
    const pinger = getActor(env.PINGER, uniqueName("refusing"));
    await pinger.call({ type: "arm" });
    // A deploy that bumped the version without a migrate: every start fails until one that fixes it.
    await savedBy(pinger, 0);
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await advanceClock(6_000, pinger);
    const starts = errors.mock.calls.filter((args) => String(args[0]).includes("starting (init / handleStart) threw")).length;
    errors.mockRestore();
    const next = await runInDurableObject(pinger.stub, (instance) => runtimeOf(instance).platformAlarm.get());
    expect(starts).toBe(1);
    expect(next).toBeGreaterThan(clock.now());
  });

  it("refuses a snapshot of another version when there is no migrate, leaving it untouched", async () => {
    const flow = getActor(env.STRICT_WORKFLOW, uniqueName("strict"));
    await flow.call({ type: "step" });
    await savedBy(flow, 1);
    const error = await flow.call({ type: "step" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ remoteName: "MachineVersionError", message: expect.stringMatching(/made by machine version 1, this is version 2\. Add static migrate/) });
    expect(await saved(flow)).toMatchObject({ version: 1, snapshot: { context: { steps: 1 } } });
  });
});

describe("MachineServer definitions", () => {
  it("refuse inline child logic at construction, saying what to do", async () => {
    const { checkMachine } = await import("../../lib/machine/snapshot.js");
    const { createMachine, fromPromise } = await import("xstate");
    const inline = createMachine({ id: "m", initial: "a", states: { a: { invoke: { src: fromPromise(async () => 1) } } } });
    expect(() => checkMachine(inline, "Inline")).toThrow(/state "m\.a" invokes inline logic.*setup\(\{ actors: \{ myActor: fromPromise/);
  });
});

void vi;
