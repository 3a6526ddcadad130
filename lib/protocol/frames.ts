import type { WireError } from "./errors.js";

/**
 * genparty's wire format: JSON text frames whose first key is `"gp"` (the protocol version), so a
 * server tells them from any other frame by their first bytes and plain partysocket clients keep
 * working untouched.
 *
 * client → server: `call {id, msg, ack?}` · `cast {msg}` · `cancel {id}`
 * server → client: `reply {id, ok}` or `reply {id, err}` · `error {id?, err}` (a bad frame) · `push {msg}`
 *   · `stopped {reason, keep}` (the actor stopped, then the socket closes: calls sent on it go
 *   unanswered, except those in `keep`, still queued, which the restarted actor answers once sent again)
 */
export const PROTOCOL_VERSION = 1;
/** Protocol frames above this size are refused with an error frame; the socket stays open. */
export const MAX_PROTOCOL_FRAME_BYTES = 1_048_576;
/** The close reason of an older socket when a newer one connects with its id (code 1000): the client stops reconnecting on it. */
export const REPLACED_REASON = "Replaced by a newer connection with the same id";
const PREFIX = `{"gp":`;

export type ClientFrame =
  | { readonly gp: 1; readonly t: "call"; readonly id: string; readonly msg: unknown; readonly ack?: readonly string[] }
  | { readonly gp: 1; readonly t: "cast"; readonly msg: unknown }
  | { readonly gp: 1; readonly t: "cancel"; readonly id: string };

export type ServerFrame =
  | { readonly gp: 1; readonly t: "reply"; readonly id: string; readonly ok?: unknown; readonly err?: WireError }
  | { readonly gp: 1; readonly t: "error"; readonly id?: string; readonly err: WireError }
  | { readonly gp: 1; readonly t: "push"; readonly msg: unknown }
  | { readonly gp: 1; readonly t: "stopped"; readonly reason: string; readonly keep: readonly string[] };

/** Longest call id accepted. */
export const MAX_CALL_ID_LENGTH = 128;
/**
 * Most call ids one call frame acknowledges (`ack`): calls whose replies the client has received,
 * which the server then stops keeping for re-sends.
 */
export const MAX_ACKS = 256;

export function isProtocolFrame(data: unknown): data is string {
  return typeof data === "string" && data.startsWith(PREFIX);
}

/** Frames are built with `gp` first: that is what `isProtocolFrame` looks for. */
export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * A client frame refused: what is wrong with it and, when it can be found, the call id. Told from
 * a good frame by its `t`, in the switch that reads every frame's: `instanceof` on a module's
 * class was a generic builtin call (and a property lookup) on every socket call (`perf`).
 */
export class BadFrame {
  readonly t = "bad";

  constructor(
    readonly problem: string,
    readonly id?: string,
  ) {}
}

/**
 * A frame's size as far as the limit cares: characters first (cheap), UTF-8 bytes only when
 * non-ASCII text could make the difference. Over the limit, it is a lower bound.
 */
export function frameBytes(data: string): number {
  return data.length > MAX_PROTOCOL_FRAME_BYTES || data.length * 3 <= MAX_PROTOCOL_FRAME_BYTES ? data.length : new TextEncoder().encode(data).byteLength;
}

/**
 * Reads a client frame; a bad one yields a {@link BadFrame}. The frame itself, not wrapped in an
 * `{ ok, frame }`: that was an object made for every message.
 */
export function parseClientFrame(data: string): ClientFrame | BadFrame {
  const bytes = frameBytes(data);
  if (bytes > MAX_PROTOCOL_FRAME_BYTES) return bad(data, `The frame is ${bytes} bytes or more; protocol frames are at most ${MAX_PROTOCOL_FRAME_BYTES} bytes.`);
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return bad(data, "The frame starts like a genparty frame but is not valid JSON.");
  }
  const frame = value as Record<string, unknown>;
  if (frame.gp !== PROTOCOL_VERSION) return bad(data, `Protocol version ${String(frame.gp)} is not spoken here (this server speaks ${PROTOCOL_VERSION}).`);
  switch (frame.t) {
    case "call":
      if (typeof frame.id !== "string" || frame.id.length === 0 || frame.id.length > MAX_CALL_ID_LENGTH) {
        return bad(data, `A call needs an "id": a string of 1 to ${MAX_CALL_ID_LENGTH} characters.`);
      }
      if (!("msg" in frame)) return bad(data, `A call needs a "msg".`);
      if (frame.ack !== undefined && !isAckList(frame.ack)) return bad(data, `A call's "ack" must be an array of at most ${MAX_ACKS} call ids (strings).`);
      break;
    case "cast":
      if (!("msg" in frame)) return bad(data, `A cast needs a "msg".`);
      break;
    case "cancel":
      if (typeof frame.id !== "string") return bad(data, `A cancel needs the "id" of the call.`);
      break;
    default:
      return bad(data, `Unknown frame type ${JSON.stringify(frame.t)}; expected "call", "cast" or "cancel".`);
  }
  // The parsed object itself, checked: a copy per frame was garbage on every socket call.
  return frame as unknown as ClientFrame;
}

function isAckList(value: unknown): value is readonly string[] {
  if (!Array.isArray(value) || value.length > MAX_ACKS) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== "string") return false;
  return true;
}

/**
 * A bad frame: what is wrong, and the call's id when the frame starts as the client writes a call
 * (it may not even be JSON). Only there: an `"id"` inside a cast's message names no call.
 */
function bad(data: string, problem: string): BadFrame {
  return new BadFrame(problem, /^\{"gp":\d+,"t":"call","id":"([^"\\]{1,128})"/.exec(data.slice(0, 512))?.[1]);
}

/** Reads a server frame (in the client). */
export function parseServerFrame(data: string): ServerFrame | undefined {
  try {
    const frame = JSON.parse(data) as ServerFrame;
    return frame.gp === PROTOCOL_VERSION && (frame.t === "reply" || frame.t === "error" || frame.t === "push" || frame.t === "stopped") ? frame : undefined;
  } catch {
    return undefined;
  }
}
