// The Markdown report and JSON of bench/run.mjs: tables of medians and ratios, and the run's environment.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fmt, median, ROOT, versionOf } from "./harness.mjs";
import { MIN_INTERVAL_SAMPLES, ratioText, samplesText } from "./stats.mjs";
import { countsLine, targetsTable } from "./targets.mjs";
import { chosenScenarios, CONFIG, KINDS, QUICK, RPC_OPS, SCENARIOS, SMOKE, WAKE_KINDS } from "./config.mjs";
import { live } from "./scenarios.mjs";

/** samples[scenario][kind] = one metrics object per pass. */
export const samples = {};
export const record = (scenario, kind, metrics) => ((samples[scenario] ??= {})[kind] ??= []).push(metrics);
const startedAt = new Date();
const loadAtStart = os.loadavg();

const footnotes = [];

function cell(runs, metric) {
  if (!runs || runs.length === 0) return { text: "–", values: [] };
  const values = runs.map((r) => r[metric]).filter(Number.isFinite);
  let text = samplesText(values);
  const bad = runs.filter((r) => !r.complete);
  if (bad.length > 0) {
    footnotes.push(bad.map((r) => r.error ?? `${r.done} of ${r.expected} done${r.outcome ? ` (${r.outcome})` : ""}`).join("; "));
    text += ` [${footnotes.length}]`;
  }
  return { text, values };
}

const ROOM_ROWS = [
  ["echo", "perSec", "echo: round trips/s, 1 client ↑"],
  ["echo", "p50", "echo: p50 ms ↓"],
  ["echo", "p99", "echo: p99 ms ↓"],
  ["echo", "cpuUserUsPerMsg", "echo: DO workerd CPU µs per message ↓"],
  ["echo", "cpuAllUsPerMsg", "echo: both workerds CPU µs per message ↓"],
  // The unmeasured passes before the first round: a new isolate, V8 still compiling (CONFIG.loneWarmUpPasses). No target is judged on them.
  ["echo-cold", "perSec", "echo, warm-up passes (V8 compiling): round trips/s, 1 client ↑"],
  ["echo-cold", "cpuUserUsPerMsg", "echo, warm-up passes (V8 compiling): DO workerd CPU µs per message ↓"],
  ["parallel", "perSec", `echo, ${CONFIG.parallelClients} clients at once (a room each): round trips/s ↑`],
  ["parallel", "p50", `echo, ${CONFIG.parallelClients} clients at once: p50 ms ↓`],
  ["parallel", "cpuUserUsPerMsg", `echo, ${CONFIG.parallelClients} clients at once: DO workerd CPU µs per message ↓`],
  ["parallel", "cpuAllUsPerMsg", `echo, ${CONFIG.parallelClients} clients at once: both workerds CPU µs per message ↓`],
  ["calls", "perSec", "socket call: round trips/s, 1 client ↑"],
  ["calls", "p50", "socket call: p50 ms ↓"],
  ["calls", "p99", "socket call: p99 ms ↓"],
  ["calls", "cpuUserUsPerMsg", "socket call: DO workerd CPU µs per call ↓"],
  ["calls", "cpuAllUsPerMsg", "socket call: both workerds CPU µs per call ↓"],
  ["calls-cold", "perSec", "socket call, warm-up passes (V8 compiling): round trips/s, 1 client ↑"],
  ["calls-cold", "cpuUserUsPerMsg", "socket call, warm-up passes (V8 compiling): DO workerd CPU µs per call ↓"],
  ["parallel-calls", "perSec", `socket call, ${CONFIG.parallelClients} clients at once (a room each): round trips/s ↑`],
  ["parallel-calls", "p50", `socket call, ${CONFIG.parallelClients} clients at once: p50 ms ↓`],
  ["parallel-calls", "cpuUserUsPerMsg", `socket call, ${CONFIG.parallelClients} clients at once: DO workerd CPU µs per call ↓`],
  ["parallel-calls", "cpuAllUsPerMsg", `socket call, ${CONFIG.parallelClients} clients at once: both workerds CPU µs per call ↓`],
  ["broadcast", "perSec", "broadcast: delivered/s ↑"],
  ["broadcast", "p50", "broadcast: own echo p50 ms ↓"],
  ["broadcast", "p99", "broadcast: own echo p99 ms ↓"],
  ["broadcast", "cpuUserUsPer1k", "broadcast: DO workerd CPU ms per 1k deliveries ↓", 1e-3],
  ["broadcast", "cpuAllUsPer1k", "broadcast: both workerds CPU ms per 1k deliveries ↓", 1e-3],
  ["persisted", "perSec", "persisted: delivered/s ↑"],
  ["persisted", "p50", "persisted: own echo p50 ms ↓"],
  ["persisted", "p99", "persisted: own echo p99 ms ↓"],
  ["persisted", "cpuUserUsPer1k", "persisted: DO workerd CPU ms per 1k deliveries ↓", 1e-3],
  ["persisted", "cpuAllUsPer1k", "persisted: both workerds CPU ms per 1k deliveries ↓", 1e-3],
  ["acks", "perSec", "persisted acks, a new room's first N: acks/s, 1 client pipelining ↑"],
  ["acks", "cpuUserUsPerAck", "persisted acks, a new room's first N: DO workerd CPU µs per ack ↓"],
  ["acks", "cpuAllUsPerAck", "persisted acks, a new room's first N: both workerds CPU µs per ack ↓"],
  ["acks", "afterPerSec", "persisted acks, the next N: acks/s, 1 client pipelining ↑"],
  ["acks", "afterCpuUserUsPerAck", "persisted acks, the next N: DO workerd CPU µs per ack ↓"],
  ["acks", "afterCpuAllUsPerAck", "persisted acks, the next N: both workerds CPU µs per ack ↓"],
  ["connect", "perSec", "connect: sockets/s ↑"],
  ["connect", "p50", "connect: p50 ms ↓"],
  ["connect", "p99", "connect: p99 ms ↓"],
  ["connect", "cpuAllUsPerConn", "connect: server CPU µs per socket ↓"],
  ["http", "perSec", "http: requests/s ↑"],
  ["http", "p50", "http: p50 ms ↓"],
  ["http", "p99", "http: p99 ms ↓"],
  ["http", "cpuUserUsPerReq", "http: DO workerd CPU µs per request ↓"],
  ["http", "cpuAllUsPerReq", "http: both workerds CPU µs per request ↓"],
  ["memory", "rssMiBPer1k", "memory: DO workerd RSS MiB per 1,000 open sockets ↓"],
];

const RPC_ROWS = [
  ["perSec", "calls/s ↑"],
  ["usPerCall", "µs per call (wall, in the worker) ↓"],
  ["p99", "p99 ms ↓", (spec) => spec.concurrency > 1],
  ["cpuUserUsPerCall", "workerd CPU µs per call ↓"],
];

function scaled(runs, metric, factor) {
  if (!factor || !runs) return runs;
  return runs.map((r) => ({ ...r, [metric]: r[metric] * factor }));
}

/** Ratio columns of each table: [heading, numerator kind, denominator kind]. */
const RATIOS = {
  hibernating: [
    ["Server ÷ raw", "gp-server", "raw"],
    ["Actor ÷ raw", "gp-actor", "raw"],
    ["partyserver ÷ raw", "partyserver", "raw"],
    ["Server ÷ partyserver", "gp-server", "partyserver"],
  ],
  memory: [
    ["Server mem ÷ raw mem", "gp-server-mem", "raw-mem"],
    ["partyserver mem ÷ raw mem", "partyserver-mem", "raw-mem"],
    ["Server mem ÷ partyserver mem", "gp-server-mem", "partyserver-mem"],
    ["raw mem ÷ raw", "raw-mem", "raw"],
    ["Machine ÷ raw", "gp-machine", "raw"],
  ],
};

/**
 * One table per group of targets. The in-memory table repeats the hibernating raw room as its
 * reference column (the baseline of every ratio in the issue).
 */
function roomTable(group) {
  const own = KINDS.filter((k) => k.group === group);
  if (own.length === 0) return "";
  const reference = group === "memory" ? KINDS.filter((k) => k.key === "raw") : [];
  const shown = [...reference, ...own];
  const kinds = shown.map((k) => k.key);
  const has = (key) => kinds.includes(key);
  const ratios = RATIOS[group].filter(([, a, b]) => has(a) && has(b));
  const head = ["scenario · metric", ...shown.map((k) => k.label), ...ratios.map(([heading]) => heading)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const [scenario, metric, label, factor] of ROOM_ROWS) {
    if (!samples[scenario] || !own.some((k) => samples[scenario][k.key])) continue;
    const cells = Object.fromEntries(kinds.map((key) => [key, cell(scaled(samples[scenario][key], metric, factor), metric)]));
    const row = [label, ...kinds.map((key) => cells[key].text), ...ratios.map(([, a, b]) => ratioText(cells[a].values, cells[b].values))];
    lines.push(`| ${row.join(" | ")} |`);
  }
  return lines.length > 2 ? lines.join("\n") : "";
}

const WAKE_ROWS = [
  ["wakeMs", "first reply after hibernation, ms ↓"],
  ["warmMs", "the next reply (awake), ms ↓"],
  ["cpuUserWakeMs", "DO workerd CPU ms, send → reply ↓"],
  ["cpuUserWakeSettledMs", "DO workerd CPU ms, send → reply + 250 ms ↓"],
  ["cpuAllWakeMs", "both workerds CPU ms, send → reply ↓"],
];

/** The wake scenario: hibernating targets only, ratios to the raw DO. */
function wakeTable() {
  const runs = samples.wake;
  if (!runs) return "";
  const shown = KINDS.filter((k) => WAKE_KINDS.has(k.key) && runs[k.key]);
  const kinds = shown.map((k) => k.key);
  const ratios = RATIOS.hibernating.filter(([, a, b]) => kinds.includes(a) && kinds.includes(b));
  const head = ["metric", ...shown.map((k) => k.label), ...ratios.map(([heading]) => heading)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const [metric, label] of WAKE_ROWS) {
    const cells = Object.fromEntries(kinds.map((key) => [key, cell(runs[key], metric)]));
    lines.push(`| ${[label, ...kinds.map((key) => cells[key].text), ...ratios.map(([, a, b]) => ratioText(cells[a].values, cells[b].values))].join(" | ")} |`);
  }
  return lines.join("\n");
}

function rpcTable() {
  const lines = ["| call · metric | raw DO RPC | genparty call | genparty ÷ raw |", "|---|---:|---:|---:|"];
  for (const spec of RPC_OPS) {
    const runs = samples[`rpc:${spec.key}`];
    if (!runs) continue;
    for (const [metric, label, when] of RPC_ROWS) {
      if (when && !when(spec)) continue;
      const raw = cell(runs.raw, metric);
      const gp = cell(runs.gp, metric);
      lines.push(`| ${spec.label}: ${label} | ${raw.text} | ${gp.text} | ${ratioText(gp.values, raw.values)} |`);
    }
  }
  return lines.join("\n");
}

function otherLoadSummary() {
  const loads = Object.values(samples).flatMap((byKind) => Object.values(byKind).flat()).map((m) => m.otherLoad).filter(Number.isFinite);
  return { median: median(loads), max: loads.length ? Math.max(...loads) : NaN, busy: loads.filter((l) => l > 0.15).length, count: loads.length };
}

/** Read when the run starts, as its bundle is built: edits made during a run are not in what it measures. */
const commitAtStart = (() => {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "lib"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${commit} (lib/ has uncommitted changes)` : commit;
  } catch {
    return "unknown (not a git checkout)";
  }
})();

function environment() {
  const commit = commitAtStart;
  const cpus = os.cpus();
  return {
    date: startedAt.toISOString(),
    node: process.version,
    wrangler: versionOf("wrangler"),
    workerd: versionOf("workerd"),
    partyserver: versionOf("partyserver"),
    ws: versionOf("ws"),
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    platform: `${os.type()} ${os.release()}`,
    loadAtStart: loadAtStart.map((l) => l.toFixed(2)).join(" "),
    loadAtEnd: os.loadavg().map((l) => l.toFixed(2)).join(" "),
    otherLoad: otherLoadSummary(),
    commit,
    bundleSha: live.server?.bundleSha,
    startupMs: live.server?.startupMs,
  };
}

/** A run narrowed with --only / BENCH_SCENARIOS writes its own files, not over the whole run's. */
// A run given V8 flags is a run of another engine setup: its files sit beside the default run's.
export const base = `${QUICK ? "results-quick" : "results"}${CONFIG.v8Flags.length > 0 ? "-v8-flags" : ""}${chosenScenarios ? `-${SCENARIOS.join("-")}` : ""}`;

export function report(status) {
  footnotes.length = 0;
  const env = environment();
  const rooms = roomTable("hibernating");
  const memoryRooms = roomTable("memory");
  const calls = rpcTable();
  const wakes = wakeTable();
  const targets = targetsTable(samples);
  const md = [
    `# genparty benchmark results${QUICK ? " (quick mode)" : ""}`,
    "",
    `Written by \`node bench/run.mjs${QUICK ? " --quick" : ""}\` on ${env.date}${status === "complete" ? "" : ` — **${status}**, partial results`}. How to read them: bench/README.md.`,
    "",
    `- Node ${env.node}, wrangler ${env.wrangler} (workerd ${env.workerd}${CONFIG.v8Flags.length > 0 ? `, V8 flags \`${CONFIG.v8Flags.join(" ")}\` from BENCH_V8_FLAGS` : ""}) via \`wrangler dev\` on 127.0.0.1, partyserver ${env.partyserver}, client \`ws\` ${env.ws}`,
    `- Machine: ${env.cores} cores (${env.cpuModel}), ${env.platform}; load average ${env.loadAtStart} at start, ${env.loadAtEnd} at end`,
    `- Other processes on the machine during the scenarios: median ${fmt(env.otherLoad.median)} cores, max ${fmt(env.otherLoad.max)} (${env.otherLoad.busy} of ${env.otherLoad.count} scenarios above 0.15 cores)`,
    `- genparty at ${env.commit}; bundle sha256 ${env.bundleSha ?? "?"}… (built once per run, so edits during a run don't reload it)`,
    `- Sizes: echo ${CONFIG.echo} sequential · echo under load ${CONFIG.parallelClients} clients × ${CONFIG.parallelMsgs} sequential, a room each · socket calls ${CONFIG.calls} sequential, and under load as echo · persisted acks N = ${CONFIG.acks} pipelined, then N more in the same room · fan-out ${CONFIG.clients} clients × ${CONFIG.messages} msgs (${(CONFIG.clients * CONFIG.clients * CONFIG.messages).toLocaleString("en-US")} deliveries) · connect ${CONFIG.connect} sockets, ${CONFIG.connectConcurrency} at a time · HTTP ${CONFIG.http} GETs, ${CONFIG.httpConcurrency} at a time · RPC ${CONFIG.rpcCalls} calls · wake ${CONFIG.wakeSockets} sockets after ${CONFIG.wakeIdleMs / 1000} s idle · memory ${CONFIG.memorySockets} sockets, a fresh workerd per target · ${CONFIG.rounds} interleaved round(s), the targets' order from row ${CONFIG.orderOffset} of each scenario's balanced Latin square (BENCH_ORDER_OFFSET), a lone client's echo and socket calls ${CONFIG.lonePasses} passes each round (after ${CONFIG.loneWarmUpPasses} unmeasured passes before the first), fan-out and persisted fan-out ${CONFIG.fanoutPasses}, under load, acks, connect, HTTP and RPC ${CONFIG.shortPasses}, wake ${CONFIG.wakesPerRound}; cells are the median <sub>min–max</sub> of all samples`,
    "",
    ...(targets.table
      ? [
          "## Issue 7's targets",
          "",
          `Each genparty room's ratio to the raw hibernating room (or to partyserver), its 90% interval, and what this run says: met or missed when the whole interval is on one side of the target, can't tell when it holds it; by the median alone where a row has under ${MIN_INTERVAL_SAMPLES} samples a target. ${countsLine(targets.counts)}`,
          "",
          targets.table,
          "",
        ]
      : []),
    ...(rooms ? ["## WebSocket rooms (hibernating)", "", rooms, ""] : []),
    ...(wakes
      ? [
          "## Wake: the first message after hibernation",
          "",
          `${CONFIG.wakeSockets} sockets open in one room per target, ${CONFIG.wakeIdleMs / 1000} s of silence (workerd evicts the object), then one client sends a frame only it gets back; ${CONFIG.wakesPerRound} times per room and round, after one unmeasured wake of every target before the first round. CPU from /proc schedstat (ns).`,
          "",
          wakes,
          "",
        ]
      : []),
    ...(memoryRooms
      ? [
          "## In-memory sockets and MachineServer",
          "",
          "The raw hibernating room again for reference. The MachineServer room pushes its state (JSON, ~100 bytes) instead of echoing the frame, and commits a turn per message, so compare it with the persisted rows above as well.",
          "",
          memoryRooms,
          "",
        ]
      : []),
    ...(samples[`rpc:${RPC_OPS[0].key}`] || Object.keys(samples).some((k) => k.startsWith("rpc:")) ? ["## Calls (RPC from the worker into the object)", "", calls, ""] : []),
    ...(footnotes.length ? ["Incomplete runs:", "", ...footnotes.map((note, i) => `${i + 1}. ${note}`), ""] : []),
    `↑ higher is better, ↓ lower is better. Ratios are of medians; under a ratio, its 90% bootstrap interval (each side's samples resampled, where both have ${MIN_INTERVAL_SAMPLES} or more): a target inside it can't be told from the ratio by this run.`,
    "",
  ].join("\n");
  if (SMOKE) return md;
  writeFileSync(join(ROOT, "bench", `${base}.md`), md);
  writeFileSync(join(ROOT, "bench", `${base}.json`), JSON.stringify({ status, environment: env, config: CONFIG, samples }, null, 2) + "\n");
  return md;
}
