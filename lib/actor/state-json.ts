import { StateNotSerializableError, StateTooLargeError } from "./errors.js";

/**
 * State is stored as JSON, so what a turn saves is exactly what the next start reads back.
 * Values JSON would silently change (a Map becomes `{}`, a Date a string, a class loses its
 * prototype) are refused with an error that names the key, instead of corrupting state.
 */
export function serializeState(state: unknown, owner: { readonly label: string }): string {
  // null is every hooks Server's state: no walk needed.
  if (state === undefined || state === null) return "null";
  try {
    return JSON.stringify(state, refuseUnsupported);
  } catch (error) {
    if (!(error instanceof Unsupported)) throw error;
    const where = error.key === "" ? "the state itself" : `key "${error.key}"`;
    throw new StateNotSerializableError(
      `${owner.label}: ${where} holds ${error.problem}, which doesn't survive storage as JSON. Store plain objects, arrays, strings, numbers, booleans and null (e.g. a Date as its getTime(), a Map as an object or entries array).`,
    );
  }
}

/** Thrown from inside JSON.stringify, caught right outside it: the message needs the owner's label. */
class Unsupported {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {}
}

/** A module-level replacer: one function for every turn instead of a closure each time. */
function refuseUnsupported(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const problem = describeUnsupported(this[key], value);
  if (problem) throw new Unsupported(key, problem);
  return value;
}

function describeUnsupported(raw: unknown, value: unknown): string | undefined {
  if (raw instanceof Date) return "a Date";
  if (typeof value === "bigint") return "a bigint";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value === "number" && !Number.isFinite(value)) return `the number ${value}`;
  // Look at the value before toJSON ran: a URL or a class with toJSON would come back as another shape.
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  if (raw instanceof Map) return "a Map";
  if (raw instanceof Set) return "a Set";
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) {
    const name = (raw as { constructor?: { name?: string } }).constructor?.name ?? "a class";
    return `an instance of ${name}`;
  }
  return undefined;
}

export function checkStateSize(json: string, maxBytes: number, owner: string): void {
  // A UTF-16 length under a third of the limit can't exceed it in UTF-8: skip the encode.
  if (json.length * 3 <= maxBytes) return;
  const bytes = new TextEncoder().encode(json).byteLength;
  if (bytes > maxBytes) {
    throw new StateTooLargeError(
      `${owner}: the state is ${bytes} bytes of JSON; one storage value holds at most ${maxBytes}. Keep large collections in this.ctx.storage (SQL rows or keys) and only their summary in state.`,
    );
  }
}
