import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import type { TicTacToeView } from "../../examples/tic-tac-toe/game.js";
import { getActor } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect, type TestSocket } from "../sockets.js";

afterEach(() => resetClock());

type Frame = { gp: 1; t: "push"; msg: { type: "state"; state: TicTacToeView } } | { gp: 1; t: "error"; err: { name: string; message: string } };

const EMPTY = Array<null>(9).fill(null);

/** A tab's socket, as the page opens it: `_pk` is the tab's session id, `?clock=` only if the page had one. */
const open = (room: string, pk: string, clock?: number) => connect(`/parties/tic-tac-toe/${room}?_pk=${pk}${clock === undefined ? "" : `&clock=${clock}`}`);

/** Sends what the page's buttons send: `{"type":"join"}`, `{"type":"move","cell":4}`, … */
const send = (socket: TestSocket, event: object) => socket.send(JSON.stringify(event));

const frame = async (socket: TestSocket) => JSON.parse(await socket.next()) as Frame;

/** The socket's next frame, which must be a state push. */
async function view(socket: TestSocket): Promise<TicTacToeView> {
  const next = await frame(socket);
  if (next.t !== "push") throw new Error(`expected a state push, got ${JSON.stringify(next)}`);
  return next.msg.state;
}

/** Skips pushes until one matches: a socket may still hold pushes of earlier changes. */
async function viewWhere(socket: TestSocket, matches: (view: TicTacToeView) => boolean): Promise<TicTacToeView> {
  for (;;) {
    const next = await view(socket);
    if (matches(next)) return next;
  }
}

/**
 * Resolves once the room handled what this socket sent so far: an unknown event is answered with
 * an error frame in its own turn. For a refused event, which nobody hears about.
 */
async function handled(socket: TestSocket): Promise<void> {
  send(socket, { type: "ping" });
  expect(await frame(socket)).toMatchObject({ t: "error" });
}

/** A tab that takes x in an empty room, and then closes: its player is away, the seat still theirs. */
async function awayFromWaiting(room: string): Promise<void> {
  const x = await open(room, "x-tab");
  await view(x);
  send(x, { type: "join" });
  await view(x);
  x.close(1001, "gone");
}

/** A newcomer who takes the empty o seat beside an away x. */
async function joinBesideAway(room: string, pk: string): Promise<TestSocket> {
  const newcomer = await open(room, pk);
  await viewWhere(newcomer, (v) => !v.seats.x);
  send(newcomer, { type: "join" });
  return newcomer;
}

/** Opens two tabs that take x and o in turn, and returns them once both see the game start. */
async function seat(room: string, clock?: number): Promise<[TestSocket, TestSocket]> {
  const x = await open(room, "x-tab", clock);
  await view(x);
  send(x, { type: "join" });
  await viewWhere(x, (v) => v.you === "x");
  const o = await open(room, "o-tab");
  await view(o);
  send(o, { type: "join" });
  await viewWhere(o, (v) => v.status === "playing");
  await viewWhere(x, (v) => v.status === "playing");
  return [x, o];
}

/**
 * Plays `cells` in turn, `first` moving first. Each player moves once its own socket showed the
 * previous move, as on the page (between two sockets nothing is ordered). Returns the view of
 * whoever moved last once it shows that move.
 */
async function play([first, second]: [TestSocket, TestSocket], cells: number[]): Promise<TicTacToeView> {
  let last: TicTacToeView | undefined;
  for (const [i, cell] of cells.entries()) {
    const mover = i % 2 === 0 ? first : second;
    const previous = cells[i - 1];
    if (previous !== undefined) await viewWhere(mover, (v) => v.board[previous] !== null);
    send(mover, { type: "move", cell });
    last = await viewWhere(mover, (v) => v.board[cell] !== null);
  }
  return last!;
}

describe("The tic-tac-toe page", () => {
  it("opens its socket at the room, is never cached, and passes a checked ?clock= on", async () => {
    const page = await exports.default.fetch("http://examples/tic-tac-toe/demo");
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = await page.text();
    expect(html).toContain('const socketPath = "/parties/tic-tac-toe/demo";');
    expect(html).toContain("const clockSeconds = null;");
    expect(await (await exports.default.fetch("http://examples/tic-tac-toe/demo?clock=10")).text()).toContain("const clockSeconds = 10;");
  });

  it.each(["2", "301", "1.5", "ten", "-5", ""])("answers ?clock=%s with 400 saying what a clock is", async (clock) => {
    const response = await exports.default.fetch(`http://examples/tic-tac-toe/demo?clock=${clock}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toBe(`clock must be whole seconds from 3 to 300, got "${clock}". Drop it for the default.\n`);
  });
});

describe("A tic-tac-toe room", () => {
  it("seats the first two to join, x moving first, and plays to a win the page can highlight", async () => {
    const room = uniqueName("ttt");
    const x = await open(room, "alice");
    expect(await view(x)).toEqual({
      status: "waiting",
      board: EMPTY,
      turn: null,
      you: "spectator",
      seats: { x: false, o: false },
      deadline: null,
      moveMs: 30_000,
      winner: null,
      reason: null,
      line: null,
      rematch: { x: false, o: false },
    });
    send(x, { type: "join" });
    expect(await view(x)).toMatchObject({ status: "waiting", you: "x", seats: { x: true, o: false } });
    const o = await open(room, "bob");
    expect(await view(o)).toMatchObject({ status: "waiting", you: "spectator", seats: { x: true, o: false } });
    const before = Date.now();
    send(o, { type: "join" });
    const started = await view(o);
    expect(started).toMatchObject({ status: "playing", you: "o", turn: "x", seats: { x: true, o: true } });
    expect(started.deadline).toBeGreaterThanOrEqual(before + 30_000);

    const winning = await play([x, o], [0, 3, 1, 4, 2]);
    const won = { status: "finished", board: ["x", "x", "x", "o", "o", null, null, null, null], turn: null, deadline: null, winner: "x", reason: "line", line: [0, 1, 2] };
    expect(winning).toMatchObject({ ...won, you: "x" });
    expect(await viewWhere(o, (v) => v.status === "finished")).toMatchObject({ ...won, you: "o" });
  });

  it("ends in a draw when the board fills without a line", async () => {
    const players = await seat(uniqueName("draw"));
    const last = await play(players, [0, 1, 2, 4, 3, 5, 7, 6, 8]);
    expect(last).toMatchObject({ status: "finished", winner: "draw", reason: "full", line: null });
  });

  it("ignores a move out of turn, onto a taken cell or off the board, a spectator's move and a leave mid-game", async () => {
    const room = uniqueName("rules");
    const [x, o] = await seat(room);
    const watcher = await open(room, "carol");
    expect(await view(watcher)).toMatchObject({ status: "playing", you: "spectator" });
    send(watcher, { type: "join" });
    send(watcher, { type: "move", cell: 4 });
    send(o, { type: "move", cell: 4 });
    // Between sockets nothing is ordered: o's move must be refused before x's turn ends.
    await handled(o);
    for (const cell of [9, -1, 1.5, "4", null]) send(x, { type: "move", cell });
    send(x, { type: "leave" });
    send(x, { type: "move", cell: 0 });
    // None of the refused events changed anything, so the next push anyone gets is x's move.
    expect(await view(o)).toMatchObject({ board: ["x", null, null, null, null, null, null, null, null], turn: "o", you: "o" });
    expect(await view(watcher)).toMatchObject({ board: ["x", null, null, null, null, null, null, null, null], you: "spectator" });
    send(o, { type: "move", cell: 0 });
    send(o, { type: "move", cell: 8 });
    expect(await viewWhere(x, (v) => v.board[8] !== null)).toMatchObject({ board: ["x", null, null, null, null, null, null, null, "o"], turn: "x" });
  });

  it.each([
    ["text that isn't JSON", "move 4", /frames must be JSON text events/],
    ["JSON without a type", JSON.stringify({ cell: 4 }), /an event must be an object with a string "type"/],
    ["an event the game doesn't know", JSON.stringify({ type: "undo" }), /the machine has no event "undo"\. Known: join, leave, move, rematch\.$/],
    ["a faked timeout", JSON.stringify({ type: "xstate.after.moveClock.tic-tac-toe.playing" }), /the machine has no event "xstate\.after/],
    ["the server's own disconnect", JSON.stringify({ type: "disconnect" }), /"disconnect" is sent by the server when a socket connects or closes; a client can't send it/],
    ["a binary frame", new Uint8Array([4]).buffer, /frames must be JSON text events/],
  ])("answers %s with an error frame the page can show, and the game goes on", async (_case, data, message) => {
    const [x] = await seat(uniqueName("bad-frame"));
    x.send(data);
    // The page shows `${err.name}: ${err.message}`.
    expect(await frame(x)).toMatchObject({ gp: 1, t: "error", err: { name: "UnknownEventError", message } });
    send(x, { type: "move", cell: 4 });
    expect(await view(x)).toMatchObject({ board: [null, null, null, null, "x", null, null, null, null], turn: "o" });
  });

  it("keeps a player's seat when their tab reloads mid-game (same _pk)", async () => {
    const room = uniqueName("reload");
    const [x, o] = await seat(room);
    await play([x, o], [4]);
    x.close(1001, "reload");
    await x.closed;
    const reloaded = await open(room, "x-tab");
    expect(await view(reloaded)).toMatchObject({ status: "playing", you: "x", turn: "o", board: [null, null, null, null, "x", null, null, null, null] });
    // The reloaded page asks for its seat again; it holds it already, so nothing changes.
    send(reloaded, { type: "join" });
    expect(await play([o, reloaded], [0, 8])).toMatchObject({ you: "x", board: ["o", null, null, null, "x", null, null, null, "x"] });
  });

  it("hands a seat to a duplicated tab (same _pk), closing the old tab with the reason the page stops on", async () => {
    const room = uniqueName("duplicate");
    const [x, o] = await seat(room);
    const duplicate = await open(room, "x-tab");
    expect(await view(duplicate)).toMatchObject({ status: "playing", you: "x" });
    send(duplicate, { type: "join" });
    // The page stops reconnecting on a reason starting "Replaced", so the two tabs don't take turns kicking each other out.
    expect((await x.closed).reason).toMatch(/^Replaced/);
    expect(await play([duplicate, o], [4])).toMatchObject({ you: "x", board: [null, null, null, null, "x", null, null, null, null] });
  });

  it("shows a waiting player's seat free when the tab closes, and gives it back when the tab comes back", async () => {
    const room = uniqueName("waiting");
    const x = await open(room, "x-tab");
    await view(x);
    send(x, { type: "join" });
    await view(x);
    const watcher = await open(room, "watcher");
    expect(await view(watcher)).toMatchObject({ seats: { x: true, o: false } });
    x.close(1001, "gone");
    expect(await view(watcher)).toMatchObject({ status: "waiting", seats: { x: false, o: false } });
    const back = await open(room, "x-tab");
    expect(await viewWhere(back, (v) => v.seats.x)).toMatchObject({ you: "x", seats: { x: true, o: false } });
  });

  it("lets newcomers take the seat of a waiting player who went away, an empty one first; that player then watches", async () => {
    const room = uniqueName("taken");
    await awayFromWaiting(room);
    const carol = await joinBesideAway(room, "carol");
    expect(await viewWhere(carol, (v) => v.you !== "spectator")).toMatchObject({ status: "waiting", you: "o", seats: { x: false, o: true } });
    const dave = await open(room, "dave");
    await view(dave);
    send(dave, { type: "join" });
    expect(await viewWhere(dave, (v) => v.status === "playing")).toMatchObject({ you: "x" });
    expect(await view(await open(room, "x-tab"))).toMatchObject({ status: "playing", you: "spectator" });
  });

  it("starts the game when a waiting player who went away comes back to an opponent", async () => {
    const room = uniqueName("back");
    await awayFromWaiting(room);
    const carol = await joinBesideAway(room, "carol");
    await viewWhere(carol, (v) => v.you === "o");
    expect(await viewWhere(await open(room, "x-tab"), (v) => v.status === "playing")).toMatchObject({ you: "x", turn: "x" });
  });

  it("keeps the result and both seats when a player reloads after the game", async () => {
    const room = uniqueName("after");
    const [x, o] = await seat(room);
    await play([x, o], [0, 3, 1, 4, 2]);
    await viewWhere(o, (v) => v.status === "finished");
    o.close(1001, "reload");
    await o.closed;
    const reloaded = await open(room, "o-tab");
    expect(await viewWhere(reloaded, (v) => v.seats.o)).toMatchObject({ status: "finished", you: "o", winner: "x", line: [0, 1, 2], seats: { x: true, o: true } });
    send(reloaded, { type: "rematch" });
    send(x, { type: "rematch" });
    expect(await viewWhere(x, (v) => v.status === "playing")).toMatchObject({ you: "o" });
  });

  it("lets the player left at a finished game wait for a new opponent, whose join starts the next game", async () => {
    const room = uniqueName("ghost");
    const game = getActor(env.TIC_TAC_TOE, room);
    const [x, o] = await seat(room, 3);
    await play([x, o], [4]);
    o.close(1001, "closed the tab");
    await o.closed;
    await advanceClock(3_000, game);
    // o ran out of time, away: its seat shows free (the close may reach the room after the timeout), and the one left can start over.
    expect(await viewWhere(x, (v) => v.status === "finished" && !v.seats.o)).toMatchObject({ winner: "x", reason: "timeout", seats: { x: true, o: false } });
    send(x, { type: "rematch" });
    expect(await viewWhere(x, (v) => v.status === "waiting")).toMatchObject({ you: "x", board: EMPTY, winner: null, seats: { x: true, o: false } });
    const carol = await open(room, "carol");
    await view(carol);
    send(carol, { type: "join" });
    expect(await viewWhere(carol, (v) => v.status === "playing")).toMatchObject({ you: "o", turn: "x" });
  });

  it("answers a call with the caller's view, typed as the room's TicTacToeView", async () => {
    const room = uniqueName("typed");
    const x = await open(room, "x-tab");
    await view(x);
    send(x, { type: "join" });
    await viewWhere(x, (v) => v.you === "x");
    // An RPC caller is a spectator: a leave from it changes nothing, and it sees no mark of its own.
    const seen = await getActor(env.TIC_TAC_TOE, room).call({ type: "leave" });
    expectTypeOf(seen).toEqualTypeOf<TicTacToeView>();
    expect(seen).toMatchObject({ status: "waiting", you: "spectator", seats: { x: true, o: false } });
  });

  it("seats a newcomer at a finished game whose players both went away", async () => {
    const room = uniqueName("empty");
    const game = getActor(env.TIC_TAC_TOE, room);
    const [x, o] = await seat(room, 3);
    x.close(1001, "gone");
    o.close(1001, "gone");
    await Promise.all([x.closed, o.closed]);
    await advanceClock(3_000, game);
    const carol = await open(room, "carol");
    expect(await view(carol)).toMatchObject({ status: "finished", reason: "timeout", seats: { x: false, o: false } });
    send(carol, { type: "join" });
    expect(await viewWhere(carol, (v) => v.you !== "spectator")).toMatchObject({ status: "waiting", you: "x", board: EMPTY, winner: null });
    const dave = await open(room, "dave");
    await view(dave);
    send(dave, { type: "join" });
    expect(await viewWhere(dave, (v) => v.status === "playing")).toMatchObject({ you: "o" });
  });

  it("starts a rematch once both ask, the marks swapped so the other player opens", async () => {
    const room = uniqueName("rematch");
    const [alice, bob] = await seat(room);
    await play([alice, bob], [0, 3, 1, 4, 2]);
    await viewWhere(bob, (v) => v.status === "finished");
    send(alice, { type: "rematch" });
    expect(await viewWhere(bob, (v) => v.rematch.x)).toMatchObject({ status: "finished", rematch: { x: true, o: false } });
    send(bob, { type: "rematch" });
    const fresh = { status: "playing", board: EMPTY, turn: "x", winner: null, reason: null, line: null, rematch: { x: false, o: false } };
    expect(await viewWhere(bob, (v) => v.status === "playing")).toMatchObject({ ...fresh, you: "x" });
    expect(await viewWhere(alice, (v) => v.status === "playing")).toMatchObject({ ...fresh, you: "o" });
    expect(await play([bob, alice], [4])).toMatchObject({ board: [null, null, null, null, "x", null, null, null, null] });
  });

  it("waits for a new opponent when the one who asked for a rematch has left since", async () => {
    const room = uniqueName("asked-then-left");
    const [x, o] = await seat(room);
    await play([x, o], [0, 3, 1, 4, 2]);
    send(o, { type: "rematch" });
    await viewWhere(x, (v) => v.rematch.o);
    o.close(1001, "closed the tab");
    await o.closed;
    await viewWhere(x, (v) => !v.seats.o);
    send(x, { type: "rematch" });
    expect(await viewWhere(x, (v) => v.status !== "finished")).toMatchObject({ status: "waiting", you: "x", board: EMPTY, seats: { x: true, o: false } });
  });

  it("frees the seat of a player who leaves after a game; the other keeps their mark and waits", async () => {
    const room = uniqueName("leave");
    const [x, o] = await seat(room);
    await play([x, o], [0, 3, 1, 4, 2]);
    send(o, { type: "leave" });
    expect(await viewWhere(x, (v) => v.status === "waiting")).toMatchObject({ you: "x", seats: { x: true, o: false }, board: EMPTY, winner: null, line: null });
    const next = await open(room, "carol");
    await view(next);
    send(next, { type: "join" });
    expect(await view(next)).toMatchObject({ status: "playing", you: "o", turn: "x" });
  });
});

describe("A tic-tac-toe room's move clock", () => {
  it("is set by the ?clock= of the socket that creates the room, and no later one", async () => {
    const room = uniqueName("clock");
    expect(await view(await open(room, "first", 10))).toMatchObject({ moveMs: 10_000 });
    expect(await view(await open(room, "second", 20))).toMatchObject({ moveMs: 10_000 });
    expect(await view(await open(room, "third"))).toMatchObject({ moveMs: 10_000 });
  });

  it("refuses a socket with a bad ?clock= with 400 before reaching the room", async () => {
    const response = await exports.default.fetch(`http://examples/parties/tic-tac-toe/${uniqueName("bad-clock")}?clock=1`, { headers: { Upgrade: "websocket" } });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/^clock must be whole seconds from 3 to 300, got "1"/);
  });

  it("restarts on each move, and forfeits the player to move when it runs out, across an eviction", async () => {
    const room = uniqueName("forfeit");
    const game = getActor(env.TIC_TAC_TOE, room);
    const [x, o] = await seat(room, 10);
    await advanceClock(8_000, game);
    await play([x, o], [4]);
    await evict(game);
    expect((await o.closed).code).toBe(1006);
    // 16 s into the game, 8 s into o's clock: the move restarted it.
    await advanceClock(8_000, game);
    const watcher = await open(room, "watcher");
    expect(await view(watcher)).toMatchObject({ status: "playing", turn: "o" });
    await advanceClock(2_000, game);
    expect(await view(watcher)).toMatchObject({ status: "finished", winner: "x", reason: "timeout", deadline: null });
    // The page of the player who ran out reconnects to the result.
    expect(await view(await open(room, "o-tab"))).toMatchObject({ status: "finished", you: "o", winner: "x", reason: "timeout" });
  });

  it("keeps a game in progress across a hibernation and an eviction", async () => {
    const room = uniqueName("durable");
    const game = getActor(env.TIC_TAC_TOE, room);
    const [x, o] = await seat(room);
    await play([x, o], [0, 3]);
    await hibernate(game);
    // Hibernation keeps the sockets: the game goes on over them.
    await play([x, o], [1, 4]);
    await evict(game);
    await x.closed;
    const [x2, o2] = [await open(room, "x-tab"), await open(room, "o-tab")];
    const resumed = { status: "playing", turn: "x", board: ["x", "x", null, "o", "o", null, null, null, null] };
    expect(await view(x2)).toMatchObject({ ...resumed, you: "x" });
    expect(await view(o2)).toMatchObject({ ...resumed, you: "o" });
    expect(await play([x2, o2], [2])).toMatchObject({ status: "finished", winner: "x", line: [0, 1, 2] });
  });
});
