/** `connection.setState(...)` would not fit in the socket attachment. The connection stays open. */
export class ConnectionStateTooLargeError extends Error {
  override readonly name = "ConnectionStateTooLargeError";
}

/** Tags or a connection id that the platform would refuse. */
export class InvalidConnectionError extends Error {
  override readonly name = "InvalidConnectionError";
}
