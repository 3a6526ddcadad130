/**
 * What a caller outside the object needs: the error classes (rebuilt from their wire form) and the
 * message types. The WebSocket client grows here with the wire protocol.
 */
export { ActorStoppedError, CallTimeoutError, fromWire, GenpartyError, MailboxFullError, RemoteError, SelfCallError, type WireError } from "../protocol/errors.js";
export type { Call, CallOptions, Json, ReplyFor, ReplyOf } from "../actor/types.js";
