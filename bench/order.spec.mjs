import { describe, expect, it } from "vitest";
import { balancedOrder, ORDER_PERIOD, orderOffset } from "./order.mjs";

const TARGETS = ["raw", "partyserver", "gp-server", "gp-actor"];

/** For each target, the positions it takes over `turns` passes from `offset`. */
function positions(items, offset, turns) {
  const taken = Object.fromEntries(items.map((item) => [item, []]));
  for (let turn = offset; turn < offset + turns; turn++) balancedOrder(items, turn).forEach((item, position) => taken[item].push(position));
  return taken;
}

describe("balancedOrder", () => {
  it.each([4, 5, 8])("puts each of %i targets once in each position over a cycle, from any row", (n) => {
    const items = Array.from({ length: n }, (_, i) => `t${i}`);
    const cycle = n % 2 === 1 ? 2 * n : n;
    for (const offset of [0, 3, 837]) {
      for (const taken of Object.values(positions(items, offset, cycle))) expect([...taken].sort((a, b) => a - b)).toEqual(Array.from({ length: cycle }, (_, i) => Math.floor(i / (cycle / n))));
    }
  });

  it("puts each target right after each other target once over a cycle of an even square", () => {
    const after = new Map();
    for (let turn = 2; turn < 2 + TARGETS.length; turn++) {
      const row = balancedOrder(TARGETS, turn);
      for (let i = 1; i < row.length; i++) after.set(`${row[i - 1]}>${row[i]}`, (after.get(`${row[i - 1]}>${row[i]}`) ?? 0) + 1);
    }
    expect(after.size).toBe(TARGETS.length * (TARGETS.length - 1));
    expect([...after.values()].every((count) => count === 1)).toBe(true);
  });
});

describe("orderOffset", () => {
  it("takes BENCH_ORDER_OFFSET as told, and refuses what isn't a row", () => {
    expect(orderOffset("7")).toBe(7);
    expect(orderOffset("0")).toBe(0);
    expect(() => orderOffset("-1")).toThrow(/at least 0/);
    expect(() => orderOffset("1.5")).toThrow(/BENCH_ORDER_OFFSET/);
  });

  it("draws a row below a multiple of every square's period, so three rounds don't keep a target's positions from run to run", () => {
    expect(orderOffset(undefined, () => 0)).toBe(0);
    expect(orderOffset("", () => 0.9999)).toBe(ORDER_PERIOD - 1);
    for (const n of [2, 3, 4, 5, 6, 7, 8]) expect(ORDER_PERIOD % (n % 2 === 1 ? 2 * n : n)).toBe(0);
    // The first three rows of a four-target square, from row 0 and from row 1: the Actor is first in the second.
    const first = (offset) => [0, 1, 2].map((turn) => balancedOrder(TARGETS, offset + turn)[0]);
    expect(first(0)).not.toContain("gp-actor");
    expect(first(1)).toContain("gp-actor");
  });
});
