// Issue 7's targets, checked against a run's samples: each genparty room's ratio to the raw
// hibernating room (or to partyserver) with its interval, and whether the run shows the target
// met, missed, or can't tell (the interval straddles it).
import { ratioLabel, ratioOf } from "./stats.mjs";

/** The rooms the issue sets targets for: [kind, name]. */
export const ROOMS = [
  ["gp-server", "Server"],
  ["gp-actor", "Actor"],
];

const THROUGHPUT = [
  ["echo", "perSec", "echo, 1 client: round trips/s"],
  ["parallel", "perSec", "echo, 20 clients: round trips/s"],
  ["calls", "perSec", "socket calls, 1 client: round trips/s"],
  ["parallel-calls", "perSec", "socket calls, 20 clients: round trips/s"],
  ["broadcast", "perSec", "fan-out: delivered/s"],
  ["persisted", "perSec", "persisted fan-out: delivered/s"],
  ["acks", "perSec", "acks, a new room's first N: acks/s"],
  ["acks", "afterPerSec", "acks, the next N: acks/s"],
  ["connect", "perSec", "connect: sockets/s"],
  ["http", "perSec", "HTTP: requests/s"],
];
const LATENCY = [
  ["echo", "p50", "echo, 1 client: p50"],
  ["parallel", "p50", "echo, 20 clients: p50"],
  ["calls", "p50", "socket calls, 1 client: p50"],
  ["parallel-calls", "p50", "socket calls, 20 clients: p50"],
  ["broadcast", "p50", "fan-out: own echo p50"],
  ["persisted", "p50", "persisted fan-out: own echo p50"],
  ["connect", "p50", "connect: p50"],
  ["http", "p50", "HTTP: p50"],
];
const CPU = [
  ["echo", "cpuUserUsPerMsg", "echo, 1 client: DO CPU per message"],
  ["parallel", "cpuUserUsPerMsg", "echo, 20 clients: DO CPU per message"],
  ["calls", "cpuUserUsPerMsg", "socket calls, 1 client: DO CPU per call"],
  ["parallel-calls", "cpuUserUsPerMsg", "socket calls, 20 clients: DO CPU per call"],
  ["broadcast", "cpuUserUsPer1k", "fan-out: DO CPU per delivery"],
  ["persisted", "cpuUserUsPer1k", "persisted fan-out: DO CPU per delivery"],
  ["acks", "cpuUserUsPerAck", "acks, a new room's first N: DO CPU per ack"],
  ["acks", "afterCpuUserUsPerAck", "acks, the next N: DO CPU per ack"],
  ["http", "cpuUserUsPerReq", "HTTP: DO CPU per request"],
];
const WAKE = [
  ["wake", "cpuUserWakeMs", "wake: DO CPU, send → reply"],
  ["wake", "wakeMs", "wake: first reply"],
];
const MEMORY = [["memory", "rssMiBPer1k", "memory per 1,000 sockets"]];

/** [heading, rows, reference kind, limit, whether higher is better] */
export const TARGETS = [
  ["≥ 0.95× raw", THROUGHPUT, "raw", 0.95, true],
  ["≤ 1.10× raw", [...LATENCY, ...CPU], "raw", 1.1, false],
  ["≤ 2× raw", WAKE, "raw", 2, false],
  ["≥ partyserver", THROUGHPUT, "partyserver", 1, true],
  ["≤ partyserver", [...LATENCY, ...CPU, ...WAKE, ...MEMORY], "partyserver", 1, false],
];

/**
 * Whether a ratio meets `limit`: "met" or "missed" when its whole interval is on one side, "can't
 * tell" when the interval holds the limit. Without an interval (too few samples) the median alone
 * decides, and the verdict says so.
 */
export function verdict(ratio, interval, limit, higherIsBetter) {
  const meets = (value) => meetsTarget(value, limit, higherIsBetter);
  if (!interval) return meets(ratio) ? "met (median)" : "missed (median)";
  if (meets(interval.low) && meets(interval.high)) return "met";
  if (!meets(interval.low) && !meets(interval.high)) return "missed";
  return "can't tell";
}

/** Whether one ratio is on the target's side of `limit`. */
export function meetsTarget(ratio, limit, higherIsBetter) {
  return higherIsBetter ? ratio >= limit : ratio <= limit;
}

/**
 * Each target row the run has a raw room for: its heading, label, limit and direction, and each
 * genparty room's cell (ratioOf: median ratio and interval; undefined where the room has none).
 */
export function targetRows(samples) {
  const rows = [];
  for (const [heading, metrics, reference, limit, higherIsBetter] of TARGETS) {
    for (const [scenario, metric, label] of metrics) {
      const byKind = samples[scenario];
      const base = valuesOf(byKind?.[reference], metric);
      if (base.length === 0) continue;
      const cells = Object.fromEntries(ROOMS.map(([kind]) => [kind, ratioOf(valuesOf(byKind[kind], metric), base)]));
      if (Object.values(cells).every((cell) => !cell)) continue;
      rows.push({ heading, label, scenario, limit, higherIsBetter, cells });
    }
  }
  return rows;
}

/** The targets' table, and a count of verdicts per room; empty when the run has no raw room. */
export function targetsTable(samples) {
  return verdictTable(targetRows(samples), ratioLabel);
}

/**
 * A table of rows whose cells are `{ ratio, interval }` per room (undefined: "–"), each judged by
 * `verdict`, with a count of verdicts per room. `label` prints a cell before its verdict.
 */
export function verdictTable(rows, label) {
  const lines = [`| target | workload · metric | ${ROOMS.map(([, name]) => name).join(" | ")} |`, `|---|---|${ROOMS.map(() => "---:").join("|")}|`];
  const counts = Object.fromEntries(ROOMS.map(([kind]) => [kind, { met: 0, "can't tell": 0, missed: 0 }]));
  for (const { heading, label: name, limit, higherIsBetter, cells } of rows) {
    const texts = ROOMS.map(([kind]) => {
      const cell = cells[kind];
      if (!cell) return "–";
      const said = verdict(cell.ratio, cell.interval, limit, higherIsBetter);
      counts[kind][said.replace(" (median)", "")]++;
      return `${label(cell)} ${said}`;
    });
    lines.push(`| ${heading} | ${name} | ${texts.join(" | ")} |`);
  }
  return { table: lines.length === 2 ? "" : lines.join("\n"), counts };
}

/** "Server: 15 met, 41 can't tell, 3 missed. Actor: …" */
export function countsLine(counts) {
  return ROOMS.map(([kind, name]) => `${name}: ${counts[kind].met} met, ${counts[kind]["can't tell"]} can't tell, ${counts[kind].missed} missed.`).join(" ");
}

function valuesOf(runs, metric) {
  return (runs ?? []).map((run) => run[metric]).filter(Number.isFinite);
}
