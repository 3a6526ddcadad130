/** Errors raised inside an object about how an actor is written or used. They reach a caller as a `RemoteError` with this name. */

/** The state returned by a handler can't be stored as JSON. */
export class StateNotSerializableError extends Error {
  override readonly name = "StateNotSerializableError";
}

/** A handler changed the state in place, but the actor has `options.immutableState` (its state is frozen). */
export class StateFrozenError extends Error {
  override readonly name = "StateFrozenError";
}

/** The state is larger than one storage value may hold. */
export class StateTooLargeError extends Error {
  override readonly name = "StateTooLargeError";
}

/** A handler returned something that is not `reply(...)`, `noreply(...)` or `stop(...)`, or a shape its kind doesn't allow. */
export class InvalidResultError extends Error {
  override readonly name = "InvalidResultError";
}

/** A handler the actor relies on is not defined. */
export class NotImplementedError extends Error {
  override readonly name = "NotImplementedError";
}

/** `this.name` was read on an object that was created without a name. */
export class NameUnknownError extends Error {
  override readonly name = "NameUnknownError";
}

/** A timer API was used outside a turn, or with bad arguments. */
export class TimerError extends Error {
  override readonly name = "TimerError";
}
