#!/usr/bin/env node
// Issue 7's targets across full runs: one run's interval says how sure its samples are, not how far
// the next run will land (a lone client's rows move ±10–20% between runs of the same code). This
// takes each committed bench/results.json (and the work tree's, when a new run hasn't been
// committed yet), each run's ratio per target row, and judges the median of those ratios.
//
//   node bench/across.mjs             # the last 8 full runs on the newest run's kind of machine
//   node bench/across.mjs --machine=fc-v669  # the last 8 on machines whose description holds that text
//   node bench/across.mjs 12          # the last 12
//   node bench/across.mjs --same-bundle  # every run since the bench bundle (the code under test) last changed, however many
//   node bench/across.mjs --v8-flags  # the runs given BENCH_V8_FLAGS (those given the newest one's flags)
//   node bench/across.mjs --by-round  # a lone client's CPU per message ÷ raw's, round by round, in each run
// Under the table: for each cell that can't tell, what more runs would decide (runsToDecide); and
// against partyserver, the most each room could be behind by, and what a stated margin would settle.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { median, ROOT } from "./harness.mjs";
import { medianInterval, MIN_INTERVAL_SAMPLES, ratioLabel } from "./stats.mjs";
import { countsLine, meetsTarget, ROOMS, targetRows, verdictTable } from "./targets.mjs";

/** `--v8-flags`: the runs given BENCH_V8_FLAGS, which write results-v8-flags.json. */
const RESULTS = process.argv.includes("--v8-flags") ? "bench/results-v8-flags.json" : "bench/results.json";

/**
 * Scenarios whose measurement changed: their rows compare only runs that measured them as the newest
 * run did. Persisted rooms' write per message (CONFIG.persistedWrite), socket calls' ids (CONFIG.callIds), and
 * the lone client's warm-up before the first round (CONFIG.loneWarmUpPasses).
 */
const persistedWrite = (run) => run.config?.persistedWrite ?? "append";
const callIds = (run) => run.config?.callIds ?? "reused";
/** Unmeasured passes of the lone client's scenarios before the first round (CONFIG.loneWarmUpPasses; none before the field). */
const loneWarmUp = (run) => String(run.config?.loneWarmUpPasses ?? 0);
/** The commit that gave measured socket calls ids of their own: runs of it and after, made before CONFIG.callIds, measured "fresh" ids. */
const FRESH_CALL_IDS_SINCE = "9aa3f4b";
const MEASURED_AS = { persisted: persistedWrite, acks: persistedWrite, echo: loneWarmUp, calls: (run) => `${callIds(run)} ${loneWarmUp(run)}`, "parallel-calls": callIds };
/** A run's BENCH_V8_FLAGS (CONFIG.v8Flags; runs before the field had none). */
const v8FlagsOf = (run) => (run.config?.v8Flags ?? []).join(" ");
/**
 * The machine a run measured: its cores, CPU and kernel build. The same code reads different ratios
 * on two kinds of machine (a lone call 1.03–1.05× raw's CPU on one, 1.08–1.14× on one whose every
 * system call and wake-up costs three times as much: bench/readings.md, "A second kind of machine").
 */
const machineOf = ({ environment: env = {} }) => `${env.cores} cores (${env.cpuModel}), ${env.platform}`;
/** `--machine=<text>`: only runs on a machine whose description (machineOf) holds the text. */
const machineWanted = process.argv.find((arg) => arg.startsWith("--machine="))?.slice("--machine=".length);
/** `--same-bundle`: see selectRuns. */
const sameBundle = process.argv.includes("--same-bundle");
const sameMeasurement = (scenario, run, newest) => !MEASURED_AS[scenario] || MEASURED_AS[scenario](run) === MEASURED_AS[scenario](newest);

/**
 * Each target row over `runs` (parsed results.json files, newest first): per room, every run's
 * median ratio, the median of those with its interval, and how many runs met the target by their
 * own median. A row counts only the runs that measured it, and a persisted or socket-call row only
 * the runs that measured it as the newest run did (the rooms' write, the calls' ids). Measured by
 * fewer runs than an interval over runs needs, a cell is judged as one run would be, on the samples
 * of its runs taken together (`pooled`): a median of two ratios, without an interval, would call a
 * row missed on two readings.
 */
export function acrossRuns(runs) {
  const rows = new Map();
  for (const [index, run] of runs.entries()) {
    for (const row of targetRows(run.samples)) {
      if (!sameMeasurement(row.scenario, run, runs[0])) continue;
      const key = rowKey(row);
      const entry = rows.get(key) ?? { ...row, perRun: {}, runs: [] };
      for (const [kind, cell] of Object.entries(row.cells)) if (cell) (entry.perRun[kind] ??= []).push(cell.ratio);
      entry.runs.push(index);
      rows.set(key, entry);
    }
  }
  // Rows the same runs measured share one pooling: each judges every row, bootstrap intervals and all.
  const pooledRows = new Map();
  const pooledRowsOf = (measured) => {
    const set = measured.join(",");
    if (!pooledRows.has(set)) pooledRows.set(set, new Map(targetRows(poolSamples(measured.map((index) => runs[index]))).map((row) => [rowKey(row), row.cells])));
    return pooledRows.get(set);
  };
  return [...rows.entries()].map(([key, { cells: _firstRun, scenario: _scenario, perRun, runs: measured, ...row }]) => {
    const pooled = () => pooledRowsOf(measured).get(key);
    return {
      ...row,
      cells: Object.fromEntries(
        Object.entries(perRun).map(([kind, values]) => {
          const met = values.filter((value) => meetsTarget(value, row.limit, row.higherIsBetter)).length;
          if (values.length >= MIN_INTERVAL_SAMPLES) return [kind, { ratio: median(values), interval: medianInterval(values), met, runs: values.length }];
          const { ratio, interval } = pooled()[kind];
          return [kind, { ratio, interval, met, runs: values.length, pooled: true }];
        }),
      ),
    };
  });
}

const rowKey = (row) => `${row.heading}\u0000${row.label}`;

/** The samples of several runs as one run's: each scenario's and target's samples, concatenated. */
function poolSamples(runs) {
  const pooled = {};
  for (const run of runs) {
    for (const [scenario, byKind] of Object.entries(run.samples)) {
      for (const [kind, samples] of Object.entries(byKind)) ((pooled[scenario] ??= {})[kind] ??= []).push(...samples);
    }
  }
  return pooled;
}

/** The lone client's scenarios, whose rooms' code a run compiles in its first round's passes. */
const LONE_SCENARIOS = ["echo", "calls"];

/**
 * `--by-round`: each room's CPU per message ÷ raw's, for every round of every run (a round's value
 * is the median of its passes, each target's over raw's), and the median over runs of each round.
 * Whether a row's excess is in the first round, where a room's code for the scenario is compiled,
 * or in every round. A run whose samples aren't `rounds × passes` a target (cut short) is left out.
 */
export function byRound(runs, scenario) {
  const perRun = [];
  for (const run of runs) {
    const byKind = run.samples[scenario];
    const rounds = run.config?.rounds;
    const passes = run.config?.lonePasses;
    if (!byKind?.raw || !rounds || !passes) continue;
    const full = (samples) => samples?.length === rounds * passes;
    if (!full(byKind.raw)) continue;
    const roundMedian = (samples, round) => median(samples.slice(round * passes, (round + 1) * passes).map((sample) => sample.cpuUserUsPerMsg));
    const ratios = {};
    for (const [kind, samples] of Object.entries(byKind)) {
      if (kind === "raw" || !full(samples)) continue;
      ratios[kind] = Array.from({ length: rounds }, (_, round) => roundMedian(samples, round) / roundMedian(byKind.raw, round));
    }
    perRun.push({ date: run.environment.date, ratios });
  }
  const kinds = [...new Set(perRun.flatMap(({ ratios }) => Object.keys(ratios)))];
  const medians = Object.fromEntries(
    kinds.map((kind) => {
      const rows = perRun.map(({ ratios }) => ratios[kind]).filter(Boolean);
      const rounds = Math.max(...rows.map((row) => row.length));
      return [kind, Array.from({ length: rounds }, (_, round) => median(rows.map((row) => row[round]).filter((value) => value !== undefined)))];
    }),
  );
  return { kinds, perRun, medians };
}

function byRoundTable(runs, scenario) {
  const { kinds, perRun, medians } = byRound(runs, scenario);
  const cell = (values) => (values ? values.map((value) => `${value.toFixed(2)}×`).join(" · ") : "–");
  return [
    `| ${scenario}: run | ${kinds.join(" | ")} |`,
    `|---|${kinds.map(() => "---:").join("|")}|`,
    ...perRun.map(({ date, ratios }) => `| ${date.slice(0, 16)}Z | ${kinds.map((kind) => cell(ratios[kind])).join(" | ")} |`),
    `| median of the runs | ${kinds.map((kind) => cell(medians[kind])).join(" | ")} |`,
  ].join("\n");
}

/**
 * What more runs would make of a cell that can't tell, were its median to hold and its interval to
 * narrow as 1/√runs (a median's interval over runs alike does): `{ verdict, runs }`, the verdict its
 * median points to and the runs it would take for the side of the interval that crosses the limit
 * to clear it. `runs` is Infinity for a median on the limit: a tie no number of runs decides.
 * Undefined for a cell that is met or missed, or judged on pooled samples (its interval isn't one over runs).
 */
export function runsToDecide(cell, limit, higherIsBetter) {
  const { ratio, interval, runs, pooled } = cell;
  if (!interval || pooled) return undefined;
  const meets = (value) => meetsTarget(value, limit, higherIsBetter);
  if (meets(interval.low) === meets(interval.high)) return undefined;
  const verdict = meets(ratio) ? "met" : "missed";
  // The bound on the limit's other side from the median: the one more runs must bring across.
  const crossing = meets(interval.low) === meets(ratio) ? interval.high : interval.low;
  const distance = Math.abs(ratio - limit);
  // (Less a hair: ratios are sums of floats, and 48.000000001 runs are 48.)
  return { verdict, runs: distance === 0 ? Infinity : Math.ceil(runs * ((crossing - ratio) / distance) ** 2 - 1e-9) };
}

/** Most runs a projection is told in; beyond it a row is as good as a tie. */
const PROJECTED_RUNS = 100;

/** The cells that can't tell, per room, by what more runs would decide (see runsToDecide). */
function projectionLines(rows) {
  const lines = [];
  for (const [kind, name] of ROOMS) {
    const found = [];
    for (const row of rows) {
      const cell = row.cells[kind];
      const decided = cell && runsToDecide(cell, row.limit, row.higherIsBetter);
      if (decided) found.push({ ...decided, label: `${row.label} (${row.heading}, ${ratioLabel(cell)})` });
    }
    if (found.length === 0) continue;
    found.sort((a, b) => a.runs - b.runs);
    const near = found.filter(({ runs }) => runs <= PROJECTED_RUNS).map(({ verdict, runs, label }) => `${verdict} in ~${runs} runs: ${label}`);
    const ties = found.filter(({ runs }) => runs > PROJECTED_RUNS).map(({ label }) => label);
    lines.push(`- ${name}: ${[...near, ...(ties.length > 0 ? [`not within ${PROJECTED_RUNS} runs (medians on or next to the limit): ${ties.join("; ")}`] : [])].join("; ")}.`);
  }
  return lines;
}

/**
 * How far past `limit` a cell's interval reaches on the target's wrong side, as a fraction of the
 * limit: 0 when the whole interval meets it. Against partyserver (limit 1) it is the most the room
 * could be behind by that the runs can't rule out: 0.04 for a rate whose interval starts at 0.96×.
 * Undefined for a cell without an interval.
 */
export function worstShortfall(cell, limit, higherIsBetter) {
  if (!cell?.interval) return undefined;
  const past = higherIsBetter ? limit - cell.interval.low : cell.interval.high - limit;
  return Math.max(0, past / limit);
}

/** Margins the partyserver rows are counted with below the table: what each would settle. */
const PARTYSERVER_MARGINS = [0, 0.01, 0.02, 0.03, 0.05];

/** Each room's rows judged against partyserver that have an interval, with their worstShortfall: `{ [kind]: [{ row, worst }] }`. */
function partyserverShortfalls(rows) {
  const against = rows.filter((row) => row.heading.endsWith("partyserver"));
  return Object.fromEntries(
    ROOMS.map(([kind]) => [
      kind,
      against.map((row) => ({ row, worst: worstShortfall(row.cells[kind], row.limit, row.higherIsBetter) })).filter(({ worst }) => worst !== undefined),
    ]),
  );
}

/**
 * The rows judged against partyserver, per room: how many are met under each of `margins` (a row
 * is met with margin m when worstShortfall ≤ m; 0 is the verdict the table gives), out of how many
 * have an interval. `{ [kind]: { rows, met: [count per margin] } }`.
 */
export function partyserverMargins(rows, margins = PARTYSERVER_MARGINS) {
  const shortfalls = partyserverShortfalls(rows);
  return Object.fromEntries(
    ROOMS.map(([kind]) => {
      const worsts = shortfalls[kind].map(({ worst }) => worst);
      // (Less a hair, as runsToDecide: an interval ending at 0.97 is 3% short, not 3.0000000001%.)
      return [kind, { rows: worsts.length, met: margins.map((margin) => worsts.filter((worst) => worst <= margin + 1e-9).length) }];
    }),
  );
}

/** The partyserver rows that can't tell, per room, with the most each could be behind by; then the counts under each margin. */
function marginLines(rows) {
  const percent = (fraction) => `${Math.round(fraction * 1000) / 10}%`;
  const shortfalls = partyserverShortfalls(rows);
  const lines = [];
  for (const [kind, name] of ROOMS) {
    const behind = shortfalls[kind]
      // (One past 1.00× by a hair is still past it: "under 0.1%", not "up to 0%".)
      .filter(({ worst }) => worst > 0)
      .sort((a, b) => b.worst - a.worst)
      .map(({ row, worst }) => `${row.label} (${row.heading}) ${worst < 0.0005 ? "under 0.1%" : `up to ${percent(worst)}`}`);
    if (behind.length > 0) lines.push(`- ${name}: ${behind.join("; ")}.`);
  }
  const counted = partyserverMargins(rows);
  const perMargin = PARTYSERVER_MARGINS.map((margin, i) => {
    const rooms = ROOMS.map(([kind, name]) => `${name} ${counted[kind].met[i]} of ${counted[kind].rows}`).join(", ");
    return margin === 0 ? `as the table judges them (no margin): ${rooms}` : `within ${percent(margin)}: ${rooms}`;
  });
  lines.push("", `Rows against partyserver met, were "never worse" to allow a stated margin: ${perMargin.join("; ")}.`);
  return lines;
}

/** A cell: the median of the runs' ratios (or of their samples pooled), its interval, and in how many runs the target was met. */
function cellLabel(cell) {
  return `${ratioLabel(cell)} (${cell.met} of ${cell.runs} runs${cell.pooled ? ", samples pooled" : ""})`;
}

/**
 * Which runs to judge together, from `candidates` (`{ source, run }`, newest first, read lazily: each
 * is a commit's results.json): the newest `count` complete ones (8 unless told; with `sameBundle`,
 * as many as there are), on the newest one's kind of machine and with its V8 flags (both change
 * every row), on a machine whose description holds `machine` if given. A run a timeout cut short
 * is skipped, not counted. `sameBundle` stops at the first run whose bench bundle (genparty's lib,
 * the rooms, partyserver) hashed otherwise than the newest one's: the runs since the code under test
 * last changed, all of one code. More of them narrow the interval over runs, where "the last 8"
 * would mix in runs of an older lib once a change lands.
 */
export function selectRuns(candidates, { count, machine, sameBundle = false } = {}) {
  const limit = count ?? (sameBundle ? Infinity : 8);
  const runs = [];
  for (const { source, run } of candidates) {
    if (runs.length === limit) break;
    if (run.status !== "complete") continue;
    if (machine !== undefined && !machineOf(run).includes(machine)) continue;
    const newest = runs[0];
    if (newest && (v8FlagsOf(run) !== v8FlagsOf(newest) || machineOf(run) !== machineOf(newest))) continue;
    if (sameBundle && newest && run.environment.bundleSha !== newest.environment.bundleSha) break;
    runs.push({ source, ...run });
  }
  return runs;
}

/** Every results.json git has, newest first, parsed one at a time: the work tree's if it differs from HEAD's (a run not committed yet), then each commit's. */
function* committedRuns(git) {
  const commits = git("log", "--format=%h", "--", RESULTS).split("\n").filter(Boolean);
  const working = readFileSync(join(ROOT, RESULTS), "utf8");
  if (commits.length === 0 || working !== git("show", `HEAD:${RESULTS}`)) yield { source: "work tree", run: JSON.parse(working) };
  for (const commit of commits) yield { source: commit, run: JSON.parse(git("show", `${commit}:${RESULTS}`)) };
}

function loadRuns(count) {
  const git = (...args) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  const isAncestor = (commit, of) => {
    try {
      git("merge-base", "--is-ancestor", commit, of);
      return true;
    } catch {
      return false;
    }
  };
  const runs = selectRuns(committedRuns(git), { count, machine: machineWanted, sameBundle });
  for (const run of runs) {
    if (run.config.callIds === undefined && isAncestor(FRESH_CALL_IDS_SINCE, run.environment.commit.split(" ")[0])) run.config.callIds = "fresh";
  }
  return runs;
}

function main() {
  const told = process.argv.slice(2).find((arg) => !arg.startsWith("--"));
  const count = told === undefined ? undefined : Number(told);
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new RangeError("The number of runs must be a positive integer (node bench/across.mjs 8).");
  const runs = loadRuns(count);
  if (runs.length === 0) throw new Error(`No complete run of ${RESULTS} in git history${machineWanted === undefined ? "" : ` on a machine matching "${machineWanted}"`}: run npm run bench first.`);
  if (process.argv.includes("--by-round")) {
    const list = runs.map((run) => `${run.environment.date.slice(0, 16)}Z`).join(", ");
    const intro = `A lone client's DO CPU per message, each room's ÷ raw's, round by round (each round the median of its passes), over ${runs.length} full runs: ${list}. Round 1 is where each room's code for the scenario is compiled.`;
    console.log([intro, ...LONE_SCENARIOS.map((scenario) => byRoundTable(runs, scenario))].join("\n\n"));
    return;
  }
  const rows = acrossRuns(runs);
  const { table, counts } = verdictTable(rows, cellLabel);
  const projected = projectionLines(rows);
  const list = runs.map((run) => `${run.environment.date.slice(0, 16)}Z (genparty ${run.environment.commit}, from ${run.source})`).join(", ");
  console.log(
    [
      `Issue 7's targets over ${runs.length} full run${runs.length === 1 ? "" : "s"} on ${machineOf(runs[0])}${v8FlagsOf(runs[0]) ? ` with V8 flags ${v8FlagsOf(runs[0])} (BENCH_V8_FLAGS)` : ""}${sameBundle ? `, every one of bundle ${runs[0].environment.bundleSha.slice(0, 12)}…` : ""}: ${list}.`,
      "",
      `Each cell: the median of the runs' ratios, its 90% bootstrap interval over runs (from ${MIN_INTERVAL_SAMPLES} runs; a row fewer runs measured is judged on their samples pooled, as one run), the verdict on it, and in how many runs the target was met by that run's median. ${countsLine(counts)}`,
      "",
      table,
      ...(projected.length === 0 ? [] : ["", "What more runs would decide where a room can't tell, were each median to hold and its interval narrow as 1/√runs:", "", ...projected]),
      "",
      "Against partyserver, the most each room could be behind by that the runs can't rule out (the interval's far side), where its interval reaches past 1.00×:",
      "",
      ...marginLines(rows),
    ].join("\n"),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main();
