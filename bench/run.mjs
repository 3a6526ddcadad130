#!/usr/bin/env node
// Benchmarks the same room as a raw Durable Object, on partyserver, on genparty's Server and as a
// genparty Actor (hibernating), the in-memory variants of the first three, and a genparty
// MachineServer room, in one `wrangler dev` run with interleaved rounds. See bench/README.md.
//
//   node bench/run.mjs            full size, 3 rounds, writes bench/results.md and results.json, and puts the
//                                 table in bench/README.md ("Latest results") when every target ran
//   node bench/run.mjs --quick    small sizes, 1 round (or BENCH_QUICK=1), writes bench/results-quick.*
//   node bench/run.mjs --smoke    a few messages per target and scenario (or BENCH_SMOKE=1): checks that
//                                 every target answers what it should, exits 1 if one doesn't; writes nothing
//   --only wake[,echo…]           run only these scenarios (the same as BENCH_SCENARIOS)
//
// Sizes: BENCH_CLIENTS, BENCH_MSGS, BENCH_ECHO, BENCH_CALLS, BENCH_ACKS, BENCH_CONNECT, BENCH_CONNECT_CONCURRENCY,
// BENCH_RPC_CALLS, BENCH_RPC_CONCURRENCY, BENCH_HTTP, BENCH_HTTP_CONCURRENCY, BENCH_ROUNDS,
// BENCH_SCENARIO_TIMEOUT_S, BENCH_RUN_TIMEOUT_S, BENCH_WAKE_SOCKETS, BENCH_WAKE_IDLE_S, BENCH_MEMORY_SOCKETS,
// BENCH_SHORT_PASSES (passes of echo and calls under load, acks, connect, http and rpc per round), BENCH_LONE_PASSES
// (passes of a lone client's echo and calls per round), BENCH_FANOUT_PASSES (passes of fan-out and persisted fan-out
// per round), BENCH_LONE_WARMUP_PASSES (unmeasured passes of a lone client's echo and calls before the first round;
// 0 for none).
// Subsets: BENCH_KINDS=raw,gp-actor  BENCH_SCENARIOS=echo,parallel,calls,parallel-calls,broadcast,persisted,acks,connect,http,rpc,wake,memory
// V8: BENCH_V8_FLAGS="--no-concurrent-recompilation" runs both workerds with these V8 flags (bench/v8-flags.mjs):
// on this machine V8's concurrent optimizing compiles stall partway through many processes
// (bench/readings.md, "Processes that run slow"); synchronous ones finish every time.
import { readFileSync, rmSync } from "node:fs";
import { fmt, groupCpuSeconds, machineBusySeconds, serverProcesses, sleep, startWrangler, terminateLiveSockets } from "./harness.mjs";
import { measureMemory } from "./memory.mjs";
import { balancedOrder } from "./order.mjs";
import { ALL_TARGETS, CONFIG, KINDS, LONE_SCENARIOS, MODE, passesOf, RPC_OPS, RPC_TARGETS, SCENARIOS, SETTLE_MS, SMOKE, WAKE_KINDS, runId } from "./config.mjs";
import { acks, calls, connect, echo, fanOut, http, live, parallelCalls, parallelEcho, rpc, wakeRound, wakeWarmUp } from "./scenarios.mjs";
import { refreshReadme } from "./readme-results.mjs";
import { base, record, report, samples } from "./report.mjs";

let initialPids = "";
const pidsOf = (list) => list.map((p) => `${p.role}:${p.pid}`).sort().join(",");

/** Runs one scenario within its time bound; `measureLoad` false for one that starts a workerd of its own (it would count as other load). */
async function bounded(label, run, measureLoad = true) {
  live.processes = serverProcesses(live.server.pgid);
  if (pidsOf(live.processes) !== initialPids) {
    console.warn(`  workerd live.processes changed (${initialPids} → ${pidsOf(live.processes)}): wrangler restarted them`);
    initialPids = pidsOf(live.processes);
  }
  const deadline = Date.now() + CONFIG.scenarioTimeoutMs;
  // Everything else on the machine, in cores, while this scenario ran: the figures are only as good as this is low.
  const busy0 = machineBusySeconds();
  const ours0 = groupCpuSeconds(live.server.pgid) + selfCpuSeconds();
  const wall0 = performance.now();
  const otherLoad = () => {
    const busy = machineBusySeconds() - busy0;
    const ours = groupCpuSeconds(live.server.pgid) + selfCpuSeconds() - ours0;
    return Math.max(0, (busy - ours) / ((performance.now() - wall0) / 1000));
  };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} exceeded ${CONFIG.scenarioTimeoutMs} ms`)), CONFIG.scenarioTimeoutMs + 5_000);
  });
  try {
    const metrics = await Promise.race([run(deadline), timeout]);
    return { ...metrics, otherLoad: measureLoad ? otherLoad() : NaN };
  } catch (error) {
    console.error(`  ${label} failed: ${error.message}`);
    return { complete: false, error: error.message, otherLoad: measureLoad ? otherLoad() : NaN };
  } finally {
    clearTimeout(timer);
    terminateLiveSockets();
    await sleep(SETTLE_MS);
  }
}

function selfCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function describe(metrics) {
  if (metrics.error) return `error: ${metrics.error}`;
  // A smoke run is too small to time anything: it only says whether everything arrived.
  if (SMOKE) return `${metrics.complete ? "ok" : "FAIL"} ${metrics.done}/${metrics.expected}${metrics.outcome && metrics.outcome !== "done" ? ` (${metrics.outcome})` : ""}`;
  if (metrics.rssMiBPer1k !== undefined) {
    const parts = [`${metrics.done} sockets: RSS ${fmt(metrics.rssMiBPer1k)} MiB per 1k`];
    if (!metrics.complete) parts.push(`INCOMPLETE ${metrics.done}/${metrics.expected}`);
    return parts.join(", ");
  }
  if (metrics.wakeMs !== undefined) {
    const parts = [
      `${metrics.sockets} sockets, first reply ${fmt(metrics.wakeMs)} ms (warm ${fmt(metrics.warmMs)} ms)`,
      `DO workerd CPU ${fmt(metrics.cpuUserWakeMs)} ms (${fmt(metrics.cpuUserWakeSettledMs)} ms to +250 ms)`,
      `instance ${metrics.instanceAgeMs} ms old`,
    ];
    if (metrics.otherLoad > 0.15) parts.push(`other load ${metrics.otherLoad.toFixed(2)} cores`);
    if (!metrics.complete) parts.push(`INCOMPLETE (${metrics.outcome ?? `${metrics.done}/${metrics.expected}`})`);
    return parts.join(", ");
  }
  const parts = [`${fmt(metrics.perSec)}/s`];
  if (metrics.afterPerSec !== undefined) parts.push(`then ${fmt(metrics.afterPerSec)}/s`);
  if (metrics.p50 !== undefined) parts.push(`p50 ${fmt(metrics.p50)} ms`, `p99 ${fmt(metrics.p99)} ms`);
  if (metrics.otherLoad > 0.15) parts.push(`other load ${metrics.otherLoad.toFixed(2)} cores`);
  if (!metrics.complete) parts.push(`INCOMPLETE ${metrics.done}/${metrics.expected}${metrics.outcome ? ` (${metrics.outcome})` : ""}`);
  return parts.join(", ");
}

// A smoke run keeps its build, state and logs apart (per process), so it can run next to a
// measuring run or another smoke run; they are removed after a run that passed.
const startOptions = SMOKE ? { tag: `bench-smoke-${process.pid}` } : {};

async function runAll() {
  if (SCENARIOS.includes("wake") && !SMOKE) {
    const kinds = KINDS.filter((kind) => WAKE_KINDS.has(kind.key));
    console.log(`wake warm-up: ${kinds.map((kind) => kind.key).join(", ")} woken once, not measured`);
    await bounded("wake warm-up", (deadline) => wakeWarmUp(kinds, deadline));
  }
  // Until V8 has optimized a room's code, a lone client's passes measure the compiling (see CONFIG.loneWarmUpPasses).
  for (const scenario of SCENARIOS.filter((name) => LONE_SCENARIOS.has(name))) {
    for (let pass = 1; pass <= CONFIG.loneWarmUpPasses; pass++) {
      const turn = CONFIG.orderOffset + pass - 1;
      await runScenario(scenario, balancedOrder(targetsOf(scenario), turn), 0, `w${pass}`, turn);
    }
  }
  for (let round = 1; round <= CONFIG.rounds; round++) {
    for (const scenario of SCENARIOS) {
      // Short scenarios move ±20% between passes: several passes a round, each target in turn.
      const passes = passesOf(scenario);
      for (let pass = 1; pass <= passes; pass++) {
        // A new order each pass, so drift (warm-up, other load, a room evicted ~10 s after the one
        // before it closed) doesn't always land on the same target, nor after the same neighbour.
        // From the run's own row of the square (CONFIG.orderOffset), so no target keeps its positions from run to run.
        const turn = CONFIG.orderOffset + (round - 1) * passes + pass - 1;
        await runScenario(scenario, balancedOrder(targetsOf(scenario), turn), round, passes > 1 ? `${round}-${pass}` : String(round), turn);
      }
    }
  }
}

/** The targets a scenario runs on (all of them for rpc and memory, which pick their own). */
function targetsOf(scenario) {
  if (scenario === "persisted" || scenario === "acks") return KINDS.filter((kind) => kind.persisted);
  if (scenario === "calls" || scenario === "parallel-calls" || scenario === "wake") return KINDS.filter((kind) => WAKE_KINDS.has(kind.key));
  return KINDS;
}

/**
 * One pass of one scenario over every target it applies to; `tag` keeps each pass's rooms apart.
 * Round 0 is the lone client's warm-up, whose figures are recorded as `<scenario>-cold`.
 */
async function runScenario(scenario, kinds, round, tag, turn) {
  const where = round === 0 ? "warm-up" : `round ${round}/${CONFIG.rounds}`;
  const recordAs = round === 0 ? `${scenario}-cold` : scenario;
  if (scenario === "rpc") {
    for (const spec of RPC_OPS) {
      const targets = turn % 2 === 0 ? RPC_TARGETS : [...RPC_TARGETS].reverse();
      for (const target of targets) {
        const metrics = await bounded(`rpc ${spec.key} ${target.key}`, (deadline) => rpc(target, spec, tag, deadline));
        record(`rpc:${spec.key}`, target.key, metrics);
        console.log(`${where}  rpc ${spec.key.padEnd(10)} ${target.label.padEnd(25)} ${describe(metrics)}`);
      }
    }
    return;
  }
  if (scenario === "memory") {
    for (const kind of kinds) {
      const options = { count: CONFIG.memorySockets, concurrency: CONFIG.connectConcurrency, prebuilt: { bundle: live.server.bundlePath, sha: live.server.bundleSha }, room: `memory-${kind.key}-${runId}-${tag}`, tag: `${startOptions.tag ?? "bench"}-memory-${kind.key}`, settleMs: SMOKE ? 50 : 1_000 };
      const metrics = await bounded(`memory ${kind.key}`, (deadline) => measureMemory(kind, { ...options, deadline }), false);
      record(scenario, kind.key, metrics);
      console.log(`${where}  ${scenario.padEnd(14)} ${kind.label.padEnd(25)} ${describe(metrics)}`);
    }
    return;
  }
  if (scenario === "wake") {
    // One target at a time: a room of 1,000 sockets per target at once runs wrangler's proxy out of file descriptors.
    for (const kind of kinds) {
      const { wakes, otherLoad, ...failed } = await bounded(`wake ${kind.key}`, (deadline) => wakeRound(kind, tag, deadline));
      for (const metrics of wakes ?? [failed]) {
        record(scenario, kind.key, { ...metrics, otherLoad });
        console.log(`${where}  ${scenario.padEnd(14)} ${kind.label.padEnd(25)} ${describe(metrics)}`);
      }
    }
    return;
  }
  for (const [position, kind] of kinds.entries()) {
    const runs = {
      echo: (deadline) => echo(kind, tag, deadline),
      parallel: (deadline) => parallelEcho(kind, tag, deadline),
      calls: (deadline) => calls(kind, tag, deadline),
      "parallel-calls": (deadline) => parallelCalls(kind, tag, deadline),
      acks: (deadline) => acks(kind, tag, deadline),
      connect: (deadline) => connect(kind, tag, deadline),
      http: (deadline) => http(kind, tag, deadline),
      broadcast: (deadline) => fanOut(kind, false, tag, deadline),
      persisted: (deadline) => fanOut(kind, true, tag, deadline),
    };
    const metrics = await bounded(`${scenario} ${kind.key}`, runs[scenario]);
    // Where it ran in its pass, so order effects can be looked for in results.json.
    record(recordAs, kind.key, { ...metrics, position });
    console.log(`${where}  ${recordAs.padEnd(14)} ${kind.label.padEnd(25)} ${describe(metrics)}`);
  }
}

// ── main ──────────────────────────────────────────────────────────────────────

/** Every scenario that fell short, as "scenario target: why" (a smoke run exits 1 if there is one). */
function failures() {
  const failed = [];
  for (const [scenario, byKind] of Object.entries(samples)) {
    for (const [kind, runs] of Object.entries(byKind)) {
      for (const r of runs) {
        if (!r.complete) failed.push(`${scenario} ${kind}: ${r.error ?? `${r.done}/${r.expected}${r.outcome ? ` (${r.outcome})` : ""}`}`);
      }
    }
  }
  return failed;
}
/**
 * Errors the rooms logged: genparty logs a handler's throw and goes on, and partyserver catches and
 * logs too, so a broken room can still answer every check. None of the bench's rooms should throw.
 */
function loggedErrors() {
  const lines = readFileSync(live.server.logFile, "utf8").split("\n");
  // Not the rooms': a client's socket cut mid-connection (every target's, raw's too) and wrangler, offline, looking for updates.
  const benign = /Network connection lost|getaddrinfo (ENOTFOUND|EAI_AGAIN)/;
  const errors = lines.filter((line) => /\b(Uncaught|Error|threw|exception)\b/.test(line) && !benign.test(line));
  return errors.length === 0 ? [] : [`wrangler's log has ${errors.length} error line(s), the first: ${errors[0].trim().slice(0, 300)}`];
}

const checkCount = () => Object.values(samples).reduce((sum, byKind) => sum + Object.values(byKind).flat().length, 0);
const elapsed = () => `${((performance.now() - wallStart) / 1000).toFixed(1)} s`;
const wallStart = performance.now();

const watchdog = setTimeout(async () => {
  console.error(`The whole run exceeded ${CONFIG.runTimeoutMs / 1000} s; stopping.`);
  terminateLiveSockets();
  try {
    if (SMOKE) console.log(`bench smoke: FAILED — the run exceeded ${CONFIG.runTimeoutMs / 1000} s after ${checkCount()} checks (${failures().length} failed)`);
    else report("aborted (run timeout)");
  } finally {
    await live.server?.stop();
    process.exit(2);
  }
}, CONFIG.runTimeoutMs);

let exitCode = 0;
try {
  console.log(`genparty bench${MODE === "full" ? "" : ` (${MODE})`}: ${KINDS.map((k) => k.key).join(", ")} × ${SCENARIOS.join(", ")}, ${CONFIG.rounds} round(s)`);
  if (!SMOKE) {
    const busy0 = machineBusySeconds();
    await sleep(1_000);
    const busyBefore = machineBusySeconds() - busy0;
    if (busyBefore > 0.3) console.warn(`Other live.processes keep ${busyBefore.toFixed(2)} cores busy before the run: the figures will be skewed (see "other load" per scenario).`);
  }
  try {
    live.server = await startWrangler(startOptions);
  } catch (error) {
    // A free port can be taken between finding it and wrangler binding it: try once more, on new ports.
    console.warn(`wrangler dev did not start (${error.message}); trying once more`);
    live.server = await startWrangler(startOptions);
  }
  live.processes = serverProcesses(live.server.pgid);
  initialPids = pidsOf(live.processes);
  console.log(`wrangler dev ready on ${live.server.base} in ${live.server.startupMs} ms (workerd: ${live.processes.map((p) => `${p.role} ${p.pid}`).join(", ")})`);
  if (!live.processes.some((p) => p.role === "user")) console.warn("Could not find the workerd running the objects: CPU figures will be 0.");
  await runAll();
  if (SMOKE) {
    const failed = [...failures(), ...loggedErrors()];
    exitCode = failed.length > 0 ? 1 : 0;
    const what = `${SCENARIOS.filter((x) => x !== "rpc").join(", ")} on ${KINDS.length} targets${SCENARIOS.includes("rpc") ? `, ${RPC_OPS.length * RPC_TARGETS.length} RPC loops` : ""}`;
    console.log(
      failed.length === 0
        ? `bench smoke: OK — ${checkCount()} checks passed (${what}) in ${elapsed()}`
        : `bench smoke: FAILED — ${failed.length} of ${checkCount()} checks in ${elapsed()}: ${failed.join("; ")}`,
    );
  } else {
    const md = report("complete");
    console.log(`\n${md}`);
    console.log(`Written to bench/${base}.md and .json`);
    // The whole bench at full size and V8's defaults: its table is README's "Latest results".
    if (base === "results" && ALL_TARGETS) {
      refreshReadme(md);
      console.log("bench/README.md: Latest results refreshed");
    }
  }
} catch (error) {
  console.error(error);
  if (SMOKE) console.log(`bench smoke: FAILED — ${error?.message ?? error} (after ${elapsed()})`);
  exitCode = 1;
} finally {
  clearTimeout(watchdog);
  terminateLiveSockets();
  await live.server?.stop();
  if (SMOKE && live.server) {
    if (exitCode === 0) for (const dir of Object.values(live.server.dirs)) rmSync(dir, { recursive: true, force: true });
    else console.log(`wrangler's log: ${live.server.logFile}`);
  }
}
process.exit(exitCode);
