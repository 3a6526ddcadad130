// The order a pass runs its targets in: rows of a balanced Latin square, from a row drawn for each run.

/**
 * Row `turn` of a balanced Latin square (Williams' design): over n passes (2n when n is odd) each
 * target runs once in each position and right after each other target once. Targets are ordered
 * after filtering, so a scenario on four targets is balanced among those four.
 */
export function balancedOrder(items, turn) {
  const n = items.length;
  if (n < 2) return items;
  const first = Array.from({ length: n }, (_, j) => (j === 0 ? 0 : j % 2 === 1 ? (j + 1) / 2 : n - j / 2));
  const row = first.map((index) => items[(index + turn) % n]);
  return n % 2 === 1 && Math.floor(turn / n) % 2 === 1 ? row.reverse() : row;
}

/**
 * A multiple of every square's period (n rows for n ≤ 8 targets, 2n for odd n): an offset drawn
 * below it starts a run at each row of every scenario's square alike.
 */
export const ORDER_PERIOD = 840;

/**
 * The row a run's passes start at: `told` (BENCH_ORDER_OFFSET) if given, else drawn. A run's passes
 * needn't make whole cycles of a square (3 rounds of one fan-out pass ran 3 of a 4-target square's
 * 4 rows; two a round, since 2026-11-29 13:52Z, run 6), so while every run started at row 0 each
 * target kept its positions from run to run (the Actor never first in persisted fan-out), and
 * positions differ: first in a pass reads 0.95–0.97× the rate of the pass, last up to 1.03×
 * (bench/readings.md, "Positions kept from run to run"). Across runs that bias never averaged out.
 */
export function orderOffset(told, random = Math.random) {
  if (told === undefined || told === "") return Math.floor(random() * ORDER_PERIOD);
  const value = Number(told);
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`BENCH_ORDER_OFFSET must be an integer of at least 0, got "${told}".`);
  return value;
}
