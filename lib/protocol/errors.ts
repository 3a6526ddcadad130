/**
 * Errors a caller can act on. Each has a stable `code`; only `name`, `code` and `message`
 * ever cross a wire (DO RPC, WebSocket), never a stack.
 *
 * Durable Object RPC drops custom error classes (a thrown subclass arrives as a plain `Error`),
 * so genparty sends errors as data ({@link WireError}) and rebuilds the class on the caller's
 * side with {@link fromWire}.
 */
export abstract class GenpartyError extends Error {
  abstract readonly code: string;
}

/** A call was not answered in time. The handler's work is not undone. */
export class CallTimeoutError extends GenpartyError {
  override readonly name = "CallTimeoutError";
  readonly code = "call_timeout";
}

/** The actor's mailbox was full; the call was rejected before it was queued. */
export class MailboxFullError extends GenpartyError {
  override readonly name = "MailboxFullError";
  readonly code = "mailbox_full";
}

/** A handler threw. `remoteName` is the class name of what it threw. */
export class RemoteError extends GenpartyError {
  override readonly name = "RemoteError";
  readonly code = "remote_error";
  constructor(
    message: string,
    readonly remoteName: string = "Error",
  ) {
    super(message);
  }
}

/** A call from inside a turn would wait on its own mailbox (A → A, or A → B → A). */
export class SelfCallError extends GenpartyError {
  override readonly name = "SelfCallError";
  readonly code = "self_call";
}

/** The actor stopped (`stop(...)`) before it answered this call. */
export class ActorStoppedError extends GenpartyError {
  override readonly name = "ActorStoppedError";
  readonly code = "actor_stopped";
}

/** A WebSocket frame that looked like a protocol frame but was not a valid one. The socket stays open. */
export class ProtocolError extends GenpartyError {
  override readonly name = "ProtocolError";
  readonly code = "bad_frame";
}

/** The call was cancelled by its caller (AbortSignal). */
export class CallCancelledError extends GenpartyError {
  override readonly name = "CallCancelledError";
  readonly code = "call_cancelled";
}

/** Plain-data form of an error, safe to send over DO RPC or a socket. */
export interface WireError {
  name: string;
  code: string;
  message: string;
  remoteName?: string;
}

export function toWire(error: unknown): WireError {
  if (error instanceof RemoteError) {
    return { name: error.name, code: error.code, message: error.message, remoteName: error.remoteName };
  }
  if (error instanceof GenpartyError) {
    return { name: error.name, code: error.code, message: error.message };
  }
  const remote = toRemoteError(error);
  return { name: remote.name, code: remote.code, message: remote.message, remoteName: remote.remoteName };
}

/** Wraps whatever a handler threw (an Error or not) as a {@link RemoteError}, keeping its name and message. */
export function toRemoteError(error: unknown): RemoteError {
  if (isInstance(error, RemoteError)) return error;
  const { name, message } = describeThrown(error);
  return new RemoteError(message, name);
}

/**
 * The name and message of anything thrown, without throwing again: a `message` may be a getter
 * that throws, an object's `toString` may throw, a proxy's traps may. For what isn't an Error the
 * name is its type ("string", "object").
 */
export function describeThrown(thrown: unknown): { name: string; message: string; isError: boolean } {
  if (isInstance(thrown, Error)) {
    return { name: readText(() => thrown.name, "Error"), message: readText(() => thrown.message, "(its message could not be read)"), isError: true };
  }
  return { name: typeof thrown, message: readText(() => String(thrown), `(a ${typeof thrown} with no readable text)`), isError: false };
}

/** `instanceof`, false for a proxy whose prototype can't be read. */
function isInstance<T>(value: unknown, of: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof of;
  } catch {
    return false;
  }
}

function readText(read: () => unknown, fallback: string): string {
  try {
    return String(read());
  } catch {
    return fallback;
  }
}

const wireClasses: Record<string, new (message: string) => GenpartyError> = {
  CallTimeoutError,
  MailboxFullError,
  SelfCallError,
  ActorStoppedError,
  ProtocolError,
  CallCancelledError,
};

/** Rebuilds the error class from its wire form. Unknown names become a {@link RemoteError}. */
export function fromWire(wire: WireError): GenpartyError {
  // Own keys only: a name like "constructor" is some other server's error, not Object's.
  const Known = Object.hasOwn(wireClasses, wire.name) ? wireClasses[wire.name] : undefined;
  if (Known) return new Known(wire.message);
  return new RemoteError(wire.message, wire.remoteName ?? wire.name);
}
