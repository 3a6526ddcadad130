// `BENCH_V8_FLAGS` under `wrangler dev`: miniflare writes no `v8Flags` into the workerd config it
// pipes to workerd (binary Cap'n Proto on stdin) and has no option for them. bench/workerd-v8-flags
// (MINIFLARE_WORKERD_PATH) runs workerd on the config this file rewrites: the same message, with
// the Config struct's `v8Flags` (pointer 2) set to the flags, in a segment of its own.
//
// Why: on this machine V8's concurrent optimizing compiles stall partway through many workerd
// processes (bench/readings.md, "Processes that run slow"); `--no-concurrent-recompilation` makes a
// run's figures those of a process whose compiles all finished, for every target alike.
import { readFileSync, writeSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** `Config.v8Flags` is the root struct's third pointer (workerd.capnp: `v8Flags @2 :List(Text)`). */
const V8_FLAGS_POINTER = 2;
const WORD = 8;

/** The message's segments, as byte ranges of `buffer`. */
function segmentsOf(buffer) {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const count = view.getUint32(0, true) + 1;
  const headerBytes = Math.ceil((4 + 4 * count) / WORD) * WORD;
  const segments = [];
  let start = headerBytes;
  for (let i = 0; i < count; i++) {
    const words = view.getUint32(4 + 4 * i, true);
    segments.push({ start, words });
    start += words * WORD;
  }
  if (start !== buffer.byteLength) throw new Error(`workerd config: ${buffer.byteLength} bytes, but its segment table says ${start}`);
  return { view, segments };
}

/** The pointer at `word` of `segment` (following a single far pointer): its kind, where its object starts, its high half. Null: no pointer. */
function pointerAt(view, segments, segment, word) {
  const at = segments[segment].start + word * WORD;
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (low === 0 && high === 0) return null;
  const kind = low & 3;
  if (kind !== 2) return { kind, segment, word: word + 1 + (low >> 2), high };
  if (low & 4) throw new Error("workerd config: a double-far pointer; not handled");
  return pointerAt(view, segments, high, low >>> 3);
}

/** The root struct: where it starts, its data and pointer section sizes. */
function rootOf(view, segments) {
  const root = pointerAt(view, segments, 0, 0);
  if (root?.kind !== 0) throw new Error("workerd config: the root pointer is not a struct");
  return { segment: root.segment, word: root.word, dataWords: root.high & 0xffff, pointers: root.high >>> 16 };
}

/** A pointer word: `low` and `high` halves. */
function setWord(view, offset, low, high) {
  view.setUint32(offset, low >>> 0, true);
  view.setUint32(offset + 4, high >>> 0, true);
}

/** A list pointer to `count` elements of `size` (2: bytes, 6: pointers), `offset` words past the pointer's end. */
function listPointer(offset, size, count) {
  return [((offset << 2) | 1) >>> 0, ((count << 3) | size) >>> 0];
}

/** `message` (a serialized workerd Config) with `flags` as its V8 flags; it must have none of its own. */
export function withV8Flags(message, flags) {
  if (flags.length === 0) return message;
  const { view, segments } = segmentsOf(message);
  const root = rootOf(view, segments);
  if (root.pointers <= V8_FLAGS_POINTER) throw new Error("workerd config: the Config struct has no v8Flags pointer");
  const slotWord = root.word + root.dataWords + V8_FLAGS_POINTER;
  if (pointerAt(view, segments, root.segment, slotWord)) throw new Error("workerd config: v8Flags is set already");
  const slot = segments[root.segment].start + slotWord * WORD;

  // The new segment: a landing pad, the list of text pointers, then each text (NUL-terminated, word-padded).
  const texts = flags.map((flag) => Buffer.from(`${flag}\0`, "utf8"));
  const textWords = texts.map((text) => Math.ceil(text.length / WORD));
  const words = 1 + texts.length + textWords.reduce((sum, n) => sum + n, 0);
  const added = Buffer.alloc(words * WORD);
  const addedView = new DataView(added.buffer, added.byteOffset, added.byteLength);
  setWord(addedView, 0, ...listPointer(0, 6, texts.length));
  let at = 1 + texts.length;
  texts.forEach((text, i) => {
    setWord(addedView, (1 + i) * WORD, ...listPointer(at - (1 + i) - 1, 2, text.length));
    text.copy(added, at * WORD);
    at += textWords[i];
  });
  // The slot becomes a far pointer to the landing pad (word 0 of the new segment).
  const id = segments.length;
  const body = Buffer.from(message.subarray(segments[0].start));
  const bodyView = new DataView(body.buffer, body.byteOffset, body.byteLength);
  setWord(bodyView, slot - segments[0].start, 2, id);

  const count = segments.length + 1;
  const header = Buffer.alloc(Math.ceil((4 + 4 * count) / WORD) * WORD);
  header.writeUInt32LE(count - 1, 0);
  segments.forEach((segment, i) => header.writeUInt32LE(segment.words, 4 + 4 * i));
  header.writeUInt32LE(words, 4 + 4 * segments.length);
  return Buffer.concat([header, body, added]);
}

/** The V8 flags of a serialized workerd Config (for the spec). */
export function v8FlagsOf(message) {
  const { view, segments } = segmentsOf(message);
  const root = rootOf(view, segments);
  if (root.pointers <= V8_FLAGS_POINTER) return [];
  const list = pointerAt(view, segments, root.segment, root.word + root.dataWords + V8_FLAGS_POINTER);
  if (!list) return [];
  return Array.from({ length: list.high >>> 3 }, (_, i) => {
    const text = pointerAt(view, segments, list.segment, list.word + i);
    const start = view.byteOffset + segments[text.segment].start + text.word * WORD;
    return Buffer.from(view.buffer, start, (text.high >>> 3) - 1).toString("utf8");
  });
}

/** BENCH_V8_FLAGS, split on spaces. */
export function benchV8Flags(env = process.env) {
  return (env.BENCH_V8_FLAGS ?? "").split(" ").filter(Boolean);
}

// As a program: the config on stdin, rewritten, on stdout (bench/workerd-v8-flags runs it).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const patched = withV8Flags(readFileSync(0), benchV8Flags());
  for (let written = 0; written < patched.length; ) written += writeSync(1, patched, written);
}
