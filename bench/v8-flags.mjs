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

/** The word a pointer at `word` of `segment` refers to, following a single far pointer. */
function target(view, segments, segment, word) {
  const low = view.getUint32(segments[segment].start + word * WORD, true);
  const high = view.getUint32(segments[segment].start + word * WORD + 4, true);
  const kind = low & 3;
  if (kind === 2) {
    if (low & 4) throw new Error("workerd config: a double-far pointer to the root struct; not handled");
    return target(view, segments, high, low >>> 3);
  }
  if (kind !== 0) throw new Error(`workerd config: the root pointer is of kind ${kind}, not a struct`);
  return { segment, word: word + 1 + (low >> 2), dataWords: high & 0xffff, pointers: high >>> 16 };
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
  const root = target(view, segments, 0, 0);
  if (root.pointers <= V8_FLAGS_POINTER) throw new Error("workerd config: the Config struct has no v8Flags pointer");
  const slot = segments[root.segment].start + (root.word + root.dataWords + V8_FLAGS_POINTER) * WORD;
  if (view.getUint32(slot, true) !== 0 || view.getUint32(slot + 4, true) !== 0) throw new Error("workerd config: v8Flags is set already");

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
  const root = target(view, segments, 0, 0);
  if (root.pointers <= V8_FLAGS_POINTER) return [];
  let segment = root.segment;
  let word = root.word + root.dataWords + V8_FLAGS_POINTER;
  const read = (s, w) => [view.getUint32(segments[s].start + w * WORD, true), view.getUint32(segments[s].start + w * WORD + 4, true)];
  let [low, high] = read(segment, word);
  if (low === 0 && high === 0) return [];
  if ((low & 3) === 2) {
    segment = high;
    word = low >>> 3;
    [low, high] = read(segment, word);
  }
  const first = word + 1 + (low >> 2);
  const flags = [];
  for (let i = 0; i < high >>> 3; i++) {
    const [tl, th] = read(segment, first + i);
    const start = segments[segment].start + (first + i + 1 + (tl >> 2)) * WORD;
    flags.push(Buffer.from(view.buffer, view.byteOffset + start, (th >>> 3) - 1).toString("utf8"));
  }
  return flags;
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
