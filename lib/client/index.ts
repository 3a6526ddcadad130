/**
 * The browser / Node side: a typed client over partysocket, and what callers need to handle errors.
 * Nothing here imports the Workers runtime.
 */
export { type ActorClient, type CallerOptions, type ClientEvents, connect, type ConnectOptions, type UntypedActor } from "./connect.js";
export { DEFAULT_CLIENT_CALL_TIMEOUT_MS } from "./pending-calls.js";
export {
  ActorStoppedError,
  CallCancelledError,
  CallTimeoutError,
  fromWire,
  GenpartyError,
  MailboxFullError,
  ProtocolError,
  RemoteError,
  SelfCallError,
  type WireError,
} from "../protocol/errors.js";
export { MAX_ACKS, MAX_PROTOCOL_FRAME_BYTES, PROTOCOL_VERSION } from "../protocol/frames.js";
export type { Call, CallOptions, Json, ReplyFor, ReplyOf } from "../actor/types.js";
