const DEFAULT_CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, HEAD, OPTIONS",
  "access-control-allow-headers": "*",
  "access-control-max-age": "86400",
};

/** The CORS headers for `cors: true` or a custom set. */
export function corsHeaders(cors: boolean | HeadersInit | undefined): Headers | undefined {
  if (!cors) return undefined;
  return new Headers(cors === true ? DEFAULT_CORS : cors);
}

/** The response with CORS headers added; WebSocket upgrades are left alone (their headers are the handshake's). */
export function withCors(response: Response, headers: Headers | undefined): Response {
  if (!headers || response.status === 101 || response.webSocket) return response;
  const copy = new Response(response.body, response);
  headers.forEach((value, key) => copy.headers.set(key, value));
  return copy;
}
