export { Actor, type CallEnvelope, type RpcCallOptions } from "./actor.js";
export { ActorRef, type ActorRefOptions, type AnyActor, type CallMsgOf, type CastMsgOf, getActor, MAX_NAME_LENGTH, type StateOf } from "./ref.js";
export { type CallResult, type CastResult, clearState, type NoReply, noreply, type Reply, reply, type Stop, stop, type TurnOptions } from "./results.js";
export { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_MAILBOX_LIMIT } from "./runtime.js";
export { PLATFORM_ALARM_TIMER } from "./storage.js";
export { MAX_TIMER_ATTEMPTS, TIMER_RETRY_BASE_MS } from "./timers.js";
export { InvalidResultError, NameUnknownError, NotImplementedError, StateFrozenError, StateNotSerializableError, StateTooLargeError, TimerError } from "./errors.js";
export type { ActorOptions, Call, CallOptions, CastOrigin, From, Frozen, Info, Json, MailboxOptions, MailboxStats, ReplyFor, ReplyOf } from "./types.js";
