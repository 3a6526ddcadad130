/** Codes that never appear in a Close frame (no frame came, or TLS failed): nothing to answer. */
const NO_FRAME_CODES = new Set([1006, 1015]);

/**
 * Answers a client's close (the handshake must complete or the client hangs in CLOSING). A close
 * without a code (1005, a reserved code that must not be sent) is answered with an empty Close frame.
 */
export function reciprocateClose(socket: WebSocket, code: number, reason: string): void {
  if (NO_FRAME_CODES.has(code)) return;
  try {
    // The platform's close, not a connection's own (which would report a server-started close).
    if (code === 1005) WebSocket.prototype.close.call(socket);
    else WebSocket.prototype.close.call(socket, code, reason);
  } catch {
    // Already closed from this side: nothing to answer.
  }
}

/** Teardown noise (a peer that vanished), not an error the actor should hear about. */
export function isBenignTeardown(socket: WebSocket, error: unknown): boolean {
  if (socket.readyState !== 2 && socket.readyState !== 3) return false;
  const message = error instanceof Error ? error.message : String(error);
  return (error as { retryable?: boolean } | null)?.retryable === true || /Network connection lost|WebSocket peer disconnected/.test(message);
}

/** The subprotocols a client offered in `Sec-WebSocket-Protocol`. */
export function offeredProtocols(request: Request): string[] {
  return (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((protocol) => protocol.trim())
    .filter(Boolean);
}

export function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** A close reason is at most 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  const bytes = new TextEncoder().encode(text);
  return bytes.byteLength <= 123 ? text : new TextDecoder().decode(bytes.slice(0, 120)).replace(/\uFFFD$/, "") + "…";
}
