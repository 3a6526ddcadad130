import { checkStateBudget, closeSilently, type Connection, type ConnectionHost, previewConnection } from "../connections/connection.js";
import type { ConnectionManager } from "../connections/manager.js";
import { checkConnectionId, connectionTags } from "../connections/tags.js";
import { REPLACED_REASON } from "../protocol/frames.js";
import type { Envelope, Upgrade } from "./envelope.js";
import { closeReason, offeredProtocols, reciprocateClose } from "./sockets.js";
import type { Info } from "./types.js";

interface SocketHost {
  readonly connections: ConnectionManager;
  readonly host: ConnectionHost;
  enqueue(envelope: Envelope): Promise<void>;
  isFull(): boolean;
  label(): string;
  state(): unknown;
  handleInfo(info: Info, state: unknown): unknown;
  getConnectionTags(connection: Connection, context: { request: Request }): unknown;
  getSubprotocol(offered: readonly string[], request: Request): string | undefined;
}

/** WebSocket upgrades and closes, turned into mailbox messages: the socket side of the runtime. */
export class SocketTurns {
  readonly #host: SocketHost;
  /** Ids whose connect turn is queued or running, with how many: a second upgrade with one of them must replace it. */
  readonly #connecting = new Map<string, number>();

  constructor(host: SocketHost) {
    this.#host = host;
  }

  /** Answers an upgrade request with 101 once the connect turn ran (so sends made in it arrive first). */
  async upgrade(request: Request): Promise<Response> {
    let id: string;
    try {
      // An empty _pk is no id (partyserver makes one too): a client that sends `?_pk=${maybeId ?? ""}` still connects.
      id = checkConnectionId(new URL(request.url).searchParams.get("_pk") || crypto.randomUUID());
    } catch (error) {
      return new Response((error as Error).message, { status: 400 });
    }
    const [client, socket] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    if (this.#host.isFull()) {
      // A browser can't read an HTTP status on a failed upgrade; a close code and reason it can.
      socket.accept();
      socket.close(1013, closeReason(`${this.#host.label()} is overloaded (mailbox full); try again later.`));
      return new Response(null, { status: 101, webSocket: client });
    }
    // Queued together: the old socket with this id is closed (and heard of) before the new one connects.
    // Most ids are new (a fresh client, or `_pk` absent): they skip that turn.
    const replacing = this.#connecting.has(id) || this.#host.connections.get(id) !== undefined;
    const upgrade: Upgrade = { request, socket, id, offered: offeredProtocols(request), replacing };
    if (replacing) void this.#host.enqueue({ kind: "replaced", id });
    this.#connecting.set(id, (this.#connecting.get(id) ?? 0) + 1);
    try {
      await this.#host.enqueue({ kind: "connect", upgrade });
    } finally {
      const left = this.#connecting.get(id)! - 1;
      if (left === 0) this.#connecting.delete(id);
      else this.#connecting.set(id, left);
    }
    // (A connection the turn closed or refused is retired already, and its actor has heard of it.)
    if (upgrade.connection && gaveUp(request) && !this.#host.connections.isRetired(upgrade.connection)) await this.#abandoned(upgrade.connection);
    const headers = upgrade.protocol ? { "sec-websocket-protocol": upgrade.protocol } : undefined;
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  /** The connect turn: tags, subprotocol, accept, then `handleInfo({ type: "connect" })`. */
  async connect(upgrade: Upgrade): Promise<unknown> {
    const { request, socket, id } = upgrade;
    // Gone while the turn waited in the mailbox: its socket is never accepted, the actor never hears
    // of it. Unless the actor was told this connect follows the close of the socket it replaced:
    // then it connects, and closes as for a client that left during its connect turn (`upgrade`).
    if (gaveUp(request) && !upgrade.replacing) return { kind: "noreply", state: undefined };
    const meta = { id, tags: [id], uri: request.url };
    // Before accept, state set in getConnectionTags lives on the pending socket and moves with it.
    const preview = previewConnection(socket, meta, this.#host.host);
    const userTags = await this.#host.getConnectionTags(preview.connection, { request });
    const tags = connectionTags(id, Array.isArray(userTags) ? userTags : []);
    // Before accept: a hibernating socket accepted with an attachment that doesn't fit could be neither used nor refused.
    checkStateBudget({ ...meta, tags }, preview.slot.state);
    upgrade.protocol = this.#host.getSubprotocol(upgrade.offered, request);
    upgrade.connection = this.#host.connections.accept(socket, { ...meta, tags }, preview.slot.state);
    return this.#host.handleInfo({ type: "connect", connection: upgrade.connection, request }, this.#host.state());
  }

  /**
   * The client left while its connect turn ran: the 101 goes nowhere, and the accepted socket would
   * stay open for nobody (the platform never closes it), in every broadcast and `getConnections()`,
   * across hibernation, until a client reconnects with its id. It is closed, and the actor hears a
   * close as for a client that vanished (1006), so presence kept in onConnect / onClose stays true.
   */
  async #abandoned(connection: Connection): Promise<void> {
    this.#host.connections.retire(connection);
    closeSilently(connection, 1001, closeReason("The client left before the connection was set up."));
    await this.#host.enqueue({ kind: "closed", connection, code: 1006, reason: "", wasClean: false });
  }

  /** Closes the socket that held `id` before: the client reconnected with it and won't use the old one. */
  replace(id: string): unknown {
    const previous = this.#host.connections.get(id);
    if (!previous) return { kind: "noreply", state: undefined };
    this.#host.connections.retire(previous);
    closeSilently(previous, 1000, REPLACED_REASON);
    return this.#host.handleInfo({ type: "close", connection: previous, code: 1000, reason: "replaced", wasClean: true, replaced: true }, this.#host.state());
  }

  /** A failed connect turn: the client learns that connecting failed, not why (details stay in the log). */
  refuse(upgrade: Upgrade): void {
    if (upgrade.connection) this.#host.connections.retire(upgrade.connection);
    else {
      try {
        upgrade.socket.accept();
      } catch {
        // Accepted for hibernation already, then its attachment was refused: it closes all the same.
      }
    }

    closeSilently(upgrade.socket, 1011, closeReason(`${this.#host.label()} could not accept the connection (server error).`));
  }

  /** The client closed: tell the actor (unless the socket was replaced), then complete the handshake. */
  async closed(connection: Connection, code: number, reason: string, wasClean: boolean, retired: boolean): Promise<void> {
    if (!retired) await this.#host.enqueue({ kind: "closed", connection, code, reason, wasClean });
    reciprocateClose(connection, code, reason);
  }

  /** Hibernation entry: `webSocketClose` of the Durable Object. Sockets the runtime didn't accept only get the handshake. */
  async platformClosed(socket: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    const connection = this.#host.connections.of(socket);
    if (!connection) return reciprocateClose(socket, code, reason);
    await this.closed(connection, code, reason, wasClean, this.#host.connections.isRetired(connection));
  }
}

/**
 * Whether the client gave up on this request. The platform says so on `request.signal` with the
 * `enable_request_signal` compatibility flag; without it the signal never aborts, and a socket
 * whose client left during its connect turn stays until that id reconnects (guides/deploying.md).
 */
function gaveUp(request: Request): boolean {
  return request.signal?.aborted === true;
}
