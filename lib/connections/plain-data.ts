/**
 * On the prototype of a class whose instances are data: stored (as an actor's state, as a socket's
 * state) as their own enumerable fields, and read back as a plain object with those fields. Other
 * class instances are refused there, because what comes back is not what was stored. A call's
 * `from` is one (lib/actor/call-from.ts).
 */
export const PLAIN_DATA: unique symbol = Symbol("genparty.plainData");

/** Whether `value` (an object whose prototype is not Object's) is such an instance. */
export function isPlainDataInstance(value: object): boolean {
  return PLAIN_DATA in value;
}
