import { isPlainDataInstance } from "./plain-data.js";

/**
 * How many bytes a value takes in a hibernatable socket's attachment. The platform stores it with
 * V8's serializer, not as JSON: a fractional number is 9 bytes there (about 4 as JSON text), and a
 * string with any character past U+00FF is 2 bytes a character. Measured by that format's rules,
 * erring high (a shared object is counted at each place), so a state that passes here fits there,
 * and both modes refuse the same states. One case errs low: Latin-1 text that V8 holds two bytes a
 * character (cut from text with a wider character) is counted at one; the platform's own check
 * still refuses such a state in hibernating mode, as a ConnectionStateTooLargeError.
 */
export function serializedSize(value: unknown): number {
  // The header: a version tag and the version.
  return 2 + sizeOf(value, "", 0);
}

/** Values beyond this nesting are refused rather than walked (the platform's own limit is deeper). */
const MAX_DEPTH = 100;

/** A value the attachment can't hold as the state it was, or the runtime doesn't measure. */
export class Unmeasurable extends TypeError {}

function sizeOf(value: unknown, key: string, depth: number): number {
  switch (typeof value) {
    case "undefined":
    case "boolean":
      return 1;
    case "number":
      return numberSize(value);
    case "string":
      return stringSize(value);
    case "object":
      break;
    default:
      throw new Unmeasurable(`a ${typeof value}${at(key)} can't be stored with a socket`);
  }
  if (value === null) return 1;
  if (depth > MAX_DEPTH) throw new Unmeasurable(`the state is nested more than ${MAX_DEPTH} levels deep${at(key)}`);
  if (Array.isArray(value)) {
    // Tag, length, the items, end tag, property count (none), length. (An array with holes is
    // written as index-value pairs, a little more; the platform's own check still catches it.)
    let bytes = 1 + varintSize(value.length) + 1 + 1 + varintSize(value.length);
    for (let i = 0; i < value.length; i++) bytes += sizeOf(value[i], String(i), depth + 1);
    return bytes;
  }
  if (value instanceof Date) return 9;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null && !isPlainDataInstance(value)) {
    // A Map, a Set, binary data, a class instance: kept in memory as they are, but not what a wake reads back, or not measured here.
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "class instance";
    throw new Unmeasurable(`a ${name}${at(key)} is not plain data; use an object or an array`);
  }
  let bytes = 1;
  let count = 0;
  for (const child of Object.keys(value)) {
    bytes += keySize(child) + sizeOf((value as Record<string, unknown>)[child], child, depth + 1);
    count++;
  }
  return bytes + 1 + varintSize(count);
}

function at(key: string): string {
  return key ? ` at "${key}"` : "";
}

/** A small integer is a tag and a zigzag varint; any other number a tag and 8 bytes. */
function numberSize(n: number): number {
  if (!Number.isInteger(n) || Object.is(n, -0) || n < -(2 ** 30) || n >= 2 ** 30) return 9;
  return 1 + varintSize(n >= 0 ? 2 * n : -2 * n - 1);
}

function stringSize(text: string): number {
  // Latin-1 strings are stored a byte a character; any other character makes every one two (plus an alignment byte).
  const bytes = LATIN1.test(text) ? text.length : 2 * text.length + 1;
  return 1 + varintSize(bytes) + bytes;
}

/** Array-index keys ("0", "42", up to 2³²−2) are stored as numbers; any other key as a string. */
function keySize(key: string): number {
  const index = Number(key);
  return String(index) === key && Number.isInteger(index) && index >= 0 && index < 2 ** 32 - 1 ? numberSize(index) : stringSize(key);
}

function varintSize(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    bytes++;
  }
  return bytes;
}

const LATIN1 = /^[\x00-\xff]*$/;
