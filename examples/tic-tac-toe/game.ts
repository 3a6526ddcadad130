import { and, assign, setup, type SnapshotFrom } from "xstate";
import type { Connection } from "../../lib/index.js";
import { MachineServer } from "../../lib/machine/index.js";

export type Mark = "x" | "o";
export type Cell = Mark | null;

/** How long the player to move has, unless the room was created with another clock (see {@link TicTacToeInput}). */
export const DEFAULT_MOVE_MS = 30_000;
/** Bounds on a room's move clock: short enough to test a forfeit, long enough to think. */
export const MIN_MOVE_MS = 3_000;
export const MAX_MOVE_MS = 300_000;

/** What a fresh room starts from: the props of the request that created it (see serve.ts). */
export interface TicTacToeInput {
  /** The move clock, in ms, from {@link MIN_MOVE_MS} to {@link MAX_MOVE_MS}. @default DEFAULT_MOVE_MS */
  moveMs?: number;
}

export interface TicTacToeContext {
  board: Cell[];
  /**
   * Connection ids (`_pk`) holding each seat. A seat belongs to the id, not to a socket, so a
   * player who reloads the page (same `_pk` from sessionStorage) is still that player.
   */
  players: { x: string | null; o: string | null };
  turn: Mark;
  /** When the player to move forfeits (epoch ms); null outside `playing`. Kept so clients can count down. */
  deadline: number | null;
  moveMs: number;
  winner: Mark | "draw" | null;
  reason: "line" | "full" | "timeout" | null;
  /** The three cells that won, for the page to highlight. */
  line: number[] | null;
  /** Who asked for a rematch since the game ended; it starts once both have. */
  rematch: { x: boolean; o: boolean };
  /**
   * Seats whose player's socket closed. The seat stays theirs (a reload or a dropped connection
   * must not lose a game, nor a result), but it is up for grabs: a newcomer who joins takes it,
   * and the player left at a finished game can start waiting for a new opponent.
   */
  away: { x: boolean; o: boolean };
}

/**
 * What clients send, as JSON text frames `{"type":"move","cell":4}` or casts. `connection` is not
 * theirs to set: MachineServer overwrites it with the sender's connection id on every socket event,
 * which is what makes "is it their turn?" a guard a client can't talk its way past.
 */
export type TicTacToeEvent =
  | { type: "join"; connection?: string }
  | { type: "move"; cell: number; connection?: string }
  | { type: "rematch"; connection?: string }
  | { type: "leave"; connection?: string }
  /** Sent by MachineServer itself when a socket connects or closes (clients can't send them); a reload is a connect only. */
  | { type: "connect"; connection?: string }
  | { type: "disconnect"; connection?: string };

/** The eight winning lines of the board (cell indexes). */
export const LINES = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
] as const;

const EMPTY_BOARD: readonly Cell[] = Array<Cell>(9).fill(null);
const other = (mark: Mark): Mark => (mark === "x" ? "o" : "x");

/** Seats a newcomer may take: empty ones, then those whose player went away. */
function freeSeats(context: TicTacToeContext): Mark[] {
  const marks: Mark[] = ["x", "o"];
  return [...marks.filter((mark) => context.players[mark] === null), ...marks.filter((mark) => context.players[mark] !== null && context.away[mark])];
}

/** The seat a connection holds: null for spectators, and for RPC events, which name no connection. */
function seatOf(context: TicTacToeContext, connection: string | undefined): Mark | null {
  if (connection === undefined) return null;
  return context.players.x === connection ? "x" : context.players.o === connection ? "o" : null;
}

/** The board after the move in `event`, which the guards have already found legal. */
function boardAfter(context: TicTacToeContext, event: TicTacToeEvent): Cell[] {
  const board = [...context.board];
  if (event.type === "move") board[event.cell] = context.turn;
  return board;
}

function lineOn(board: readonly Cell[]): number[] | null {
  const line = LINES.find(([a, b, c]) => board[a] !== null && board[a] === board[b] && board[a] === board[c]);
  return line ? [...line] : null;
}

/**
 * The room's clock, from the props that created it. Props come from the worker, but a room can
 * also be started over RPC with anything: fall back to the default rather than arm a NaN delay.
 */
function moveMsFrom(input: TicTacToeInput | undefined): number {
  const ms = input?.moveMs;
  return typeof ms === "number" && Number.isInteger(ms) && ms >= MIN_MOVE_MS && ms <= MAX_MOVE_MS ? ms : DEFAULT_MOVE_MS;
}

/**
 * Tic-tac-toe with a move clock. The first two players to `join` get x and o; x moves first; a
 * player who doesn't move within the clock forfeits. After a game both players may ask for a
 * `rematch` (marks swap, so the other player opens); a player who `leave`s frees the seat. A
 * player whose tab closes keeps the seat (a reload is the same player) but is marked away: a
 * newcomer may take the seat, and the player left at a finished game may wait for a new opponent.
 *
 * Every rule is a guard, so an event that breaks one (out of turn, a taken cell, a spectator's
 * move) matches no transition and changes nothing: nobody is told, the board just doesn't move.
 */
export const ticTacToeMachine = setup({
  types: {
    context: {} as TicTacToeContext,
    events: {} as TicTacToeEvent,
    input: {} as TicTacToeInput | undefined,
  },
  delays: {
    // A named delay read from context: the clock is chosen per room, when it is created.
    moveClock: ({ context }) => context.moveMs,
  },
  guards: {
    isSeated: ({ context, event }) => seatOf(context, event.connection) !== null,
    // An RPC event names no connection, so there is nobody to seat.
    isNewcomer: ({ context, event }) => event.connection !== undefined && seatOf(context, event.connection) === null,
    hasFreeSeat: ({ context }) => freeSeats(context).length > 0,
    // True before the seat is taken: this join is the one that fills the room.
    isLastFreeSeat: ({ context }) => freeSeats(context).length === 1,
    isTheirTurn: ({ context, event }) => seatOf(context, event.connection) === context.turn,
    // Clients send any JSON: `cell` may be missing, fractional or a string.
    isFreeCell: ({ context, event }) =>
      event.type === "move" && Number.isInteger(event.cell) && event.cell >= 0 && event.cell < 9 && context.board[event.cell] === null,
    makesLine: ({ context, event }) => lineOn(boardAfter(context, event)) !== null,
    fillsBoard: ({ context, event }) => boardAfter(context, event).every((cell) => cell !== null),
    opponentWantsRematch: ({ context, event }) => {
      const seat = seatOf(context, event.connection);
      return seat !== null && context.rematch[other(seat)];
    },
    // The other seat is held by a player who is here.
    opponentHere: ({ context, event }) => {
      const seat = seatOf(context, event.connection);
      return seat !== null && context.players[other(seat)] !== null && !context.away[other(seat)];
    },
    opponentLeft: ({ context, event }) => {
      const seat = seatOf(context, event.connection);
      return seat !== null && freeSeats(context).includes(other(seat));
    },
  },
  actions: {
    // An empty seat first; else the seat of a player who went away, who now watches if they come back.
    takeSeat: assign(({ context, event }) => {
      const seat = freeSeats(context)[0]!;
      return { players: { ...context.players, [seat]: event.connection! }, away: { ...context.away, [seat]: false } };
    }),
    freeSeat: assign(({ context, event }) => {
      const seat = seatOf(context, event.connection) === "x" ? "x" : "o";
      return { players: { ...context.players, [seat]: null }, away: { ...context.away, [seat]: false } };
    }),
    markAway: assign(({ context, event }) => ({ away: { ...context.away, [seatOf(context, event.connection)!]: true } })),
    markBack: assign(({ context, event }) => ({ away: { ...context.away, [seatOf(context, event.connection)!]: false } })),
    clearBoard: assign({
      board: () => [...EMPTY_BOARD],
      turn: "x" as const,
      winner: null,
      reason: null,
      line: null,
      rematch: { x: false, o: false },
    }),
    place: assign(({ context, event }) => ({ board: boardAfter(context, event) })),
    passTurn: assign(({ context }) => ({ turn: other(context.turn) })),
    declareWinner: assign(({ context }) => ({ winner: context.turn, reason: "line" as const, line: lineOn(context.board) })),
    declareDraw: assign({ winner: "draw" as const, reason: "full" as const }),
    forfeit: assign(({ context }) => ({ winner: other(context.turn), reason: "timeout" as const })),
    voteRematch: assign(({ context, event }) => ({ rematch: { ...context.rematch, [seatOf(context, event.connection)!]: true } })),
    // Whoever played o opens the next game: x always moves first, so the marks change hands.
    swapSeats: assign(({ context }) => ({ players: { x: context.players.o, o: context.players.x }, away: { x: context.away.o, o: context.away.x } })),
    // Date.now(), not the room's `now()`: a machine can't reach the actor. In production they are
    // the same clock, and this runs in the same synchronous step that arms the durable delay, so
    // the deadline clients see is the one the delay fires at.
    startClock: assign(({ context }) => ({ deadline: Date.now() + context.moveMs })),
    stopClock: assign({ deadline: null }),
  },
}).createMachine({
  id: "tic-tac-toe",
  context: ({ input }) => ({
    board: [...EMPTY_BOARD],
    players: { x: null, o: null },
    turn: "x",
    deadline: null,
    moveMs: moveMsFrom(input),
    winner: null,
    reason: null,
    line: null,
    rematch: { x: false, o: false },
    away: { x: false, o: false },
  }),
  initial: "waiting",
  // A player back (a reload, a reconnect) is no longer away.
  on: { connect: { guard: "isSeated", actions: "markBack" } },
  states: {
    waiting: {
      on: {
        join: [
          { guard: and(["isNewcomer", "isLastFreeSeat"]), target: "playing", actions: "takeSeat" },
          { guard: and(["isNewcomer", "hasFreeSeat"]), actions: "takeSeat" },
        ],
        leave: { guard: "isSeated", actions: "freeSeat" },
        // A player who closes the tab keeps the seat until a newcomer takes it, or they come back.
        disconnect: { guard: "isSeated", actions: "markAway" },
        // Back to an opponent who sat down meanwhile: the game starts.
        connect: [
          { guard: and(["isSeated", "opponentHere"]), target: "playing", actions: "markBack" },
          { guard: "isSeated", actions: "markBack" },
        ],
      },
    },
    playing: {
      // Entry and exit run again on every move (`reenter`), so each move restarts the clock:
      // xstate cancels the old delay on exit, MachineServer deletes its durable timer.
      entry: "startClock",
      exit: "stopClock",
      after: { moveClock: { target: "finished", actions: "forfeit" } },
      on: {
        // The order matters: xstate takes the first branch whose guard passes. The guards read the
        // board before the move, so `makesLine` and `fillsBoard` look at the board after it.
        move: [
          { guard: and(["isTheirTurn", "isFreeCell", "makesLine"]), target: "finished", actions: ["place", "declareWinner"] },
          { guard: and(["isTheirTurn", "isFreeCell", "fillsBoard"]), target: "finished", actions: ["place", "declareDraw"] },
          { guard: and(["isTheirTurn", "isFreeCell"]), target: "playing", reenter: true, actions: ["place", "passTurn"] },
        ],
        // No `leave` here: a dropped socket must not lose a game. A player who is really gone
        // loses on the clock.
        disconnect: { guard: "isSeated", actions: "markAway" },
      },
    },
    finished: {
      on: {
        // The seat of a player who went away can be taken (the result is cleared): a new game starts once both are seated.
        join: [
          { guard: and(["isNewcomer", "isLastFreeSeat"]), target: "playing", actions: ["clearBoard", "takeSeat"] },
          { guard: and(["isNewcomer", "hasFreeSeat"]), target: "waiting", actions: ["clearBoard", "takeSeat"] },
        ],
        rematch: [
          // Nobody to play again, even one who asked before leaving: wait for a new opponent, keeping the seat.
          { guard: "opponentLeft", target: "waiting", actions: "clearBoard" },
          { guard: and(["isSeated", "opponentWantsRematch"]), target: "playing", actions: ["swapSeats", "clearBoard"] },
          { guard: "isSeated", actions: "voteRematch" },
        ],
        // The one who stays keeps their mark and waits for a new opponent; the old result is cleared.
        leave: { guard: "isSeated", target: "waiting", actions: ["freeSeat", "clearBoard"] },
        // A reload must not clear the result: the seat waits for its player, or a newcomer.
        disconnect: { guard: "isSeated", actions: "markAway" },
      },
    },
  },
});

/**
 * What one connection sees. Seats are shown as taken or free, never as the ids holding them: an
 * id is a `_pk`, and whoever knows it can connect as that player.
 */
export type TicTacToeView = Pick<TicTacToeContext, "board" | "deadline" | "moveMs" | "winner" | "reason" | "line" | "rematch"> & {
  status: "waiting" | "playing" | "finished";
  /** Whose move it is; null unless playing. */
  turn: Mark | null;
  you: Mark | "spectator";
  seats: { x: boolean; o: boolean };
};

/**
 * A tic-tac-toe room: one Durable Object per room name running {@link ticTacToeMachine}. The
 * board, the seats and the move clock's deadline are saved with every turn, so a game goes on
 * where it was after hibernation, eviction or a redeploy, and a clock that ran out while the room
 * was asleep forfeits the game when it wakes.
 *
 * @example
 * // worker: the room's WebSocket is /parties/tic-tac-toe/:room (binding TIC_TAC_TOE)
 * const routed = await routePartykitRequest(request, { TIC_TAC_TOE: env.TIC_TAC_TOE });
 *
 * // browser: every change arrives as {"gp":1,"t":"push","msg":{"type":"state","state":<TicTacToeView>}}
 * const socket = new WebSocket(`/parties/tic-tac-toe/lobby?_pk=${id}`);
 * socket.send(JSON.stringify({ type: "join" }));
 * socket.send(JSON.stringify({ type: "move", cell: 4 }));
 *
 * An event the machine doesn't know, or a frame that isn't a JSON event, is answered with an
 * error frame `{"gp":1,"t":"error","err":{"name":"UnknownEventError",…}}`; a known event that
 * breaks a rule is ignored.
 */
export class TicTacToeRoom extends MachineServer<Cloudflare.Env, typeof ticTacToeMachine, TicTacToeView> {
  static override machine = ticTacToeMachine;

  override project(snapshot: SnapshotFrom<typeof ticTacToeMachine>, connection?: Connection): TicTacToeView {
    const { context } = snapshot;
    const status = snapshot.value as TicTacToeView["status"];
    const you = connection === undefined ? "spectator" : (seatOf(context, connection.id) ?? "spectator");
    return {
      status,
      board: context.board,
      turn: status === "playing" ? context.turn : null,
      you,
      // A seat whose player went away shows as free: a newcomer may take it.
      seats: { x: context.players.x !== null && !context.away.x, o: context.players.o !== null && !context.away.o },
      deadline: context.deadline,
      moveMs: context.moveMs,
      winner: context.winner,
      reason: context.reason,
      line: context.line,
      rematch: context.rematch,
    };
  }
}
