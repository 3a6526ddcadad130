import { ConnectionStateTooLargeError } from "./errors.js";

/** What a WebSocket frame carries. */
export type WSMessage = string | ArrayBuffer | ArrayBufferView;

/** The platform's limit on a hibernatable socket's attachment (workerd raised it from 2 KiB to 16 KiB). */
export const ATTACHMENT_LIMIT_BYTES = 16_384;
/** Room left for the structured-clone encoding around the JSON-measured content. */
const ATTACHMENT_SLACK_BYTES = 256;

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
  read(): { meta: ConnectionMeta; state: unknown };
  write(meta: ConnectionMeta, state: unknown): void;
}

/** What connections need from the actor that owns them. */
export interface ConnectionHost {
  roomName(): string;
  /** Queues a socket operation to run after the current turn commits; false when no turn is running. */
  defer(operation: () => void): boolean;
  /**
   * The server closed this connection. The platform doesn't report a close the server started, so
   * the runtime tells the actor itself (once: the socket's own close event is then ignored).
   */
  closedByServer(connection: Connection, code: number, reason: string): void;
}

export const OPEN = 1;

/**
 * Turns a WebSocket into a Connection in place. Properties are configurable, so code that
 * redefines `state`/`setState` (as the agents SDK does) keeps working.
 */
export function toConnection<TState>(socket: WebSocket, slot: StateSlot, host: ConnectionHost): Connection<TState> {
  const send = WebSocket.prototype.send;
  const close = WebSocket.prototype.close;
  const define = (name: string, descriptor: PropertyDescriptor) =>
    Object.defineProperty(socket, name, { configurable: true, enumerable: true, ...descriptor });
  define("id", { get: () => slot.read().meta.id });
  define("tags", { get: () => slot.read().meta.tags });
  define("uri", { get: () => slot.read().meta.uri });
  define("server", { get: () => host.roomName() });
  define("state", { get: () => slot.read().state ?? null });
  define("setState", {
    value(next: unknown) {
      const { meta, state } = slot.read();
      const value = typeof next === "function" ? (next as (previous: unknown) => unknown)(state ?? null) : next;
      checkStateBudget(meta, value);
      slot.write(meta, value ?? null);
      return value ?? null;
    },
  });
  // Sends and closes made in a turn leave after it commits, in order, so a rolled-back turn sends nothing.
  define("send", { value: (message: WSMessage) => host.defer(() => send.call(socket, message)) || send.call(socket, message) });
  const closeNow = (code?: number, reason?: string) => {
    if (socket.readyState >= 2) return;
    close.call(socket, code, reason);
    host.closedByServer(socket as Connection, code ?? 1005, reason ?? "");
  };
  define("close", { value: (code?: number, reason?: string) => host.defer(() => closeNow(code, reason)) || closeNow(code, reason) });
  // partyserver redirected the attachment calls to the connection's state; keep code that uses them working.
  define("serializeAttachment", { value: (value: unknown) => void (socket as Connection).setState(value) });
  define("deserializeAttachment", { value: () => slot.read().state ?? null });
  return socket as Connection<TState>;
}

export function isOpen(connection: WebSocket): boolean {
  return connection.readyState === OPEN;
}

export function attachmentBytes(meta: ConnectionMeta, state: unknown): number {
  return utf8Length(JSON.stringify({ m: meta, s: state ?? null }));
}

function checkStateBudget(meta: ConnectionMeta, state: unknown): void {
  let bytes: number;
  try {
    bytes = attachmentBytes(meta, state);
  } catch (error) {
    throw new ConnectionStateTooLargeError(`Connection ${meta.id}: setState needs a JSON-serializable value (${(error as Error).message}).`);
  }
  const limit = ATTACHMENT_LIMIT_BYTES - ATTACHMENT_SLACK_BYTES;
  if (bytes > limit) {
    const kept = attachmentBytes(meta, null);
    throw new ConnectionStateTooLargeError(
      `Connection ${meta.id}: the state would take ${bytes - kept} bytes, but a socket attachment holds ${ATTACHMENT_LIMIT_BYTES} bytes and the runtime keeps ${kept + ATTACHMENT_SLACK_BYTES} of them (id, tags, uri), leaving ${limit - kept}. Keep per-connection state small (ids, flags) and larger data in the actor's state or storage. The connection is unchanged.`,
    );
  }
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/**
 * The connection as `getConnectionTags` sees it, before the socket is accepted: its id and uri
 * are known, and state set here moves to the accepted connection.
 */
export function previewConnection(socket: WebSocket, meta: ConnectionMeta, host: ConnectionHost): { connection: Connection; state: () => unknown } {
  let state: unknown = null;
  const slot: StateSlot = {
    read: () => ({ meta, state }),
    write: (_meta, next) => {
      state = next;
    },
  };
  return { connection: toConnection(socket, slot, host), state: () => state };
}

/** Closes without telling the actor: for closes the runtime reports itself (replaced, stopped, refused). */
export function closeSilently(socket: WebSocket, code: number, reason: string): void {
  try {
    WebSocket.prototype.close.call(socket, code, reason);
  } catch {
    // Already closed.
  }
}
