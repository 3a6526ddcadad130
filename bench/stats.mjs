// How sure a ratio of medians is: a bootstrap interval, so a reader can tell a target missed by
// the code from one missed by the samples (a lone client's rows move ±10–15% between runs).
import { fmt, median } from "./harness.mjs";

/** Fewer samples a side than this and no interval is shown: a median of 3 resampled says little. */
export const MIN_INTERVAL_SAMPLES = 5;
const RESAMPLES = 2_000;
const LEVEL = 0.9;

/**
 * The 90% percentile-bootstrap interval of median(a) ÷ median(b): each side resampled with
 * replacement, independently (the samples of two targets are not pairs: each pass runs them in a
 * new order). Seeded, so the same samples always print the same interval. Undefined below
 * MIN_INTERVAL_SAMPLES a side.
 */
export function ratioInterval(a, b) {
  const xs = Float64Array.from(a.filter(Number.isFinite));
  const ys = Float64Array.from(b.filter(Number.isFinite));
  if (xs.length < MIN_INTERVAL_SAMPLES || ys.length < MIN_INTERVAL_SAMPLES) return undefined;
  const x = new Float64Array(xs.length);
  const y = new Float64Array(ys.length);
  return percentileInterval((random) => medianOfResample(xs, x, random) / medianOfResample(ys, y, random));
}

/**
 * The 90% percentile-bootstrap interval of one set's median: for figures that are each a whole
 * run's (a ratio per run), whose spread is the drift between runs. Undefined below
 * MIN_INTERVAL_SAMPLES values.
 */
export function medianInterval(values) {
  const xs = Float64Array.from(values.filter(Number.isFinite));
  if (xs.length < MIN_INTERVAL_SAMPLES) return undefined;
  const x = new Float64Array(xs.length);
  return percentileInterval((random) => medianOfResample(xs, x, random));
}

/** The middle LEVEL of RESAMPLES draws, from a fixed seed. */
function percentileInterval(draw) {
  const random = seeded(0x9e3779b9);
  const draws = new Float64Array(RESAMPLES);
  for (let i = 0; i < RESAMPLES; i++) draws[i] = draw(random);
  draws.sort();
  const tail = ((1 - LEVEL) / 2) * RESAMPLES;
  return { low: draws[Math.floor(tail)], high: draws[Math.ceil(RESAMPLES - 1 - tail)] };
}

/**
 * median(a) ÷ median(b) and its interval (undefined with too few samples; none for a side against
 * itself). Undefined when there is no ratio: no samples, or a median of 0 below.
 */
export function ratioOf(a, b) {
  const ma = median(a);
  const mb = median(b);
  if (!Number.isFinite(ma) || !Number.isFinite(mb) || mb === 0) return undefined;
  return { ratio: ma / mb, interval: a === b ? undefined : ratioInterval(a, b) };
}

/** A ratio as printed: "1.09×", with its interval in small type when it has one. */
export function ratioLabel({ ratio, interval }) {
  const text = `${ratio.toFixed(2)}×`;
  return interval ? `${text} <sub>${interval.low.toFixed(2)}–${interval.high.toFixed(2)}</sub>` : text;
}

/** `a` ÷ `b` as a table cell: its label, or "–" when there is no ratio. */
export function ratioText(a, b) {
  const ratio = ratioOf(a, b);
  return ratio ? ratioLabel(ratio) : "–";
}

/** A cell of samples: the median, and their range in small type when there are several. */
export function samplesText(values) {
  const finite = values.filter(Number.isFinite);
  const text = fmt(median(finite));
  return finite.length > 1 ? `${text} <sub>${fmt(Math.min(...finite))}–${fmt(Math.max(...finite))}</sub>` : text;
}

function medianOfResample(from, into, random) {
  for (let i = 0; i < into.length; i++) into[i] = from[Math.floor(random() * from.length)];
  into.sort();
  const mid = into.length >> 1;
  return into.length % 2 ? into[mid] : (into[mid - 1] + into[mid]) / 2;
}

/** Marsaglia's xorshift32 from a fixed seed: reproducible resampling, not cryptography. */
function seeded(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
