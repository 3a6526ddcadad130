// What a bench run measures: mode, sizes, targets and scenarios, from the command line and BENCH_* variables.
// See bench/run.mjs for the list.
import { orderOffset } from "./order.mjs";
import { benchV8Flags } from "./v8-flags.mjs";

const argv = process.argv.slice(2);
export const SMOKE = process.env.BENCH_SMOKE === "1" || argv.includes("--smoke");
export const QUICK = !SMOKE && (process.env.BENCH_QUICK === "1" || argv.includes("--quick"));
export const MODE = SMOKE ? "smoke" : QUICK ? "quick" : "full";

function setting(name, full, quick, smoke = quick, least = 1) {
  const raw = process.env[`BENCH_${name}`];
  if (raw === undefined || raw === "") return SMOKE ? smoke : QUICK ? quick : full;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < least) throw new RangeError(`BENCH_${name} must be an integer of at least ${least}, got "${raw}".`);
  return value;
}

function idleSetting(full, quick, smoke) {
  const raw = process.env.BENCH_WAKE_IDLE_S;
  if (raw === undefined || raw === "") return SMOKE ? smoke : QUICK ? quick : full;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`BENCH_WAKE_IDLE_S must be a number ≥ 0, got "${raw}".`);
  return value;
}

export const CONFIG = {
  clients: setting("CLIENTS", 50, 10, 3),
  messages: setting("MSGS", 200, 50, 5),
  echo: setting("ECHO", 2000, 100, 5),
  parallelClients: setting("PARALLEL_CLIENTS", 20, 10, 2),
  parallelMsgs: setting("PARALLEL_MSGS", 200, 50, 5),
  calls: setting("CALLS", 2000, 100, 5),
  acks: setting("ACKS", 1000, 200, 10),
  connect: setting("CONNECT", 200, 50, 6),
  connectConcurrency: setting("CONNECT_CONCURRENCY", 20, 10, 3),
  rpcCalls: setting("RPC_CALLS", 5000, 200, 20),
  rpcConcurrency: setting("RPC_CONCURRENCY", 100, 20, 5),
  http: setting("HTTP", 2000, 200, 10),
  httpConcurrency: setting("HTTP_CONCURRENCY", 20, 10, 5),
  rounds: setting("ROUNDS", 3, 1, 1),
  shortPasses: setting("SHORT_PASSES", 3, 1, 1),
  // A lone client's echo and socket calls: the rows that move most between runs, and ~10 s a pass.
  lonePasses: setting("LONE_PASSES", 6, 1, 1),
  // Fan-out and persisted fan-out: ~7–10 s a sample, so once a round until 2026-11-29. But their
  // passes move together by up to ±25% (at 12:28Z that day all four persisted rooms ran fastest in
  // round 2), so on three samples a run their ratios to raw spread 0.81–1.19×, and 73 of the 90
  // rows missed in the nineteen single runs of bundle 1c89a2729a32 before were fan-out rows.
  fanoutPasses: setting("FANOUT_PASSES", 2, 1, 1),
  // Unmeasured passes of the lone client's echo and calls before the first round, each target in
  // turn: V8 gives a function its optimizing compile (Turbofan) only after ~15,000–20,000 calls of
  // it, so a round before that measures V8 compiling each room's code, the most for the room with
  // the most code (bench/readings.md, "A lone client before and after V8's optimizing compiles").
  // Their figures are kept as `echo-cold` and `calls-cold`. Kept with each run's results for across.mjs.
  // A smoke run makes one, so that the path can't rot.
  loneWarmUpPasses: setting("LONE_WARMUP_PASSES", 12, 0, 1, 0),
  wakeSockets: setting("WAKE_SOCKETS", 1000, 100, 5),
  // Silences and wakes per room and round: each wake is a sample for the price of 13 s, not of a new room.
  wakesPerRound: setting("WAKES_PER_ROUND", 3, 2, 1),
  memorySockets: setting("MEMORY_SOCKETS", 1000, 100, 5),
  // Seconds of silence before the wake message: workerd evicts an idle object after ~10 s. A smoke
  // run (which leaves wake out unless asked for) doesn't wait, so it only checks the echo to sender.
  wakeIdleMs: idleSetting(13, 13, 0) * 1000,
  scenarioTimeoutMs: setting("SCENARIO_TIMEOUT_S", 60, 30, 10) * 1000,
  // What a persisted room writes per message (bench/worker.ts), kept with each run's results so that
  // across.mjs compares persisted rows only between runs whose rooms wrote the same. Before this
  // field the raw, partyserver and Server rooms appended the message ("append", two pages a commit).
  persistedWrite: "count",
  // Which ids a socket-call pass measures, kept for across.mjs likewise. "fresh": ids the warm-up
  // didn't use, each answer checked to be the room's next ping. Before this field the measured
  // calls reused the warm-up's ids 0–19, and the Actor answered those from its remembered answers.
  callIds: "fresh",
  // The row of each scenario's balanced Latin square the run starts at (bench/order.mjs):
  // BENCH_ORDER_OFFSET, else drawn for the run. Kept with the results: runs before it all started at 0.
  orderOffset: orderOffset(process.env.BENCH_ORDER_OFFSET),
  // V8 flags for both workerd processes of `wrangler dev` (BENCH_V8_FLAGS, bench/v8-flags.mjs), kept
  // for across.mjs: it compares a run only with runs given the same flags. Empty: workerd as is.
  v8Flags: benchV8Flags(),
};
// A full run took 40–42 minutes with one fan-out pass a round and 47 with two (2026-11-29), ~15 a
// round plus the warm-up; the bound allows 20 a round, so more rounds (BENCH_ROUNDS) get the time
// they need and a round that hangs still ends the run.
CONFIG.runTimeoutMs = setting("RUN_TIMEOUT_S", 20 * 60 * CONFIG.rounds, 300, 100) * 1000;
/** A fan-out that receives nothing for this long has lost messages: it ends early as incomplete. */
export const STALL_MS = SMOKE ? 3_000 : 5_000;
/** Time for the room to handle the closes of one scenario before the next one's CPU is counted. */
export const SETTLE_MS = SMOKE ? 20 : 300;
export const ECHO_WARMUP = SMOKE ? 2 : 20;
export const CONNECT_WARMUP = SMOKE ? 2 : 100;

/**
 * The MachineServer room speaks its own protocol: a client sends `{"type":"say","text":"…"}` and
 * every connection gets a push `{"gp":1,"t":"push","msg":{"type":"state","state":{…"context":{"last":"…","n":…}…}}}`.
 * `extract` finds the text in a push without parsing the JSON (the client is the bottleneck of a
 * fan-out) and skips frames that carry no message (the state pushed on connect, `last` empty).
 */
const LAST_KEY = Buffer.from('"last":"');
const QUOTE = 0x22;
const machineProtocol = {
  encode: (text) => `{"type":"say","text":"${text}"}`,
  extract(data) {
    const at = data.indexOf(LAST_KEY);
    if (at < 0) return null;
    const start = at + LAST_KEY.length;
    if (data[start] === QUOTE) return null;
    return data.subarray(start, data.indexOf(QUOTE, start));
  },
};

// group "hibernating": the first table (each has a persisted twin); "memory": the second.
const ALL_KINDS = [
  { key: "raw", group: "hibernating", label: "raw DO", persisted: true, path: (persisted, room) => `/raw/${persisted ? "BENCH_RAW_PERSISTED" : "BENCH_RAW"}/${room}` },
  { key: "partyserver", group: "hibernating", label: "partyserver", persisted: true, path: (persisted, room) => `/ps/bench-party${persisted ? "-persisted" : ""}/${room}` },
  { key: "gp-server", group: "hibernating", label: "genparty Server", persisted: true, path: (persisted, room) => `/gp/bench-gp-server${persisted ? "-persisted" : ""}/${room}` },
  { key: "gp-actor", group: "hibernating", label: "genparty Actor", persisted: true, path: (persisted, room) => `/gp/bench-gp-actor${persisted ? "-persisted" : ""}/${room}` },
  { key: "raw-mem", group: "memory", label: "raw DO in-memory", path: (_, room) => `/raw/BENCH_RAW_MEM/${room}` },
  { key: "partyserver-mem", group: "memory", label: "partyserver in-memory", path: (_, room) => `/ps/bench-party-mem/${room}` },
  { key: "gp-server-mem", group: "memory", label: "genparty Server in-memory", path: (_, room) => `/gp/bench-gp-server-mem/${room}` },
  { key: "gp-machine", group: "memory", label: "genparty MachineServer", path: (_, room) => `/gp/bench-gp-machine/${room}`, ...machineProtocol },
];
const chosenKinds = process.env.BENCH_KINDS?.split(",").filter(Boolean);
// A misspelt name would silently leave its target out (and a smoke run would pass without it).
const unknownKinds = chosenKinds?.filter((key) => !ALL_KINDS.some((kind) => kind.key === key)) ?? [];
if (unknownKinds.length > 0) throw new Error(`BENCH_KINDS names no target ${unknownKinds.join(", ")}; the targets are ${ALL_KINDS.map((kind) => kind.key).join(", ")}.`);
export const KINDS = ALL_KINDS.filter((kind) => !chosenKinds || chosenKinds.includes(kind.key));
/** Every target measured: only such a run stands for the whole bench. */
export const ALL_TARGETS = KINDS.length === ALL_KINDS.length;

export const RPC_TARGETS = [
  { key: "raw", label: "raw DO RPC" },
  { key: "gp", label: "genparty call" },
];
export const RPC_OPS = [
  { key: "ping-seq", op: "ping", concurrency: 1, label: "ping, sequential" },
  { key: "ping-conc", op: "ping", concurrency: CONFIG.rpcConcurrency, label: `ping, ${CONFIG.rpcConcurrency} in flight` },
  { key: "incr-seq", op: "incr", concurrency: 1, label: "write (incr), sequential" },
  { key: "incr-conc", op: "incr", concurrency: CONFIG.rpcConcurrency, label: `write (incr), ${CONFIG.rpcConcurrency} in flight` },
  { key: "fresh-seq", op: "ping-fresh", concurrency: 1, label: "ping, new stub/ref per call" },
  { key: "cast-seq", op: "cast", concurrency: 1, label: "cast (no reply), sequential" },
];

// `--only a,b` (or `--only=a,b`) and BENCH_SCENARIOS pick scenarios. Without either, every scenario
// runs, except that a smoke run leaves out wake (it idles 13 s per target).
const onlyArg = (() => {
  const i = argv.findIndex((a) => a === "--only" || a.startsWith("--only="));
  if (i < 0) return undefined;
  return argv[i].startsWith("--only=") ? argv[i].slice(7) : argv[i + 1];
})();
const ALL_SCENARIOS = ["echo", "parallel", "calls", "parallel-calls", "broadcast", "persisted", "acks", "connect", "http", "rpc", "wake", "memory"];
export const chosenScenarios = onlyArg ?? process.env.BENCH_SCENARIOS;
if (chosenScenarios) {
  const unknown = chosenScenarios.split(",").filter((name) => !ALL_SCENARIOS.includes(name));
  if (unknown.length) throw new RangeError(`unknown scenario(s) ${unknown.join(", ")}; known: ${ALL_SCENARIOS.join(", ")}`);
}
export const SCENARIOS = ALL_SCENARIOS.filter((name) => (chosenScenarios ? chosenScenarios.split(",").includes(name) : !(SMOKE && name === "wake")));
/** Scenarios short and noisy enough to run several passes a round (BENCH_SHORT_PASSES): 9 samples a target give each ratio an interval. */
export const SHORT_SCENARIOS = new Set(["echo", "parallel", "calls", "parallel-calls", "acks", "connect", "http", "rpc"]);
/** Of those, the one-client ones: more passes still (BENCH_LONE_PASSES). */
export const LONE_SCENARIOS = new Set(["echo", "calls"]);
/** The fan-outs: ~10 s a sample, but a pass moves by up to ±25%, so more than one a round (BENCH_FANOUT_PASSES). */
const FANOUT_SCENARIOS = new Set(["broadcast", "persisted"]);
/** Passes a round of `scenario`. */
export function passesOf(scenario) {
  if (LONE_SCENARIOS.has(scenario)) return CONFIG.lonePasses;
  if (FANOUT_SCENARIOS.has(scenario)) return CONFIG.fanoutPasses;
  return SHORT_SCENARIOS.has(scenario) ? CONFIG.shortPasses : 1;
}
/** The targets wake and the socket calls run on: the hibernating rooms (the in-memory ones never hibernate). */
export const WAKE_KINDS = new Set(["raw", "partyserver", "gp-server", "gp-actor"]);

export const runId = Date.now().toString(36);
