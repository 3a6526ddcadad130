import { isPlainDataInstance } from "../connections/plain-data.js";
import { StateNotSerializableError, StateTooLargeError } from "./errors.js";

/**
 * State is stored as JSON, so what a turn saves is exactly what the next start reads back.
 * Values JSON would silently change (a Map becomes `{}`, a Date a string, a class loses its
 * prototype) are refused with an error that names the key, instead of corrupting state.
 */
export function serializeState(state: unknown, owner: { readonly label: string }, stored?: string): string {
  // null is every hooks Server's state: nothing to check.
  if (state === undefined || state === null) return "null";
  let json: string | undefined;
  if (stored !== undefined) {
    // Most turns leave the state as it was: JSON equal to what is stored writes nothing, so the
    // walk is skipped. A value JSON would change is then refused by the first turn whose JSON differs,
    // unless its JSON shows nothing of it: a Map, a Set or an instance with no own fields is `{}`
    // whatever it holds, so a state with an empty object in its JSON is walked anyway.
    json = tryStringify(state);
    // `stored` itself, not its equal: the caller keeps it, so the next turn finds it searched.
    if (json === stored && hasNoEmptyObject(stored)) return stored;
  }
  const checked = checkJson(state, "the state itself");
  if (typeof checked === "object") {
    throw new StateNotSerializableError(
      `${owner.label}: ${checked.where} holds ${checked.problem}, which doesn't survive storage as JSON. Store plain objects, arrays, strings, numbers, booleans and null (e.g. a Date as its getTime(), a Map as an object or entries array).`,
    );
  }
  return json ?? checked ?? JSON.stringify(state);
}

/**
 * Where JSON would change or drop part of `value` (`whole` names the value itself), or undefined:
 * the check state gets, for anything else that crosses as JSON (a socket call's reply).
 */
export function jsonProblem(value: unknown, whole: string): JsonProblem | undefined {
  const checked = checkJson(value, whole);
  return typeof checked === "object" ? checked : undefined;
}

class JsonProblem {
  constructor(
    readonly where: string,
    readonly problem: string,
  ) {}
}

/**
 * jsonProblem's check: the problem, or the JSON when the check had to encode the value (one too
 * deep for the walk: not encoded twice), or undefined. Not an object of both: that was one more
 * made for every reply to a socket call. The problem is the only object, told by `typeof`: an
 * `instanceof` of this module's class was a generic builtin call on every reply (`perf`).
 */
function checkJson(value: unknown, whole: string): JsonProblem | string | undefined {
  let unsupported: Unsupported | undefined;
  let json: string | undefined;
  try {
    // Checked by a walk in JS, then encoded without a replacer: a replacer is a call from
    // JSON.stringify back into JS for every key, several times slower than both together.
    unsupported = findUnsupported(value, "", 0);
  } catch (error) {
    if (!(error instanceof TooDeep)) throw error;
    // Very deep (or cyclic): the replacer checks it as JSON.stringify walks, which also reports a
    // cycle. It returns every value as it is, so what it encodes is the JSON.
    try {
      json = JSON.stringify(value, refuseUnsupported);
    } catch (inner) {
      if (!(inner instanceof Unsupported)) throw inner;
      unsupported = inner;
    }
  }
  return unsupported ? new JsonProblem(unsupported.key === "" ? whole : `key "${unsupported.key}"`, unsupported.problem) : json;
}

/**
 * The last stored JSON found without `{}`: a small state left as it was is searched once, not on
 * every turn (the search's builtin call cost more than the search). A long one is searched each
 * time, as its encoding costs far more, and isn't held here after its actor is gone.
 */
let searched: string | undefined;
const SEARCHED_MAX_LENGTH = 4096;

function hasNoEmptyObject(json: string): boolean {
  if (json === searched) return true;
  if (json.includes("{}")) return false;
  if (json.length <= SEARCHED_MAX_LENGTH) searched = json;
  return true;
}

/** JSON.stringify, or undefined where it throws (a cycle, a BigInt): the walk below reports those. */
function tryStringify(state: unknown): string | undefined {
  try {
    return JSON.stringify(state);
  } catch {
    return undefined;
  }
}

/** What is wrong, and under which key. */
class Unsupported {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {}
}

const UNDEFINED_ITEM = "undefined in an array (or a hole), which JSON turns into null; use null";

/** Nesting beyond which the walk hands over to JSON.stringify (which also detects cycles). */
const MAX_WALK_DEPTH = 100;

class TooDeep {}

/** The first value JSON would change or drop silently, depth first, in the order JSON.stringify visits keys. */
function findUnsupported(value: unknown, key: string, depth: number): Unsupported | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : new Unsupported(key, `the number ${value}`);
    case "bigint":
    case "function":
    case "symbol":
      return new Unsupported(key, `a ${typeof value}`);
  }
  if (value === null) return undefined;
  if (depth > MAX_WALK_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // In an object JSON drops an undefined key, which reads back as undefined; in an array it becomes null.
      const found = item === undefined ? new Unsupported(String(i), UNDEFINED_ITEM) : findUnsupported(item, String(i), depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  const problem = describeObject(value as object);
  if (problem) return new Unsupported(key, problem);
  for (const child of Object.keys(value as object)) {
    const found = findUnsupported((value as Record<string, unknown>)[child], child, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The replacer for state too deep for the walk: the same checks, key by key, as JSON.stringify goes. */
function refuseUnsupported(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const problem = replacedProblem(this, key, value);
  if (problem) throw new Unsupported(key, problem);
  return value;
}

function replacedProblem(holder: Record<string, unknown>, key: string, value: unknown): string | undefined {
  if (value === undefined) return Array.isArray(holder) ? UNDEFINED_ITEM : undefined;
  if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") return `a ${typeof value}`;
  if (typeof value === "number") return Number.isFinite(value) ? undefined : `the number ${value}`;
  // Look at the value before toJSON ran: a URL or a class with toJSON would come back as another shape.
  const raw = holder[key];
  return raw !== null && typeof raw === "object" && !Array.isArray(raw) ? describeObject(raw) : undefined;
}

/** Objects JSON turns into something else: a Date into a string, a Map or Set into `{}`, a class instance into a plain object. */
function describeObject(raw: object): string | undefined {
  // A plain object first: it is nearly every object in a state, and one prototype read settles it.
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto === Object.prototype || proto === null) return undefined;
  // A call's `from`, kept for a later reply: its fields are its data, and come back as a plain object.
  if (isPlainDataInstance(raw)) return undefined;
  if (raw instanceof Date) return "a Date";
  if (raw instanceof Map) return "a Map";
  if (raw instanceof Set) return "a Set";
  const name = (raw as { constructor?: { name?: string } }).constructor?.name ?? "a class";
  return `an instance of ${name}`;
}

/** How a backend stores the state's JSON: its limit, and what a given JSON takes of it. */
export interface StateSizing {
  readonly maxStateBytes: number;
  stateBytes(json: string): number;
}

export function checkStateSize(json: string, sizing: StateSizing, owner: string): void {
  // A UTF-16 length under a third of the limit takes less on every backend (3 bytes per unit at most): skip the count.
  if (json.length * 3 <= sizing.maxStateBytes) return;
  const bytes = sizing.stateBytes(json);
  if (bytes > sizing.maxStateBytes) {
    throw new StateTooLargeError(
      `${owner}: the state takes ${bytes} bytes in storage; one storage value holds at most ${sizing.maxStateBytes}. Keep large collections in this.ctx.storage (SQL rows or keys) and only their summary in state.`,
    );
  }
}
