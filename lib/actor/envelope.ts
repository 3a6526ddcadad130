import type { Connection } from "../connections/connection.js";
import { keepShape } from "../connections/kept-shapes.js";
import { InvalidResultError } from "./errors.js";
import type { CallResult, CastResult } from "./results.js";
import type { TimerOp, TimerRow } from "./storage.js";
import type { CastOrigin, From, Info, Json } from "./types.js";

/** A message waiting in the mailbox, tagged by where it came from. */
export type Envelope =
  | { readonly kind: "call"; readonly msg: unknown; readonly from: From; readonly chain: readonly string[] }
  | { readonly kind: "request"; readonly request: Request; readonly from: From }
  | { readonly kind: "cast"; readonly msg: unknown; readonly origin: CastOrigin }
  | { readonly kind: "timeout"; readonly row: TimerRow }
  /** `then`, for the continues of a start: where the turn leaves its own continue, to run before the message that woke the actor. */
  | { readonly kind: "continue"; readonly msg: unknown; readonly then?: { next?: unknown } }
  | { readonly kind: "self"; readonly msg: Json }
  | { readonly kind: "connect"; readonly upgrade: Upgrade }
  | { readonly kind: "replaced"; readonly id: string }
  | { readonly kind: "frame"; readonly connection: Connection; readonly data: string | ArrayBuffer }
  | {
      readonly kind: "closed";
      readonly connection: Connection;
      readonly code: number;
      readonly reason: string;
      readonly wasClean: boolean;
    }
  | { readonly kind: "socketError"; readonly connection: Connection; readonly error: unknown }
  /** Starts the actor (init, handleStart) without a message for it: `getServerByName`, routing with props. */
  | { readonly kind: "start"; readonly failed: (error: unknown) => void }
  /** Timer changes made outside any turn, committed in mailbox order. */
  | { readonly kind: "timers"; readonly ops: readonly TimerOp[] }
  /** A timer's deadline, read in mailbox order so it sees every change queued before it. */
  | { readonly kind: "timerRead"; readonly key: string; readonly answer: (due: number | null) => void };

/** A WebSocket upgrade on its way through the connect turn. */
export interface Upgrade {
  readonly request: Request;
  readonly socket: WebSocket;
  readonly id: string;
  readonly offered: readonly string[];
  /** A socket with this id was open or connecting: a `replaced` turn runs first, and tells the actor this client's connect comes next. */
  readonly replacing: boolean;
  /** Set in the turn: the subprotocol to answer with, and the connection once accepted. */
  protocol?: string;
  connection?: Connection;
}

export type AnyResult = CallResult<unknown, unknown> | CastResult<unknown>;

/**
 * One object of each envelope's shape and of each `handleInfo` message's, keys in the order their
 * sites write them: their maps outlive the messages (see kept-shapes.ts). A room that has run some
 * time has optimized its turn loop for all of them; a connect, a close or a start happens rarely,
 * and once the last such envelope was collected, every full GC threw that code away with its map
 * (bench/readings.md, "What each full GC cleared, found, and kept"). Values are of the kind the
 * sites store (`due` a double, as `Date.now()` is), so a real message doesn't change the map.
 */
const ANY = {};
const NONE = () => {};
// Keyed by kind and type: a kind added to Envelope or Info without its shapes here fails to compile.
const ENVELOPE_SHAPES: Record<Envelope["kind"], object[]> = {
  call: [{ kind: "call", msg: ANY, from: ANY, chain: [] }],
  request: [{ kind: "request", request: ANY, from: ANY }],
  cast: [{ kind: "cast", msg: ANY, origin: ANY }],
  timeout: [{ kind: "timeout", row: ANY }],
  continue: [
    { kind: "continue", msg: ANY },
    { kind: "continue", msg: ANY, then: ANY },
  ],
  self: [{ kind: "self", msg: ANY }],
  connect: [{ kind: "connect", upgrade: ANY }],
  replaced: [{ kind: "replaced", id: "" }],
  frame: [{ kind: "frame", connection: ANY, data: "" }],
  closed: [{ kind: "closed", connection: ANY, code: 1000, reason: "", wasClean: true }],
  socketError: [{ kind: "socketError", connection: ANY, error: ANY }],
  start: [{ kind: "start", failed: NONE }],
  timers: [{ kind: "timers", ops: [] }],
  timerRead: [{ kind: "timerRead", key: "", answer: NONE }],
};
const INFO_SHAPES: Record<Info["type"], object[]> = {
  timeout: [{ type: "timeout", key: "", msg: ANY, attempt: 0, due: 0.5 }],
  self: [{ type: "self", msg: ANY }],
  connect: [{ type: "connect", connection: ANY, request: ANY }],
  message: [{ type: "message", connection: ANY, data: "" }],
  close: [
    { type: "close", connection: ANY, code: 1000, reason: "", wasClean: true },
    { type: "close", connection: ANY, code: 1000, reason: "", wasClean: true, replaced: true },
  ],
  error: [{ type: "error", connection: ANY, error: ANY }],
};
for (const shape of [...Object.values(ENVELOPE_SHAPES), ...Object.values(INFO_SHAPES)].flat()) keepShape(shape);

const LEGAL: Record<Envelope["kind"], readonly string[]> = {
  call: ["reply", "noreply", "stop"],
  request: ["reply", "noreply", "stop"],
  cast: ["noreply", "stop"],
  timeout: ["noreply", "stop"],
  continue: ["noreply", "stop"],
  self: ["noreply", "stop"],
  connect: ["noreply", "stop"],
  replaced: ["noreply", "stop"],
  frame: ["noreply", "stop"],
  closed: ["noreply", "stop"],
  socketError: ["noreply", "stop"],
  start: [],
  timers: [],
  timerRead: [],
};

export const HANDLER: Record<Envelope["kind"], string> = {
  call: "handleCall",
  request: "handleRequest",
  cast: "handleCast",
  timeout: "handleInfo",
  continue: "handleContinue",
  self: "handleInfo",
  connect: "handleInfo",
  replaced: "handleInfo",
  frame: "handleInfo",
  closed: "handleInfo",
  socketError: "handleInfo",
  start: "handleStart",
  timers: "sendAfter",
  timerRead: "timerDeadline",
};

/** Types catch a wrong shape in TypeScript; this catches it from JavaScript or a cast. */
export function checkResult(result: unknown, envelope: Envelope, owner: { readonly label: string }): AnyResult {
  const kind = typeof result === "object" && result !== null ? (result as { kind?: unknown }).kind : undefined;
  // noreply is legal from every handler, reply from every call: the common answers need no table lookup.
  if (kind === "noreply" || (kind === "reply" && envelope.kind === "call")) return result as AnyResult;
  if (typeof kind === "string" && LEGAL[envelope.kind].includes(kind)) {
    if (envelope.kind === "request" && kind === "reply" && !((result as { value: unknown }).value instanceof Response)) {
      throw new InvalidResultError(`${owner.label}: handleRequest must reply with a Response.`);
    }
    return result as AnyResult;
  }
  const legal = LEGAL[envelope.kind].map((k) => `${k}(…)`).join(", ");
  throw new InvalidResultError(`${owner.label}: ${HANDLER[envelope.kind]} returned ${describe(result)}; it must return one of ${legal}.`);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (did you forget to return?)";
  const kind = typeof value === "object" && value !== null ? (value as { kind?: unknown }).kind : undefined;
  return typeof kind === "string" ? `${kind}(…)` : typeof value;
}
