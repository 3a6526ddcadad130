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
