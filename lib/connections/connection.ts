import { isProtocolFrame } from "../protocol/frames.js";
import { serializedSize, Unmeasurable } from "./attachment-size.js";
import { ConnectionStateTooLargeError } from "./errors.js";

/** What a WebSocket frame carries. */
export type WSMessage = string | ArrayBuffer | ArrayBufferView;

/** The platform's limit on a hibernatable socket's attachment (workerd raised it from 2 KiB to 16 KiB). */
export const ATTACHMENT_LIMIT_BYTES = 16_384;

/** The parts of a connection the runtime keeps beside the user's state. */
export interface ConnectionMeta {
  readonly id: string;
  readonly tags: readonly string[];
  readonly uri: string | null;
  /** Set when a newer socket with the same id replaced this one: its later events are not the actor's concern. */
  readonly retired?: true;
}

/**
 * A client's WebSocket with its id, tags and state: the socket itself, so everything a
 * `WebSocket` has still works, plus what partyserver's `Connection` adds.
 */
export interface Connection<TState = unknown> extends WebSocket {
  /** From the `_pk` query parameter (partysocket sends one and keeps it across reconnects), else generated. */
  readonly id: string;
  /** The id first, then the tags `getConnectionTags` gave. */
  readonly tags: readonly string[];
  /** The URL the client connected to, with its query. */
  readonly uri: string | null;
  /** The room (actor) name. */
  readonly server: string;
  /** What `setState` stored; survives hibernation. `null` until set. */
  readonly state: TState | null;
  /** Stores state with the socket (object, or updater of the previous one). Throws when over the attachment budget. */
  setState(next: TState | null | StateUpdater<TState>): TState | null;
  /** partyserver's older name for `setState(value)`, typed as it typed it. */
  serializeAttachment<T = unknown>(attachment: T): void;
  /** partyserver's older name for `state`, typed as it typed it. */
  deserializeAttachment<T = unknown>(): T | null;
}

/** partyserver's names for the state types. */
export type ConnectionState<TState> = TState | null;
export type ConnectionSetStateFn<TState> = StateUpdater<TState>;

/**
 * Declared as a method so its parameter is bivariant: a `Connection<Presence>` then still passes
 * where a `Connection` is expected (a hook's parameter), as it did with partyserver.
 */
export type StateUpdater<TState> = { update(previous: TState | null): TState | null }["update"];

/** Where a connection's meta and state live: in the socket attachment, or in memory. */
export interface StateSlot {
  readonly meta: ConnectionMeta;
  readonly state: unknown;
  write(meta: ConnectionMeta, state: unknown): void;
}

/**
 * A socket operation a turn made, held until the turn commits: a send (the common case, kept as
 * data so a broadcast allocates no closure per socket) or a close.
 */
export type DeferredOp = { readonly socket: WebSocket; readonly data: WSMessage } | (() => void);

/** What connections need from the actor that owns them. */
export interface ConnectionHost {
  roomName(): string;
  /** Queues a socket operation to run after the current turn commits; false when no turn is running. */
  defer(operation: DeferredOp): boolean;
  /**
   * The server closed this connection. The platform doesn't report a close the server started, so
   * the runtime tells the actor itself (once: the socket's own close event is then ignored).
   */
  closedByServer(connection: Connection, code: number, reason: string): void;
}

export const OPEN = 1;

const platformSend = WebSocket.prototype.send;
const platformClose = WebSocket.prototype.close;

/** Sends at once, past the turn's outbox: for frames the runtime itself answers with, which belong to no turn. */
export function sendNow(socket: WebSocket, data: WSMessage): void {
  platformSend.call(socket, data);
}

/** Runs a deferred socket operation now. */
export function runDeferred(operation: DeferredOp): void {
  if (typeof operation === "function") operation();
  else sendNow(operation.socket, operation.data);
}

interface Binding {
  readonly slot: StateSlot;
  readonly host: ConnectionHost;
}

const bindings = new WeakMap<object, Binding>();

function bindingOf(socket: object): Binding {
  const binding = bindings.get(socket);
  if (!binding) throw new TypeError("Not a genparty connection: call Connection methods on the connection itself (e.g. connection.send(x)), not on a detached copy.");
  return binding;
}

function closeNow(socket: WebSocket, host: ConnectionHost, code?: number, reason?: string): void {
  if (socket.readyState >= 2) return;
  platformClose.call(socket, code, reason);
  host.closedByServer(socket as Connection, code ?? 1005, reason ?? "");
}

/**
 * The properties a Connection adds to its socket, on a prototype between the socket and
 * `WebSocket.prototype`. One set of functions for every connection (they find theirs through
 * `this`), so turning a socket into a connection allocates no closures and defines nothing on it.
 */
const CONNECTION_PROPERTIES: PropertyDescriptorMap = {
  id: { configurable: true, enumerable: true, get: function (this: object) { return bindingOf(this).slot.meta.id; } },
  tags: { configurable: true, enumerable: true, get: function (this: object) { return bindingOf(this).slot.meta.tags; } },
  uri: { configurable: true, enumerable: true, get: function (this: object) { return bindingOf(this).slot.meta.uri; } },
  server: { configurable: true, enumerable: true, get: function (this: object) { return bindingOf(this).host.roomName(); } },
  state: { configurable: true, enumerable: true, get: function (this: object) { return bindingOf(this).slot.state ?? null; } },
  setState: {
    configurable: true,
    enumerable: true,
    value: function (this: object, next: unknown) {
      const { slot } = bindingOf(this);
      const { meta, state } = slot;
      const value = typeof next === "function" ? (next as (previous: unknown) => unknown)(state ?? null) : next;
      checkStateBudget(meta, value);
      slot.write(meta, value ?? null);
      return value ?? null;
    },
  },
  // Sends and closes made in a turn leave after it commits, in order, so a rolled-back turn sends nothing.
  send: {
    configurable: true,
    enumerable: true,
    value: function (this: WebSocket, data: WSMessage) {
      sendOwned(this, ownCopy(data));
    },
  },
  close: {
    configurable: true,
    enumerable: true,
    value: function (this: WebSocket, code?: number, reason?: string) {
      const { host } = bindingOf(this);
      // Checked now, as the platform would: deferred, its refusal would come after the hook and be lost.
      checkCloseArguments(code, reason);
      if (!host.defer(() => closeNow(this, host, code, reason))) closeNow(this, host, code, reason);
    },
  },
  // partyserver redirected the attachment calls to the connection's state; keep code that uses them working.
  serializeAttachment: {
    configurable: true,
    enumerable: true,
    value: function (this: object, value: unknown) {
      // Not through this.setState: partyserver tells code that redefines setState to call serializeAttachment from it.
      const { slot } = bindingOf(this);
      checkStateBudget(slot.meta, value);
      slot.write(slot.meta, value ?? null);
    },
  },
  deserializeAttachment: { configurable: true, enumerable: true, value: function (this: object) { return bindingOf(this).slot.state ?? null; } },
};

let connectionPrototype: object | undefined;

/**
 * Turns a WebSocket into a Connection in place, by giving it the connections' prototype: one
 * step, where defining the ten properties on each socket was ~1.5 µs of every handshake by `perf`
 * (bench/readings.md, "Connections by prototype"). Code that redefines `state`/`setState` on a
 * connection (as the agents SDK does) defines its own over the prototype's.
 */
export function toConnection<TState>(socket: WebSocket, slot: StateSlot, host: ConnectionHost): Connection<TState> {
  const fresh = !bindings.has(socket);
  bindings.set(socket, { slot, host });
  // Made on first use, so importing this module needs no global `WebSocket` (Node 20 has none).
  if (fresh) Object.setPrototypeOf(socket, (connectionPrototype ??= Object.create(WebSocket.prototype, CONNECTION_PROPERTIES) as object));
  return socket as Connection<TState>;
}

/**
 * A message the caller can't change any more: binary data is copied, since a send held until the
 * turn commits would otherwise carry whatever the caller's buffer holds by then. Text that starts
 * like a protocol frame is refused: a room that parses a client's JSON and sends it on would let
 * that client forge replies, pushes or a stop to every genparty client in the room.
 */
export function ownCopy(data: WSMessage): WSMessage {
  if (typeof data === "string") {
    if (isProtocolFrame(data)) {
      throw new TypeError(`A message starting with {"gp": would reach genparty clients as a protocol frame (a reply, a push, a stop), so it is not sent: ${data.slice(0, 40)}…. Wrap what you relay ({"data": …}) or put another key first; use this.push(msg) for a push.`);
    }
    return data;
  }
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  // The platform would send "[object Object]"; most likely a JSON.stringify was forgotten.
  throw new TypeError(`A WebSocket message is a string, an ArrayBuffer or a typed array; got ${describeValue(data)}. Send JSON.stringify(value) for an object.`);
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== "object") return `a ${typeof value}`;
  return `an object (${Object.getPrototypeOf(value)?.constructor?.name ?? "no prototype"})`;
}

/** A connection's send of data it owns (see {@link ownCopy}): held until the turn commits, or sent now outside a turn. */
export function sendOwned(socket: WebSocket, data: WSMessage): void {
  if (!bindingOf(socket).host.defer({ socket, data })) platformSend.call(socket, data);
}

export function isOpen(connection: WebSocket): boolean {
  return connection.readyState === OPEN;
}

/** The attachment as the platform stores it (see hibernating.ts): the same budget holds in memory. */
function attachmentBytes(meta: ConnectionMeta, state: unknown): number {
  return serializedSize({ gp: meta, state: state ?? null });
}

/** Throws ConnectionStateTooLargeError when `meta` and `state` would not fit in a socket attachment. */
export function checkStateBudget(meta: ConnectionMeta, state: unknown): void {
  let bytes: number;
  try {
    bytes = attachmentBytes(meta, state);
  } catch (error) {
    if (!(error instanceof Unmeasurable)) throw error;
    throw new ConnectionStateTooLargeError(`Connection ${meta.id}: setState needs plain data (${error.message}).`);
  }
  if (bytes > ATTACHMENT_LIMIT_BYTES) {
    const kept = attachmentBytes(meta, null);
    throw new ConnectionStateTooLargeError(
      kept > ATTACHMENT_LIMIT_BYTES
        ? `Connection ${meta.id}: its id, tags and URL alone take ${kept} bytes of the ${ATTACHMENT_LIMIT_BYTES} a socket attachment holds. Connect with a shorter URL (query string) or fewer, shorter tags.`
        : `Connection ${meta.id}: the state would take ${bytes - kept} bytes, but a socket attachment holds ${ATTACHMENT_LIMIT_BYTES} bytes and the runtime keeps ${kept} of them (id, tags, uri), leaving ${ATTACHMENT_LIMIT_BYTES - kept}. Keep per-connection state small (ids, flags) and larger data in the actor's state or storage. The connection is unchanged.`,
    );
  }
}

/**
 * The connection as `getConnectionTags` sees it, before the socket is accepted: its id and uri
 * are known, and state set here moves to the accepted connection.
 */
export function previewConnection(socket: WebSocket, meta: ConnectionMeta, host: ConnectionHost): { connection: Connection; slot: MemorySlot } {
  const slot = new MemorySlot(meta, null);
  // The slot, not a closure reading it: under wrangler's keepNames each closure made per handshake costs a defineProperty.
  return { connection: toConnection(socket, slot, host), slot };
}

/** A slot kept in memory: the preview before accept, and in-memory sockets. */
export class MemorySlot implements StateSlot {
  constructor(
    public meta: ConnectionMeta,
    public state: unknown,
  ) {}

  write(meta: ConnectionMeta, state: unknown): void {
    this.meta = meta;
    this.state = state;
  }
}

/**
 * What the connections kept for their maps are made of (see kept-shapes.ts): the second socket of
 * a pair nobody uses (never accepted, so it holds no I/O), and a host for a room that isn't there.
 * Made once per isolate, from a manager's constructor: `WebSocketPair` needs a request to run in.
 */
export function idleConnectionParts(): { readonly socket: WebSocket; readonly meta: ConnectionMeta; readonly host: ConnectionHost } {
  const socket = Object.values(new WebSocketPair())[1] as WebSocket;
  // Keys in the order socket-turns.ts builds a connection's meta.
  const meta: ConnectionMeta = { id: "", tags: [""], uri: null };
  const host: ConnectionHost = { roomName: () => "", defer: () => false, closedByServer: () => undefined };
  return { socket, meta, host };
}

/** Longest close reason the WebSocket protocol carries, in UTF-8 bytes. */
const MAX_CLOSE_REASON_BYTES = 123;

/** Codes the protocol reserves for what a peer reports, never for a close frame (as workerd refuses them). */
const RESERVED_CLOSE_CODES = new Set([1004, 1005, 1006, 1015]);

function checkCloseArguments(code: number | undefined, reason: string | undefined): void {
  if (code !== undefined && !(Number.isInteger(code) && code >= 1000 && code <= 4999 && !RESERVED_CLOSE_CODES.has(code))) {
    throw new TypeError(`connection.close(code): ${code} is not a close code a server can send; use 1000 (normal), 1011 (error) or your own from 3000 to 4999.`);
  }
  if (reason !== undefined && new TextEncoder().encode(reason).byteLength > MAX_CLOSE_REASON_BYTES) {
    throw new TypeError(`connection.close(code, reason): a close reason is at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8; shorten it (send the details in a frame before closing).`);
  }
}

/** Closes without telling the actor: for closes the runtime reports itself (replaced, stopped, refused). */
export function closeSilently(socket: WebSocket, code: number, reason: string): void {
  try {
    platformClose.call(socket, code, reason);
  } catch {
    // Already closed.
  }
}
