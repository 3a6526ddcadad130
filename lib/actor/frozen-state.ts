import { describeThrown } from "../protocol/errors.js";
import { StateFrozenError } from "./errors.js";

/**
 * `immutableState`: the committed state is frozen, all the way down, so a turn that returns no new
 * state is known to have changed nothing without encoding it to JSON (the encode costs as much as
 * the state is big, on every message). A change made in place throws instead of being lost.
 */

/** Objects this module froze with everything in them: a new state that shares them is frozen without walking them again. */
const frozenDeep = new WeakSet<object>();

/** Freezes `state` and every object and array in it. Only JSON values get here: the state was encoded first. */
export function freezeState(state: unknown): void {
  if (!needsFreezing(state)) return;
  // A list, not recursion: a state may be nested deeper than the stack.
  const pending: object[] = [state];
  while (pending.length > 0) {
    const value = pending.pop()!;
    Object.freeze(value);
    frozenDeep.add(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (needsFreezing(value[i])) pending.push(value[i] as object);
    } else {
      for (const key in value) {
        const child = (value as Record<string, unknown>)[key];
        if (needsFreezing(child)) pending.push(child as object);
      }
    }
  }
}

/** Merely frozen is not enough: an object the user froze may still hold unfrozen ones. */
function needsFreezing(value: unknown): value is object {
  return typeof value === "object" && value !== null && !frozenDeep.has(value);
}

/** V8's messages for a write to a frozen object: an assignment, a new property or element, a delete. */
const FROZEN_WRITE = /Cannot assign to read only property|object is not extensible|Cannot delete property|Cannot redefine property/;

/** What a handler threw, with the reason spelled out when it wrote to the frozen state. */
export function explainFrozenWrite(error: unknown, label: string, handler: string): unknown {
  if (!(error instanceof TypeError)) return error;
  const { message } = describeThrown(error);
  if (!FROZEN_WRITE.test(message)) return error;
  return new StateFrozenError(
    `${label}: ${handler} wrote to a frozen object (${message}). This actor has options.immutableState, so the state handlers get is frozen: return a new state instead of changing it in place, e.g. noreply({ ...state, n: state.n + 1 }) or reply(value, { ...state, list: [...state.list, item] }).`,
  );
}
