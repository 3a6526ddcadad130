/**
 * What a handler returns, GenServer's return tuples as tagged objects:
 *
 * | GenServer                          | genparty                                  |
 * |------------------------------------|-------------------------------------------|
 * | `{:reply, r, s}`                   | `reply(r, s)`                             |
 * | `{:reply, r, s, {:continue, m}}`   | `reply(r, s, { continue: m })`            |
 * | `{:noreply, s}`                    | `noreply(s)`                              |
 * | `{:noreply, s, {:continue, m}}`    | `noreply(s, { continue: m })`             |
 * | `{:stop, reason, r, s}`            | `stop(reason, s, r)`                      |
 * | `{:stop, reason, s}`               | `stop(reason, s)`                         |
 *
 * Leaving out the state keeps the current one (mutations made in place are still saved).
 * `reply` is only legal from `handleCall`/`handleRequest`: returning it from `handleCast`,
 * `handleInfo` or `handleContinue` is a type error.
 */

/** Pass as the state of `stop(...)` to erase the actor's state and timers: the next message runs `init()` again. */
export const clearState: unique symbol = Symbol("genparty.clearState");
export type ClearState = typeof clearState;

export interface TurnOptions {
  /** Runs `handleContinue(msg, state)` right after this turn, before any queued message. */
  continue?: unknown;
}

export interface Reply<R, S> {
  readonly kind: "reply";
  readonly value: R;
  readonly state: S | undefined;
  readonly continue?: unknown;
}

export interface NoReply<S> {
  readonly kind: "noreply";
  readonly state: S | undefined;
  readonly continue?: unknown;
}

export interface Stop<R, S> {
  readonly kind: "stop";
  readonly reason: string;
  readonly state: S | ClearState | undefined;
  /** Sent to the caller of the current call, when there is one. */
  readonly value: R | undefined;
}

/** Legal results of `handleCall` / `handleRequest`. */
export type CallResult<R, S> = Reply<R, S> | NoReply<S> | Stop<R, S>;
/** Legal results of `handleCast`, `handleInfo`, `handleContinue`. */
export type CastResult<S> = NoReply<S> | Stop<never, S>;

export type MaybePromise<T> = T | Promise<T>;

/** Answers the caller with `value` and keeps `state` (or the current state). */
export function reply<R, S = never>(value: R, state?: S, options?: TurnOptions): Reply<R, S> {
  return options?.continue === undefined
    ? { kind: "reply", value, state }
    : { kind: "reply", value, state, continue: options.continue };
}

/** Ends the turn without answering. From `handleCall`, keep `from` and answer later with `this.reply(from, value)`. */
export function noreply<S = never>(state?: S, options?: TurnOptions): NoReply<S> {
  return options?.continue === undefined
    ? { kind: "noreply", state }
    : { kind: "noreply", state, continue: options.continue };
}

/**
 * Stops the actor: timers are cancelled, pending calls are rejected with `ActorStoppedError`
 * (the current caller gets `value` if one is given), and the in-memory actor is dropped.
 * `state` is saved first; `clearState` erases it, so the next message starts from `init()`.
 */
export function stop<R = never, S = never>(reason: string, state?: S | ClearState, value?: R): Stop<R, S> {
  return { kind: "stop", reason, state, value };
}
