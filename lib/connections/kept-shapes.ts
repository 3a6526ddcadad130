/**
 * Objects kept alive for their maps (V8's hidden classes). V8 reaches the map of a class instance
 * with fields, of an object `JSON.parse` built, or of an object literal, only through weak
 * transitions. Between two messages no turn, no parsed frame and no envelope is alive (a connect's
 * or a close's, for minutes), nor, while no client is connected, any connection; so a full GC
 * collected those maps, and every optimized function that had seen one was thrown away ("embedded
 * weak objects cleared" under `--trace-deopt`, at every full GC: two or three times per 80,000
 * messages); some recompiles
 * never finished (`--trace-opt`), which left a busy actor's message path in baseline code from
 * then on (`perf`; bench/readings.md, "Maps that died between messages"). One live object of each
 * shape keeps its map. Here, below the actor, so connections keep theirs too.
 */
const kept: object[] = [];

/** Keeps `example`, and so its map, for as long as the isolate lives. */
export function keepShape(example: object): void {
  kept.push(example);
}
