import { type Connection, type ConnectionHost, type ConnectionMeta, idleConnectionParts, isOpen, type StateSlot, toConnection } from "./connection.js";
import { ConnectionStateTooLargeError } from "./errors.js";
import { keepShape } from "./kept-shapes.js";
import type { ConnectionManager } from "./manager.js";

/** Attachment layout. `gp` marks sockets this runtime accepted; others are left alone. */
interface Attachment {
  readonly gp: ConnectionMeta;
  readonly state: unknown;
}

/** The platform's own methods: a connection's `serializeAttachment` is redirected to its state. */
function writeAttachment(socket: WebSocket, attachment: Attachment): void {
  try {
    WebSocket.prototype.serializeAttachment.call(socket, attachment);
  } catch (error) {
    // The budget is checked before this by an estimate that errs high; should the platform still refuse, say so in our terms.
    if (!/attachment.*larger than/i.test(String(error))) throw error;
    throw new ConnectionStateTooLargeError(`Connection ${attachment.gp.id}: ${(error as Error).message} Keep per-connection state small.`);
  }
}

function readAttachment(socket: WebSocket): Attachment | undefined {
  const attachment: unknown = WebSocket.prototype.deserializeAttachment.call(socket);
  if (typeof attachment !== "object" || attachment === null || !("gp" in attachment)) return undefined;
  return attachment as Attachment;
}

/** Sockets accepted with `ctx.acceptWebSocket`: they survive hibernation, and so do their id, tags and state. */
export class HibernatingConnections implements ConnectionManager {
  readonly hibernate = true;
  readonly #ctx: DurableObjectState;
  readonly #host: ConnectionHost;
  /** Decoded attachments, so reads don't deserialize each time; dropped with the instance on hibernation. */
  #cache = new WeakMap<WebSocket, AttachmentSlot>();

  constructor(ctx: DurableObjectState, host: ConnectionHost) {
    this.#ctx = ctx;
    this.#host = host;
    keepSlotShapes();
  }

  accept(socket: WebSocket, meta: ConnectionMeta, state: unknown): Connection {
    this.#ctx.acceptWebSocket(socket, [...meta.tags]);
    const attachment: Attachment = { gp: meta, state: state ?? null };
    writeAttachment(socket, attachment);
    return this.#cacheSlot(socket, attachment).connection;
  }

  of(socket: WebSocket): Connection | undefined {
    return this.#slot(socket)?.connection;
  }

  get(id: string): Connection | undefined {
    return this.all(id).find((connection) => connection.id === id);
  }

  all(tag?: string): Connection[] {
    // Compacted in place: the platform's array is ours, and a connection is its socket. Pushing onto
    // a new array grew it from nothing on every broadcast (`perf`: 0.3 µs a message for one socket).
    const sockets: WebSocket[] = this.#ctx.getWebSockets(tag);
    let kept = 0;
    for (let i = 0; i < sockets.length; i++) {
      const socket = sockets[i]!;
      if (!isOpen(socket)) continue;
      const slot = this.#slot(socket);
      if (slot && slot.meta.retired !== true) sockets[kept++] = slot.connection;
    }
    if (kept < sockets.length) sockets.length = kept;
    return sockets as Connection[];
  }

  retire(connection: Connection): void {
    const entry = this.#cache.get(connection);
    if (!entry) return;
    entry.attachment = { ...entry.attachment, gp: { ...entry.attachment.gp, retired: true } };
    try {
      writeAttachment(connection, entry.attachment);
    } catch {
      // Already closed: its events can't come any more, and the in-memory flag covers this instance.
    }
  }

  isRetired(connection: Connection): boolean {
    return this.#cache.get(connection)?.attachment.gp.retired === true;
  }

  /** Drops decoded attachments, as a wake from hibernation starts without them (for `genparty/testing`). */
  forget(): void {
    this.#cache = new WeakMap();
  }

  /** The socket's decoded attachment, read once per instance; undefined for sockets the runtime did not accept. */
  #slot(socket: WebSocket): AttachmentSlot | undefined {
    const cached = this.#cache.get(socket);
    if (cached) return cached;
    const attachment = readAttachment(socket);
    return attachment && this.#cacheSlot(socket, attachment);
  }

  #cacheSlot(socket: WebSocket, attachment: Attachment): AttachmentSlot {
    const slot = new AttachmentSlot(socket, attachment, this.#host);
    this.#cache.set(socket, slot);
    return slot;
  }
}

/** A connection's meta and state, decoded once from its attachment and written back on change. */
class AttachmentSlot implements StateSlot {
  readonly connection: Connection;

  constructor(
    readonly socket: WebSocket,
    public attachment: Attachment,
    host: ConnectionHost,
  ) {
    this.connection = toConnection(socket, this, host);
  }

  get meta(): ConnectionMeta {
    return this.attachment.gp;
  }

  get state(): unknown {
    return this.attachment.state;
  }

  write(meta: ConnectionMeta, state: unknown): void {
    const next = { gp: meta, state };
    writeAttachment(this.socket, next);
    this.attachment = next;
  }
}

let slotShapesKept = false;

/**
 * One connection's socket, slot and attachment (as accepted, and as a wake decodes it) kept for the
 * isolate's life (see kept-shapes.ts). A room whose only client left has none; at the next full GC
 * their maps went, and with them the optimized code of every message (`of`, `receive`, `answer`…),
 * recompiled for the next client (`--trace-deopt`; bench/readings.md, "Connections' maps kept").
 */
function keepSlotShapes(): void {
  if (slotShapesKept) return;
  slotShapesKept = true;
  const { socket, meta, host } = idleConnectionParts();
  const attachment: Attachment = { gp: { ...meta, tags: meta.tags }, state: null };
  writeAttachment(socket, attachment);
  keepShape(new AttachmentSlot(socket, attachment, host));
  keepShape(readAttachment(socket)!);
}
