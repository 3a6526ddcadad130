import { CallTimeoutError, describeThrown, MailboxFullError, SelfCallError } from "../protocol/errors.js";

/**
 * Logs what a handler threw. Formatting it can throw (a `message` getter that throws), and a log
 * line must never keep a failed turn from being answered: then it is logged as name and message.
 */
export function logError(text: string, error: unknown): void {
  try {
    console.error(text, error);
  } catch {
    const { name, message } = describeThrown(error);
    console.error(text, `${name}: ${message}`);
  }
}

/** The runtime's own errors, worded once: what happened to `label` and what to do about it. */
export function mailboxFull(label: string, limit: number, what: string): MailboxFullError {
  return new MailboxFullError(
    `${label}'s mailbox is full (${limit} messages queued); this ${what} was rejected. Slow down callers, make handlers faster, or raise static mailbox = { limit }.`,
  );
}

export function timedOut(label: string, timeoutMs: number): CallTimeoutError {
  return new CallTimeoutError(
    `${label} did not reply within ${timeoutMs} ms. The handler was not cancelled and may still finish. Raise the timeout with { timeout }, or answer quickly and finish the work later. If the actor called itself through a stub, that call waits on its own turn: use this.getActor(...) to fail fast, or a cast.`,
  );
}

/**
 * A call whose chain already holds the callee (`id`): waiting for it would wait for the turn that is
 * waiting. `caller` names the chain's last link (the actor making the call) when it is known.
 */
export function selfCall(label: string, id: string, chain: readonly string[], caller?: string): SelfCallError {
  const last = chain.length - 1;
  const path = [...chain, id].map((link, i) => (link === id ? label : i === last && caller !== undefined ? caller : link.slice(0, 12))).join(" → ");
  return new SelfCallError(
    `${label} was called from inside its own turn (${path}); the call would wait for the turn that is waiting for it. Use a cast (this.sendSelf(msg) to itself), noreply(state, { continue }) or sendAfter(0, …) instead.`,
  );
}
