import { type Connection, isOpen, sendNow } from "../connections/connection.js";
import { keepShape } from "../connections/kept-shapes.js";
import type { ConnectionManager } from "../connections/manager.js";
import { CallCancelledError, type GenpartyError, MailboxFullError, ProtocolError, toWire } from "../protocol/errors.js";
import { encodeFrame, parseClientFrame, type ServerFrame } from "../protocol/frames.js";
import { clock } from "./clock.js";
import type { Envelope } from "./envelope.js";
import type { Outcome } from "./replies.js";
import { CallFrom } from "./call-from.js";
import { jsonProblem } from "./state-json.js";
import type { From } from "./types.js";

type SocketFrom = Extract<From, { type: "socket" }>;

/** How long an answered call id is remembered, so a client that re-sends it after a reconnect gets the same reply (genparty's clock, so tests can move it). */
export const ANSWERED_CALL_TTL_MS = 5 * 60_000;
/** Call ids remembered per connection id, at least; the oldest answered ones go first. */
const CALLS_PER_CONNECTION = 512;
/**
 * How far past the limit a list grows before it is cut back to it. Each cut walks the Map from its
 * front, where the entries deleted by the previous cuts linger until V8 compacts it: once per call,
 * that walk was ~6% of a busy connection's CPU.
 */
const FORGET_BATCH = 64;
/** How often expired answers are looked for. */
const SWEEP_EVERY_MS = 30_000;
/**
 * Characters of reply frames kept for re-sends, all connections together (8 Mi: 8 MB of ASCII, up to
 * 16 MB of memory). Past it the oldest go first, down to three quarters of it: a client polling a big
 * state must not fill the object's 128 MB with replies it already has.
 */
export const MAX_STORED_REPLY_CHARS = 8 * 1024 * 1024;

/**
 * What is known of a call id: pending until `frame` is set, then answered. One object from the
 * call's arrival until its answer is forgotten, changed in place when answered: an answered entry
 * made per call, and the Map write to put it in the pending one's place, were work on every call.
 */
class Entry {
  /** The reply frame, kept for a re-sent call; undefined while the call waits. */
  frame: string | undefined = undefined;
  /** When it was answered: only answers expire, so a call that waits has no time (`Date.now` is a call into workerd). */
  at = 0;
  /** While the call waits, the socket it came on: the reply goes there while it is open (else to the connection id's current socket). */
  connection: Connection | undefined;
  /** Made when the handler reads `from.signal` or the client cancels: most calls do neither. */
  controller: AbortController | undefined = undefined;

  constructor(connection: Connection | undefined) {
    this.connection = connection;
  }

  /** Keeps the reply; the socket and the controller are let go with the wait. */
  answered(frame: string, at: number): void {
    this.frame = frame;
    this.at = at;
    this.connection = undefined;
    this.controller = undefined;
  }
}

// The map of an answered entry, whose `at` holds a double as `Date.now()`'s are, outlives the calls (see kept-shapes.ts).
const keptEntry = new Entry(undefined);
keptEntry.answered("", 2 ** 40);
keepShape(keptEntry);

interface SocketCallHost {
  readonly connections: ConnectionManager;
  label(): string;
  isFull(): boolean;
  enqueue(envelope: Envelope): void;
  admit(envelope: Envelope): void;
}

/**
 * Calls and casts that clients send as protocol frames. Each call id is answered once per
 * connection id: a re-sent call (partysocket reconnected, the client resent what was pending) is
 * not run again, and gets the stored reply if it was answered meanwhile.
 */
export class SocketCalls {
  readonly #host: SocketCallHost;
  readonly #calls = new Map<string, Map<string, Entry>>();
  /** When remembered answers are next checked against the TTL. */
  #nextSweep = 0;
  /** Characters of the reply frames remembered. */
  #storedChars = 0;
  /** The socket whose call frame is being received: a call answered before `receive` returns is answered on it. */
  #receiving: Connection | undefined = undefined;

  constructor(host: SocketCallHost) {
    this.#host = host;
  }

  receive(connection: Connection, data: string): void {
    const frame = parseClientFrame(data);
    switch (frame.t) {
      case "bad": {
        const err = toWire(new ProtocolError(`${this.#host.label()}: ${frame.problem}`));
        return this.#send(connection, frame.id === undefined ? { gp: 1, t: "error", err } : { gp: 1, t: "error", id: frame.id, err });
      }
      case "cast":
        return this.#host.admit({ kind: "cast", msg: frame.msg, origin: { type: "socket", connection } });
      case "cancel": {
        const calls = this.#calls.get(connection.id);
        const entry = calls?.get(frame.id);
        if (entry !== undefined && entry.frame === undefined) {
          entry.controller?.abort(new CallCancelledError(`The caller cancelled call ${frame.id}.`));
          // The client never sends it again. Kept, a call whose handler never answers (GenServer
          // allows it) would stay for good, and fill the list that keeps answers for re-sends.
          // `from.signal` now reads as aborted, and a late answer is stored as one after a wake is.
          calls!.delete(frame.id);
        }
        return;
      }
      case "call": {
        // A connection's id is a getter that finds its slot: read it once.
        const connectionId = connection.id;
        const calls = this.#calls.get(connectionId);
        const known = calls?.get(frame.id);
        const full = known === undefined && this.#host.isFull();
        if (known === undefined && !full) this.#remember(connectionId, frame.id, new Entry(connection), calls);
        // The acknowledged answers go after the new call is in: a list emptied first was shrunk and
        // grown again, a rehash on every call of a client that makes one at a time (`perf`).
        if (frame.ack !== undefined && calls !== undefined) this.#forgetAcknowledged(calls, frame.ack);
        if (known !== undefined) return known.frame === undefined ? undefined : this.#sendRaw(connection, known.frame);
        if (full) {
          const error = new MailboxFullError(`${this.#host.label()}'s mailbox is full; call ${frame.id} was rejected. Retry later.`);
          return this.#send(connection, { gp: 1, t: "reply", id: frame.id, err: toWire(error) });
        }
        const from = new SocketCallFrom(frame.id, connectionId, this.#calls);
        this.#receiving = connection;
        try {
          return this.#host.enqueue({ kind: "call", msg: frame.msg, from, chain: NO_CHAIN });
        } finally {
          this.#receiving = undefined;
        }
      }
    }
  }

  /** Forgets remembered call ids, as a wake from hibernation does (for `genparty/testing`). */
  forget(): void {
    this.#calls.clear();
    this.#storedChars = 0;
  }

  /** Whether `from` may still be answered (unknown counts: it may be a call from before a hibernation). */
  canAnswer(from: SocketFrom): boolean {
    return entryOf(this.#calls, from.connection, from.id)?.frame === undefined;
  }

  /** Sends the answer to whichever socket holds the connection id now; remembers it for a re-sent call. */
  answer(from: SocketFrom, outcome: Outcome): boolean {
    const calls = this.#calls.get(from.connection);
    const entry = calls?.get(from.id);
    if (entry?.frame !== undefined) return false;
    const frame = encodeReply(from.id, outcome, this.#host);
    this.#storedChars += frame.length;
    const at = clock.now();
    // The socket the call came on, while it is still the connection's; after a reconnect (or a wake), whichever holds the id now.
    const sent = entry?.connection;
    if (entry) entry.answered(frame, at);
    else {
      // A call from before a wake, or one forgotten meanwhile: its answer is kept all the same.
      const known = new Entry(undefined);
      known.answered(frame, at);
      this.#remember(from.connection, from.id, known, calls);
    }
    if (at >= this.#nextSweep) this.#forgetExpired(at);
    if (this.#storedChars > MAX_STORED_REPLY_CHARS) this.#shrink();
    // Answered while its frame is received, the socket is still the connection's and open (the
    // runtime checked it), so its state isn't read, a call into workerd per reply. Should the turn
    // have closed it, the send throws and the answer waits for the re-send, as it would have had
    // the state been read: no open socket holds the id.
    const current = sent !== undefined && (sent === this.#receiving || (isOpen(sent) && !this.#host.connections.isRetired(sent)));
    const connection = current ? sent : this.#host.connections.get(from.connection);
    if (connection) this.#sendRaw(connection, frame);
    return true;
  }

  /** Answers every call still pending with `error`, except those in `except` (keys from {@link callKey}). */
  rejectPending(error: GenpartyError, except: ReadonlySet<string>): void {
    for (const [connection, calls] of this.#calls) {
      for (const [id, entry] of calls) {
        if (entry.frame === undefined && !except.has(callKey({ type: "socket", id, connection }))) {
          this.answer({ type: "socket", id, connection }, { ok: false, error });
        }
      }
    }
  }

  /**
   * Tells the client on `connection` that the actor stopped, before its socket closes: a call it
   * sent goes unanswered (deferred in state, it was lost with it; after a wake this side doesn't
   * know of it), unless it is still `queued` (keys from {@link callKey}) for the restarted actor.
   * Without this the client would send those calls again after reconnecting, to run once more.
   */
  stopped(connection: Connection, reason: string, queued: ReadonlySet<string>): void {
    const prefix = `socket:${connection.id}:`;
    const keep = [...queued].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
    this.#sendRaw(connection, encodeFrame({ gp: 1, t: "stopped", reason, keep }));
  }

  /** `calls`: the connection's list, when the caller has already looked it up. */
  #remember(connection: string, id: string, entry: Entry, calls = this.#calls.get(connection)): void {
    if (!calls) this.#calls.set(connection, (calls = new Map()));
    calls.set(id, entry);
    if (calls.size > CALLS_PER_CONNECTION + FORGET_BATCH) this.#forgetOldest(calls, calls.size - CALLS_PER_CONNECTION);
  }

  /**
   * Every so often, not per call: answers older than the TTL go. Each list is walked whole: it is in
   * call order, and a call answered late sits before younger calls' older answers.
   */
  #forgetExpired(now: number): void {
    this.#nextSweep = now + SWEEP_EVERY_MS;
    const cutoff = now - ANSWERED_CALL_TTL_MS;
    for (const [connection, calls] of this.#calls) {
      for (const [id, old] of calls) {
        if (old.frame !== undefined && old.at < cutoff) this.#forgetAnswer(calls, id, old.frame);
      }
      if (calls.size === 0) this.#calls.delete(connection);
    }
  }

  /** Over the budget: the oldest answers go (the longest-known connections' first), down to three quarters of it. */
  #shrink(): void {
    const target = MAX_STORED_REPLY_CHARS * 0.75;
    for (const [connection, calls] of this.#calls) {
      for (const [id, old] of calls) {
        if (this.#storedChars <= target) return;
        if (old.frame !== undefined) this.#forgetAnswer(calls, id, old.frame);
      }
      if (calls.size === 0) this.#calls.delete(connection);
    }
  }

  /**
   * The client has these replies: it will never send those calls again, so their answers go now
   * rather than after five minutes or 512 more calls. Kept that long, every answer outlived the
   * young generation of V8's heap, to be copied and collected with the old. Calls still waiting stay.
   */
  #forgetAcknowledged(calls: Map<string, Entry>, ids: readonly string[]): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const frame = calls.get(id)?.frame;
      if (frame !== undefined) this.#forgetAnswer(calls, id, frame);
    }
  }

  /** The `count` oldest answers of a connection. */
  #forgetOldest(calls: Map<string, Entry>, count: number): void {
    for (const [id, old] of calls) {
      if (count === 0) return;
      if (old.frame !== undefined) {
        this.#forgetAnswer(calls, id, old.frame);
        count--;
      }
    }
  }

  #forgetAnswer(calls: Map<string, Entry>, id: string, frame: string): void {
    calls.delete(id);
    this.#storedChars -= frame.length;
  }

  #send(connection: Connection, frame: ServerFrame): void {
    this.#sendRaw(connection, encodeFrame(frame));
  }

  /**
   * Straight to the socket: a reply leaves when the runtime settles its call, an error frame or a
   * stored answer at once. Through `connection.send` they would join whichever turn is running (an
   * async one may be waiting), and be dropped if that turn failed.
   */
  #sendRaw(connection: Connection, frame: string): void {
    try {
      sendNow(connection, frame);
    } catch {
      // The socket closed; a reconnecting client re-sends the call and gets the stored answer.
    }
  }
}

/** Identifies a call across kinds of caller. */
export function callKey(from: From): string {
  return from.type === "socket" ? `socket:${from.connection}:${from.id}` : `${from.type}:${from.id}`;
}

const NO_CHAIN: readonly string[] = [];

// Frames as the client writes them (lib/client), keys in its order: their maps outlive the frames (see kept-shapes.ts).
keepShape(JSON.parse('{"gp":1,"t":"call","id":"0","msg":{}}'));
keepShape(JSON.parse('{"gp":1,"t":"call","id":"0","msg":{},"ack":["0"]}'));
keepShape(JSON.parse('{"gp":1,"t":"cast","msg":{}}'));

function entryOf(calls: Map<string, Map<string, Entry>>, connection: string, id: string): Entry | undefined {
  return calls.get(connection)?.get(id);
}

/** The `from` of a socket call (see call-from.ts). */
class SocketCallFrom extends CallFrom {
  readonly type = "socket";
  readonly id: string;
  readonly connection: string;
  readonly #calls: Map<string, Map<string, Entry>>;

  constructor(id: string, connection: string, calls: Map<string, Map<string, Entry>>) {
    super();
    this.id = id;
    this.connection = connection;
    this.#calls = calls;
  }

  protected waiting(): Entry | undefined {
    const entry = entryOf(this.#calls, this.connection, this.id);
    return entry?.frame === undefined ? entry : undefined;
  }
}

// Its map outlives the calls (see kept-shapes.ts).
keepShape(new SocketCallFrom("0", "", new Map()));

/** `host.label()` is read only if the reply can't be encoded. */
function encodeReply(id: string, outcome: Outcome, host: { label(): string }): string {
  if (!outcome.ok) return encodeFrame({ gp: 1, t: "reply", id, err: toWire(outcome.error) });
  let problem: string;
  try {
    // What JSON would quietly change (a Map sent as {}, a Date as a string) is refused as what JSON can't send at all.
    const found = jsonProblem(outcome.value, "the reply itself");
    if (!found) return encodeFrame({ gp: 1, t: "reply", id, ok: outcome.value });
    problem = `${found.where} holds ${found.problem}, which JSON would change; reply with plain data, e.g. a Date as its getTime(), a Map as an object or entries array`;
  } catch (error) {
    problem = (error as Error).message;
  }
  const error = new ProtocolError(`${host.label()}: the reply to call ${id} can't be sent as JSON (${problem}).`);
  return encodeFrame({ gp: 1, t: "reply", id, err: toWire(error) });
}
