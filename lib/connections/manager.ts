import type { Connection, ConnectionMeta } from "./connection.js";

/** Callbacks for socket events that don't come through the Durable Object's webSocket* methods (in-memory mode). */
export interface SocketEvents {
  message(connection: Connection, data: string | ArrayBuffer): void;
  close(connection: Connection, code: number, reason: string, wasClean: boolean, retired: boolean): void;
  error(connection: Connection, error: unknown): void;
}

/**
 * One interface, two implementations: hibernating sockets live with the platform and their
 * meta and state in the socket attachment; in-memory sockets live in a Map. Both list only
 * OPEN, non-retired connections, so closing sockets never show up.
 */
export interface ConnectionManager {
  readonly hibernate: boolean;
  /** Accepts a server-side socket; `state` is what `setState` stored before accept (in getConnectionTags). */
  accept(socket: WebSocket, meta: ConnectionMeta, state: unknown): Connection;
  /** The connection of a platform socket; undefined for sockets the runtime did not accept. */
  of(socket: WebSocket): Connection | undefined;
  get(id: string): Connection | undefined;
  all(tag?: string): Connection[];
  /** Marks a connection replaced (same id reconnected) or failed: its later events are ignored. */
  retire(connection: Connection): void;
  isRetired(connection: Connection): boolean;
  /** Forgets what is cached in memory, as a wake from hibernation does. */
  forget(): void;
}
