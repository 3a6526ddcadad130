import { type Connection, type ConnectionHost, type ConnectionMeta, idleConnectionParts, isOpen, MemorySlot, toConnection } from "./connection.js";
import { keepShape } from "./kept-shapes.js";
import type { ConnectionManager, SocketEvents } from "./manager.js";

class Entry extends MemorySlot {
  readonly connection: Connection;

  constructor(socket: WebSocket, meta: ConnectionMeta, state: unknown, host: ConnectionHost) {
    super(meta, state);
    this.connection = toConnection(socket, this, host);
  }
}

/**
 * Sockets kept in memory (`static options = { hibernate: false }`): the object stays awake while
 * they are open. Same behaviour as hibernating mode, including the state budget, so switching
 * modes changes nothing but memory.
 */
export class InMemoryConnections implements ConnectionManager {
  readonly hibernate = false;
  readonly #host: ConnectionHost;
  readonly #events: SocketEvents;
  readonly #sockets = new Map<WebSocket, Entry>();
  /** The newest socket of each id (an older one was retired when it connected): every connect looks its id up. */
  readonly #byId = new Map<string, Entry>();

  constructor(host: ConnectionHost, events: SocketEvents) {
    this.#host = host;
    this.#events = events;
    keepEntryShape();
  }

  accept(socket: WebSocket, meta: ConnectionMeta, state: unknown): Connection {
    socket.accept();
    // Binary frames as ArrayBuffer, as in hibernating mode (the default would depend on the compat date).
    socket.binaryType = "arraybuffer";
    const entry = new Entry(socket, meta, state ?? null, this.#host);
    const connection = entry.connection;
    this.#sockets.set(socket, entry);
    this.#byId.set(meta.id, entry);
    socket.addEventListener("message", (event) => {
      if (!this.isRetired(connection)) this.#events.message(connection, event.data as string | ArrayBuffer);
    });
    socket.addEventListener("close", (event) => {
      const retired = this.isRetired(connection);
      this.#sockets.delete(socket);
      if (this.#byId.get(meta.id) === entry) this.#byId.delete(meta.id);
      this.#events.close(connection, event.code, event.reason, event.wasClean, retired);
    });
    socket.addEventListener("error", (event) => {
      this.#events.error(connection, (event as ErrorEvent).error ?? new Error(String((event as ErrorEvent).message ?? "WebSocket error")));
    });
    return connection;
  }

  of(socket: WebSocket): Connection | undefined {
    return this.#sockets.get(socket)?.connection;
  }

  get(id: string): Connection | undefined {
    const entry = this.#byId.get(id);
    return entry && isLive(entry) ? entry.connection : undefined;
  }

  all(tag?: string): Connection[] {
    // Started as a literal of the first one: a push onto `[]` grows it through V8's slow path (see hibernating.ts).
    let connections: Connection[] | undefined;
    for (const entry of this.#sockets.values()) {
      if (!isLive(entry) || (tag !== undefined && !entry.meta.tags.includes(tag))) continue;
      if (connections) connections.push(entry.connection);
      else connections = [entry.connection];
    }
    return connections ?? [];
  }

  retire(connection: Connection): void {
    const entry = this.#sockets.get(connection);
    if (entry) entry.meta = { ...entry.meta, retired: true };
  }

  isRetired(connection: Connection): boolean {
    return this.#sockets.get(connection)?.meta.retired === true;
  }

  forget(): void {
    // In-memory sockets can't outlive memory; the runtime refuses to hibernate while any are open.
  }
}

/** Open and not replaced: what `get` and `all` list. */
function isLive(entry: Entry): boolean {
  return isOpen(entry.connection) && entry.meta.retired !== true;
}

let entryShapeKept = false;

/** One connection's socket and entry kept for the isolate's life, as hibernating.ts keeps its own (see kept-shapes.ts). */
function keepEntryShape(): void {
  if (entryShapeKept) return;
  entryShapeKept = true;
  const { socket, meta, host } = idleConnectionParts();
  keepShape(new Entry(socket, meta, null, host));
}
