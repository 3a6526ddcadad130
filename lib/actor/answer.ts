import { fromWire, toWire, type WireError } from "../protocol/errors.js";
import type { Outcome } from "./replies.js";

/**
 * What `__genpartyCall` returns over DO RPC: the reply itself, or the error as data (DO RPC drops
 * error classes, so errors travel as `{ "genparty.error": wire }` and are rebuilt by the ref).
 * Not an `{ ok, value }` envelope: copying that object across RPC cost more (≈ 7 µs per call,
 * measured) than the rest of the reply. A reply that itself has one of the two keys is wrapped.
 */
export type CallAnswer = unknown;

const ERROR_KEY = "genparty.error";
const VALUE_KEY = "genparty.value";

export function toAnswer(outcome: Outcome): CallAnswer {
  if (!outcome.ok) return failedAnswer(outcome.error);
  const { value } = outcome;
  return isMarked(value) ? { [VALUE_KEY]: value } : value;
}

export function failedAnswer(error: unknown): CallAnswer {
  return { [ERROR_KEY]: toWire(error) };
}

/** The reply inside an answer; throws the error, rebuilt as its class, for a failed call. */
export function fromAnswer(answer: CallAnswer): unknown {
  if (!isMarked(answer)) return answer;
  if (ERROR_KEY in answer) throw fromWire(answer[ERROR_KEY] as WireError);
  return answer[VALUE_KEY];
}

function isMarked(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && (ERROR_KEY in value || VALUE_KEY in value);
}
