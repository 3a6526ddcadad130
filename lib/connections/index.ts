export { ATTACHMENT_LIMIT_BYTES, type Connection, type ConnectionMeta, type ConnectionSetStateFn, type ConnectionState, type StateUpdater, type WSMessage } from "./connection.js";
export { ConnectionStateTooLargeError, InvalidConnectionError } from "./errors.js";
export { MAX_TAG_LENGTH, MAX_TAGS } from "./tags.js";
