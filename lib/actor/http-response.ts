import { ActorStoppedError, CallTimeoutError, type GenpartyError, RemoteError } from "../protocol/errors.js";
import type { Outcome } from "./replies.js";

/** The Response an HTTP caller gets for a call's outcome. No stack or internal detail ever: the full error was logged where it was thrown. */
export function responseFor(outcome: Outcome, label: string, timeoutMs: number): Response {
  if (outcome.ok && outcome.value instanceof Response) return outcome.value;
  if (outcome.ok) {
    console.error(`${label}: a request was answered with ${typeof outcome.value}; handleRequest must reply with a Response.`);
    return internalError(label);
  }
  return errorResponse(outcome.error, label, timeoutMs);
}

export function errorResponse(error: GenpartyError, label: string, timeoutMs?: number): Response {
  if (error instanceof CallTimeoutError) {
    return new Response(
      `${label} did not answer this request within ${timeoutMs} ms of its arrival (time spent queued behind other messages, or in a slow start, counts). Answer sooner, or reply first and finish the work in a later turn.`,
      { status: 504 },
    );
  }
  if (error instanceof ActorStoppedError) return new Response(error.message, { status: 503 });
  // A setup mistake, not a secret: say how to fix it.
  if (error instanceof RemoteError && error.remoteName === "NameUnknownError") return new Response(error.message, { status: 500 });
  return internalError(label);
}

function internalError(label: string): Response {
  return new Response(`Internal error in ${label}`, { status: 500 });
}

/** How long an unread request body is read on before the response leaves anyway. */
const UNREAD_BODY_WAIT_MS = 1_000;

/**
 * A body the handler never read is read to its end (and dropped) before the response leaves: a
 * worker that forwarded its request streams the body on, and once the response is sent the platform
 * fails that stream ("Can't read from request stream after response has been sent") and the next
 * request can hang. Cancelling it here doesn't reach the sender; reading it does. An upload that
 * doesn't end within UNREAD_BODY_WAIT_MS is cancelled: the answer doesn't wait on it.
 */
export function afterBody(request: Request, response: Response): Response | Promise<Response> {
  const body = request.body;
  // Not a body the handler streams on: into the response itself, or piped somewhere (which locks it).
  // The common case, no body, answers without a promise.
  if (!body || request.bodyUsed || body.locked || response.body === body) return response;
  return drainThen(body, response);
}

async function drainThen(body: ReadableStream, response: Response): Promise<Response> {
  const reader = body.getReader();
  let timer = 0;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, UNREAD_BODY_WAIT_MS);
  });
  const drained = (async () => {
    try {
      while (!(await reader.read()).done) {
        // Dropped.
      }
    } catch {
      // The sender gave up: nothing left to wait for.
    }
  })();
  await Promise.race([drained, waited]);
  clearTimeout(timer);
  void reader.cancel().catch(() => undefined);
  return response;
}
