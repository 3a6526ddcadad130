import { describe, expect, it } from "vitest";
import { medianInterval, MIN_INTERVAL_SAMPLES, ratioInterval, ratioText } from "./stats.mjs";

/** `n` samples around `center`, spread ±`spread` (a fixed pattern, so the spec can't flake). */
function samples(n, center, spread) {
  return Array.from({ length: n }, (_, i) => center + spread * Math.sin(i * 2.39996));
}

describe("ratioInterval", () => {
  it("holds the ratio of the medians and leaves out a ratio the samples rule out", () => {
    const interval = ratioInterval(samples(30, 110, 10), samples(30, 100, 10));
    expect(interval.low).toBeLessThan(1.1);
    expect(interval.high).toBeGreaterThan(1.1);
    expect(interval.low).toBeGreaterThan(1);
    expect(interval.high).toBeLessThan(1.2);
  });

  it("narrows as the samples grow", () => {
    const few = ratioInterval(samples(6, 110, 20), samples(6, 100, 20));
    const many = ratioInterval(samples(60, 110, 20), samples(60, 100, 20));
    expect(many.high - many.low).toBeLessThan((few.high - few.low) / 2);
  });

  it("gives the same interval for the same samples", () => {
    const a = samples(18, 95, 25);
    const b = samples(18, 90, 25);
    expect(ratioInterval(a, b)).toEqual(ratioInterval(a, b));
  });

  it("gives none with too few samples on either side", () => {
    expect(ratioInterval(samples(MIN_INTERVAL_SAMPLES - 1, 100, 5), samples(20, 100, 5))).toBeUndefined();
    expect(ratioText([2, 2, 2], [1, 1, 1])).toBe("2.00×");
  });

  it("prints the ratio with its interval, and a dash where there is no ratio", () => {
    expect(ratioText(samples(9, 120, 1), samples(9, 100, 1))).toMatch(/^1\.20× <sub>1\.1\d–1\.2\d<\/sub>$/);
    expect(ratioText([], [1, 2])).toBe("–");
    expect(ratioText([1, 2], [0, 0])).toBe("–");
  });
});

describe("medianInterval", () => {
  it("holds the median of the values, narrows as they grow, and is none under the floor", () => {
    const few = medianInterval(samples(6, 1.1, 0.1));
    const many = medianInterval(samples(60, 1.1, 0.1));
    for (const interval of [few, many]) {
      expect(interval.low).toBeLessThan(1.1);
      expect(interval.high).toBeGreaterThan(1.1);
    }
    expect(many.high - many.low).toBeLessThan((few.high - few.low) / 2);
    expect(medianInterval(samples(MIN_INTERVAL_SAMPLES - 1, 1, 0.1))).toBeUndefined();
  });
});
