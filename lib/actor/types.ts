import type { Connection } from "../connections/connection.js";

/** Values that survive a JSON round trip: the shape of actor state and of timer messages. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json | undefined };

declare const replyType: unique symbol;

/**
 * A call message that declares its reply type, so callers get a typed promise.
 *
 * @example
 * type CounterCall = Call<{ type: "get" }, number> | Call<{ type: "add"; by: number }, number>;
 * const n: number = await counter.call({ type: "get" });
 */
export type Call<M, R> = M & { readonly [replyType]?: R };

/** The reply type a call message declares with {@link Call}; `unknown` when it declares none. */
export type ReplyOf<M> = M extends { readonly [replyType]?: infer R } ? R : unknown;

/** The reply type of the union member of `U` that a message `M` matches (of each it may be, for one like `{ type: "a" | "b" }`). */
export type ReplyFor<U, M> = Matching<M, U> extends infer Member ? (Member extends unknown ? ReplyOf<Member> : never) : never;

/**
 * The members of `U` that `M` is one of. A message that spans members (`{ type: "a" | "b" }`) is
 * none of them alone: then the members that are each a case of it, or failing that all of `U`.
 */
type Matching<M, U, Members = U extends unknown ? (M extends U ? U : never) : never, Cases = U extends unknown ? (U extends M ? U : never) : never> = [
  Members,
] extends [never]
  ? [Cases] extends [never]
    ? U
    : Cases
  : Members;


/**
 * Who is waiting for a call's reply. Data: its fields are saved (in state, or a socket's state)
 * and read back as a plain object. Keep it there and answer later with `this.reply(from, value)`
 * from any turn; a socket caller is found again by its connection id, also after hibernation or a
 * reconnect.
 *
 * `signal` (not part of the data, so it is not saved with state) aborts when the caller gives up:
 * a socket client's AbortSignal or an RPC call's timeout.
 */
export type From =
  | { readonly type: "rpc" | "http"; readonly id: string; readonly signal?: AbortSignal }
  | { readonly type: "socket"; readonly id: string; readonly connection: string; readonly signal?: AbortSignal };

/** Where a cast came from. A socket cast is client input: validate it. */
export type CastOrigin = { readonly type: "rpc" } | { readonly type: "socket"; readonly connection: Connection };

/**
 * Everything that is not a call or a cast: timers and connection events. The type says who sent
 * it, and only the runtime does: a client can't make a frame look like a timeout or a connect.
 */
export type Info =
  | {
      readonly type: "timeout";
      readonly key: string;
      readonly msg: Json;
      /** 0 on the first delivery, then 1, 2, … when an earlier delivery threw. */
      readonly attempt: number;
      /** When this delivery was due (epoch ms): the timer's deadline, or its retry's. */
      readonly due: number;
    }
  /** A WebSocket was accepted. Sends to it in this turn leave after the turn commits. */
  | { readonly type: "connect"; readonly connection: Connection; readonly request: Request }
  /** A frame from a client, as it arrived (binary frames as ArrayBuffer). Untrusted input: validate it. */
  | { readonly type: "message"; readonly connection: Connection; readonly data: string | ArrayBuffer }
  /** The client closed (or the connection was replaced by a newer one with the same id: code 1000, wasClean). */
  /**
   * `replaced`: a new socket connected with this one's id (a page reload, a reconnect), so this one
   * was closed (`reason` "replaced"); the client is still there, and its `connect` comes next.
   */
  | { readonly type: "close"; readonly connection: Connection; readonly code: number; readonly reason: string; readonly wasClean: boolean; readonly replaced?: true }
  | { readonly type: "error"; readonly connection: Connection; readonly error: unknown }
  /** What the actor sent itself with `this.sendSelf(msg)`: only it can send one. */
  | { readonly type: "self"; readonly msg: Json };

export interface CallOptions {
  /** Milliseconds before the caller gets `CallTimeoutError`. @default 5000 */
  timeout?: number;
}

export interface ActorOptions {
  /** Accept WebSockets so they survive hibernation (the object can sleep with sockets open). @default true */
  hibernate?: boolean;
  /**
   * Freeze the state, as GenServer's is immutable: handlers return a new state instead of changing
   * it in place (a change in place throws `StateFrozenError`). A turn that returns no new state
   * then skips encoding it to JSON to see whether it changed, which otherwise costs on every
   * message in proportion to the state's size. Meant for `Actor` subclasses: a `Server`'s state is
   * `null` and a `MachineServer` saves a new snapshot every turn, so neither gains from it. @default false
   */
  immutableState?: boolean;
}

/**
 * `T` read-only all the way down: the state's type for an actor with `immutableState`, so a change
 * in place is a compile error before it is a `StateFrozenError`.
 *
 * @example
 * type LedgerState = Frozen<{ entries: { text: string }[]; total: number }>;
 * // state.entries.push(entry) — error: 'push' does not exist on type 'readonly …[]'
 */
export type Frozen<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer Item)[]
    ? readonly Frozen<Item>[]
    : T extends object
      ? { readonly [K in keyof T]: Frozen<T[K]> }
      : T;

export interface MailboxOptions {
  /** Queued messages beyond which calls reject with `MailboxFullError` and casts are dropped. @default 1000 */
  limit: number;
}

export interface MailboxStats {
  /** Messages waiting behind the current turn. */
  readonly queued: number;
  /** Casts and socket frames dropped because the mailbox was full, since this instance started. */
  readonly droppedCasts: number;
  /** Calls waiting for a reply, deferred or not (the call being handled counts). */
  readonly pendingCalls: number;
}
