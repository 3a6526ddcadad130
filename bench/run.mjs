#!/usr/bin/env node
// Benchmarks the same room as a raw Durable Object, on partyserver, on genparty's Server and as a
// genparty Actor (hibernating), the in-memory variants of the first three, and a genparty
// MachineServer room, in one `wrangler dev` run with interleaved rounds. See bench/README.md.
//
//   node bench/run.mjs            full size, 3 rounds, writes bench/results.md and results.json
//   node bench/run.mjs --quick    small sizes, 1 round (or BENCH_QUICK=1), writes bench/results-quick.*
//   node bench/run.mjs --smoke    a few messages per target and scenario (or BENCH_SMOKE=1): checks that
//                                 every target answers what it should, exits 1 if one doesn't; writes nothing
//   --only wake[,echo…]           run only these scenarios (the same as BENCH_SCENARIOS)
//
// Sizes: BENCH_CLIENTS, BENCH_MSGS, BENCH_ECHO, BENCH_CALLS, BENCH_ACKS, BENCH_CONNECT, BENCH_CONNECT_CONCURRENCY,
// BENCH_RPC_CALLS, BENCH_RPC_CONCURRENCY, BENCH_HTTP, BENCH_HTTP_CONCURRENCY, BENCH_ROUNDS,
// BENCH_SCENARIO_TIMEOUT_S, BENCH_RUN_TIMEOUT_S, BENCH_WAKE_SOCKETS, BENCH_WAKE_IDLE_S, BENCH_MEMORY_SOCKETS,
// BENCH_SHORT_PASSES (passes of echo, calls, acks and rpc per round).
// Subsets: BENCH_KINDS=raw,gp-actor  BENCH_SCENARIOS=echo,calls,broadcast,persisted,acks,connect,http,rpc,wake,memory
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import {
  closeSockets,
  groupCpuSeconds,
  machineBusySeconds,
  openSocket,
  openSockets,
  percentile,
  preciseCpuSeconds,
  ROOT,
  rssKiB,
  serverProcesses,
  sleep,
  startWrangler,
  terminateLiveSockets,
  versionOf,
} from "./harness.mjs";
import { measureMemory } from "./memory.mjs";

const argv = process.argv.slice(2);
const SMOKE = process.env.BENCH_SMOKE === "1" || argv.includes("--smoke");
const QUICK = !SMOKE && (process.env.BENCH_QUICK === "1" || argv.includes("--quick"));
const MODE = SMOKE ? "smoke" : QUICK ? "quick" : "full";

function setting(name, full, quick, smoke = quick) {
  const raw = process.env[`BENCH_${name}`];
  if (raw === undefined || raw === "") return SMOKE ? smoke : QUICK ? quick : full;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`BENCH_${name} must be a positive integer, got "${raw}".`);
  return value;
}

function idleSetting(full, quick, smoke) {
  const raw = process.env.BENCH_WAKE_IDLE_S;
  if (raw === undefined || raw === "") return SMOKE ? smoke : QUICK ? quick : full;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`BENCH_WAKE_IDLE_S must be a number ≥ 0, got "${raw}".`);
  return value;
}

const CONFIG = {
  clients: setting("CLIENTS", 50, 10, 3),
  messages: setting("MSGS", 200, 50, 5),
  echo: setting("ECHO", 2000, 100, 5),
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
  wakeSockets: setting("WAKE_SOCKETS", 1000, 100, 5),
  memorySockets: setting("MEMORY_SOCKETS", 1000, 100, 5),
  // Seconds of silence before the wake message: workerd evicts an idle object after ~10 s. A smoke
  // run (which leaves wake out unless asked for) doesn't wait, so it only checks the echo to sender.
  wakeIdleMs: idleSetting(13, 13, 0) * 1000,
  scenarioTimeoutMs: setting("SCENARIO_TIMEOUT_S", 60, 30, 10) * 1000,
  runTimeoutMs: setting("RUN_TIMEOUT_S", 1500, 300, 100) * 1000,
};
/** A fan-out that receives nothing for this long has lost messages: it ends early as incomplete. */
const STALL_MS = SMOKE ? 3_000 : 5_000;
/** Time for the room to handle the closes of one scenario before the next one's CPU is counted. */
const SETTLE_MS = SMOKE ? 20 : 300;
const ECHO_WARMUP = SMOKE ? 2 : 20;

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
const KINDS = ALL_KINDS.filter((kind) => !process.env.BENCH_KINDS || process.env.BENCH_KINDS.split(",").includes(kind.key));

const RPC_TARGETS = [
  { key: "raw", label: "raw DO RPC" },
  { key: "gp", label: "genparty call" },
];
const RPC_OPS = [
  { key: "ping-seq", op: "ping", concurrency: 1, label: "ping, sequential" },
  { key: "ping-conc", op: "ping", concurrency: CONFIG.rpcConcurrency, label: `ping, ${CONFIG.rpcConcurrency} in flight` },
  { key: "incr-seq", op: "incr", concurrency: 1, label: "write (incr), sequential" },
  { key: "incr-conc", op: "incr", concurrency: CONFIG.rpcConcurrency, label: `write (incr), ${CONFIG.rpcConcurrency} in flight` },
  { key: "fresh-seq", op: "ping-fresh", concurrency: 1, label: "ping, new stub/ref per call" },
];

// `--only a,b` (or `--only=a,b`) and BENCH_SCENARIOS pick scenarios. Without either, every scenario
// runs, except that a smoke run leaves out wake (it idles 13 s per target).
const onlyArg = (() => {
  const i = argv.findIndex((a) => a === "--only" || a.startsWith("--only="));
  if (i < 0) return undefined;
  return argv[i].startsWith("--only=") ? argv[i].slice(7) : argv[i + 1];
})();
const ALL_SCENARIOS = ["echo", "calls", "broadcast", "persisted", "acks", "connect", "http", "rpc", "wake", "memory"];
const chosenScenarios = onlyArg ?? process.env.BENCH_SCENARIOS;
if (chosenScenarios) {
  const unknown = chosenScenarios.split(",").filter((name) => !ALL_SCENARIOS.includes(name));
  if (unknown.length) throw new RangeError(`unknown scenario(s) ${unknown.join(", ")}; known: ${ALL_SCENARIOS.join(", ")}`);
}
const SCENARIOS = ALL_SCENARIOS.filter((name) => (chosenScenarios ? chosenScenarios.split(",").includes(name) : !(SMOKE && name === "wake")));
/** Scenarios short and noisy enough to run several passes a round (BENCH_SHORT_PASSES). */
const SHORT_SCENARIOS = new Set(["echo", "calls", "acks", "rpc"]);
/** The targets wake and calls run on: the hibernating rooms (the in-memory ones never hibernate). */
const WAKE_KINDS = new Set(["raw", "partyserver", "gp-server", "gp-actor"]);

const runId = Date.now().toString(36);
/** samples[scenario][kind] = one metrics object per round. */
const samples = {};
const record = (scenario, kind, metrics) => ((samples[scenario] ??= {})[kind] ??= []).push(metrics);

let server;
let processes = [];
const startedAt = new Date();
const loadAtStart = os.loadavg();

// ── scenarios ─────────────────────────────────────────────────────────────────

function serverCpu(before, after, count, unit) {
  const user = after.user - before.user;
  const all = user + after.proxy - before.proxy;
  return { [`cpuUser${unit}`]: (user * 1e6) / count, [`cpuAll${unit}`]: (all * 1e6) / count };
}

/** One client, messages one after another: the room's echo latency with nothing else going on. */
function echo(kind, tag, deadline) {
  const encode = kind.encode ?? ((text) => text);
  return sequentialRoundTrips(kind, `echo-${kind.key}-${runId}-${tag}`, deadline, CONFIG.echo, {
    frame: (i) => encode(`000${i}`),
    extract: kind.extract,
    // Smoke runs check what came back; measuring runs don't spend client time on it.
    check: SMOKE ? (data, i) => data.toString("latin1") === `000${i}` : undefined,
  });
}

/**
 * One client, calls one after another over the socket: genparty's protocol (`{"gp":1,"t":"call",…}`
 * → handleCall → `{"gp":1,"t":"reply",…}`) on the Actor, the same call parsed and answered by hand
 * in the other rooms' message handlers.
 */
function calls(kind, tag, deadline) {
  const head = kind.key === "gp-actor" ? '{"gp":1,"t":"call","id":"' : '{"t":"call","id":"';
  return sequentialRoundTrips(kind, `calls-${kind.key}-${runId}-${tag}`, deadline, CONFIG.calls, {
    frame: (i) => `${head}${i}","msg":{"type":"ping"}}`,
    check: (data, i) => data.includes(`"id":"${i}","ok":1`),
  });
}

/** Sends `frame(i)` and waits for the answer, `count` times after a warm-up: round trips/s, p50/p99, CPU per round trip. */
async function sequentialRoundTrips(kind, room, deadline, count, { frame, extract, check }) {
  const { socket } = await openSocket(server.wsBase + kind.path(false, room), deadline - Date.now());
  let next;
  let current = 0;
  let wrong = 0;
  socket.on("message", (data) => {
    if (extract && !(data = extract(data))) return;
    if (check && !check(data, current)) wrong++;
    next?.resolve();
  });
  socket.on("close", () => next?.reject(new Error("the socket closed")));
  const stallTimer = setInterval(() => Date.now() > deadline && next?.reject(new Error("scenario timed out")), 250);
  const roundTrip = (i) => {
    current = i;
    const answered = new Promise((resolve, reject) => (next = { resolve, reject }));
    socket.send(frame(i));
    return answered;
  };
  try {
    for (let i = 0; i < ECHO_WARMUP; i++) await roundTrip(i);
    const latencies = [];
    const cpu0 = preciseCpuSeconds(processes);
    const t0 = performance.now();
    for (let i = 0; i < count && Date.now() < deadline; i++) {
      const sent = performance.now();
      await roundTrip(i);
      latencies.push(performance.now() - sent);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = preciseCpuSeconds(processes);
    latencies.sort((a, b) => a - b);
    return {
      complete: latencies.length === count && wrong === 0,
      ...(wrong > 0 ? { outcome: `${wrong} answers were not the one expected` } : {}),
      done: latencies.length,
      expected: count,
      perSec: latencies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      ...serverCpu(cpu0, cpu1, latencies.length, "UsPerMsg"),
    };
  } finally {
    clearInterval(stallTimer);
    await closeSockets([socket]);
  }
}

/**
 * Persisted acks: one client alone in a `…Persisted` room sends N frames without waiting; each is
 * written (a SQL INSERT, or the Actor's state commit) and comes back to it, its ack. Acks/s from the
 * first send to the last ack, and server CPU per ack.
 */
async function acks(kind, tag, deadline) {
  const { socket } = await openSocket(server.wsBase + kind.path(true, `acks-${kind.key}-${runId}-${tag}`), deadline - Date.now());
  const count = CONFIG.acks;
  let received = 0;
  let outOfOrder = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  socket.on("message", (data) => {
    if (SMOKE && data.toString("latin1") !== `k${received}`) outOfOrder++;
    if (++received >= count) finish("done");
  });
  socket.on("close", () => finish("closed"));
  let lastCount = 0;
  let lastChange = Date.now();
  const watchdog = setInterval(() => {
    if (received !== lastCount) [lastCount, lastChange] = [received, Date.now()];
    if (Date.now() - lastChange > STALL_MS) finish("stalled");
    else if (Date.now() > deadline) finish("timeout");
  }, 250);
  try {
    const cpu0 = preciseCpuSeconds(processes);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) socket.send(`k${i}`);
    const outcome = await finished;
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = preciseCpuSeconds(processes);
    return {
      complete: outcome === "done" && outOfOrder === 0,
      outcome: outOfOrder === 0 ? outcome : `${outcome}, ${outOfOrder} acks out of order`,
      done: received,
      expected: count,
      perSec: received / seconds,
      ...serverCpu(cpu0, cpu1, received, "UsPerAck"),
    };
  } finally {
    clearInterval(watchdog);
    await closeSockets([socket]);
  }
}

/** N clients in one room each send M messages as fast as they can; every message goes to all N. */
async function fanOut(kind, persisted, tag, deadline) {
  const room = `${persisted ? "persisted" : "broadcast"}-${kind.key}-${runId}-${tag}`;
  const { sockets } = await openSockets(server.wsBase + kind.path(persisted, room), CONFIG.clients, 20, deadline);
  const n = sockets.length;
  const m = CONFIG.messages;
  const expected = n * n * m;
  let delivered = 0;
  let lastDelivery = performance.now();
  const latencies = [];
  const sentAt = sockets.map(() => new Float64Array(m));
  const tags = sockets.map((_, i) => String(i).padStart(3, "0"));
  const encode = kind.encode ?? ((text) => text);
  const extract = kind.extract;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  sockets.forEach((socket, i) => {
    const [a, b, c] = [...tags[i]].map((ch) => ch.charCodeAt(0));
    const mine = sentAt[i];
    socket.on("message", (data) => {
      if (extract && !(data = extract(data))) return;
      delivered++;
      lastDelivery = performance.now();
      // Its own message back: the sender's echo latency (under the full load of the room).
      if (data[0] === a && data[1] === b && data[2] === c) latencies.push(lastDelivery - mine[Number(data.toString("latin1", 3))]);
      if (delivered >= expected) finish("done");
    });
  });
  const watchdog = setInterval(() => {
    if (performance.now() - lastDelivery > STALL_MS) finish("stalled");
    else if (Date.now() > deadline) finish("timeout");
  }, 250);
  const cpu0 = preciseCpuSeconds(processes);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  for (let seq = 0; seq < m; seq++) {
    for (let i = 0; i < n; i++) {
      sentAt[i][seq] = performance.now();
      sockets[i].send(encode(tags[i] + seq));
    }
  }
  const outcome = await finished;
  const cpu1 = preciseCpuSeconds(processes);
  const client = process.cpuUsage(client0);
  clearInterval(watchdog);
  const seconds = (lastDelivery - t0) / 1000;
  latencies.sort((x, y) => x - y);
  await closeSockets(sockets);
  // Every sender must also have seen each of its own messages come back.
  const ownMissing = n * m - latencies.length;
  return {
    complete: outcome === "done" && ownMissing === 0,
    outcome: ownMissing === 0 ? outcome : `${outcome}, ${ownMissing} own messages not seen`,
    done: delivered,
    expected,
    perSec: delivered / seconds,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...serverCpu(cpu0, cpu1, delivered / 1000, "UsPer1k"),
    clientCpuS: (client.user + client.system) / 1e6,
  };
}

/** K sockets, C handshakes at a time, into a room that is already running (one warm socket stays open). */
async function connect(kind, tag, deadline) {
  const url = server.wsBase + kind.path(false, `connect-${kind.key}-${runId}-${tag}`);
  const warm = await openSocket(url, deadline - Date.now());
  await sleep(50);
  const user = processes.find((p) => p.role === "user");
  const rss0 = user ? rssKiB(user.pid) : NaN;
  const cpu0 = preciseCpuSeconds(processes);
  const t0 = performance.now();
  let opened;
  try {
    opened = await openSockets(url, CONFIG.connect, CONFIG.connectConcurrency, deadline);
  } finally {
    if (!opened) await closeSockets([warm.socket]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = preciseCpuSeconds(processes);
  const rss1 = user ? rssKiB(user.pid) : NaN;
  const latencies = opened.latencies.sort((a, b) => a - b);
  await closeSockets([warm.socket, ...opened.sockets]);
  return {
    complete: latencies.length === CONFIG.connect,
    done: latencies.length,
    expected: CONFIG.connect,
    perSec: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...serverCpu(cpu0, cpu1, latencies.length, "UsPerConn"),
    // In results.json only: with a few hundred sockets the growth (~2 KiB each) is within GC noise, even negative at times.
    rssKiBPerConn: (rss1 - rss0) / latencies.length,
  };
}

/**
 * Wake cost. N sockets into one room (C handshakes at a time), the user workerd's RSS before and
 * with them open, then silence (no frames either way, client sockets left open) for longer than
 * workerd keeps an idle object, so it is evicted with every socket hibernated. Then ONE client
 * sends a sender-only frame ("!…"): the first reply's latency, and the workerd CPU (to the
 * nanosecond, from schedstat) from the send to the reply and to 250 ms after it. The reply carries
 * the age of the object's instance: older than the silence means it never hibernated (incomplete).
 * A second sender-only frame right after gives the same room's warm round trip for comparison.
 */
async function wake(kind, tag, deadline) {
  const url = server.wsBase + kind.path(false, `wake-${kind.key}-${runId}-${tag}`);
  const user = processes.find((p) => p.role === "user");
  // The object starts on the first socket; measure RSS from there, so the per-connection figure is the sockets'.
  const first = await openSocket(url, deadline - Date.now());
  await sleep(100);
  const rss0 = user ? rssKiB(user.pid) : NaN;
  const open0 = performance.now();
  let opened;
  try {
    opened = await openSockets(url, CONFIG.wakeSockets - 1, CONFIG.connectConcurrency, deadline);
  } finally {
    if (!opened) await closeSockets([first.socket]);
  }
  const sockets = [first.socket, ...opened.sockets];
  const openSeconds = (performance.now() - open0) / 1000;
  if (!SMOKE) console.log(`  wake ${kind.key}: ${sockets.length} sockets open in ${openSeconds.toFixed(1)} s; idling ${CONFIG.wakeIdleMs / 1000} s`);
  try {
    await sleep(200);
    const rssOpen = user ? rssKiB(user.pid) : NaN;
    let unexpected = 0;
    for (const socket of sockets) socket.on("message", () => unexpected++);
    const idleStart = Date.now();
    await sleep(Math.min(CONFIG.wakeIdleMs, Math.max(0, deadline - Date.now() - 5_000)));
    const idleMs = Date.now() - idleStart;
    const rssIdle = user ? rssKiB(user.pid) : NaN;
    const unexpectedBefore = unexpected;
    // The waker: the middle socket, so neither the first nor the last accepted.
    const waker = sockets[sockets.length >> 1];
    const ask = (text) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${text} within 10 s`)), Math.min(10_000, Math.max(1, deadline - Date.now())));
        waker.once("message", (data) => {
          clearTimeout(timer);
          resolve(data.toString("latin1"));
        });
        waker.send(text);
      });
    const cpu0 = preciseCpuSeconds(processes);
    const t0 = performance.now();
    const reply = await ask("!wake");
    const ms = performance.now() - t0;
    const cpuReply = preciseCpuSeconds(processes);
    await sleep(250);
    const cpuSettled = preciseCpuSeconds(processes);
    const rssWoken = user ? rssKiB(user.pid) : NaN;
    const t1 = performance.now();
    const reply2 = await ask("!warm");
    const warmMs = performance.now() - t1;
    // Each reply is also counted by the waker's own "message" listener above.
    const others = unexpected - unexpectedBefore - 2;
    const good = reply.startsWith("!wake@") && reply2.startsWith("!warm@");
    const age = Number(reply.slice(reply.indexOf("@") + 1));
    const hibernated = CONFIG.wakeIdleMs === 0 || age < idleMs;
    const problems = [];
    if (!good) problems.push(`unexpected replies ${JSON.stringify(reply)} / ${JSON.stringify(reply2)}`);
    if (!hibernated) problems.push(`the object did not hibernate (its instance was ${age} ms old after ${idleMs} ms of silence)`);
    if (unexpectedBefore > 0 || others > 0) problems.push(`${unexpectedBefore + others} frames reached sockets that should have got none`);
    const n = sockets.length;
    return {
      complete: problems.length === 0 && n === CONFIG.wakeSockets,
      ...(problems.length ? { outcome: problems.join("; ") } : {}),
      done: n,
      expected: CONFIG.wakeSockets,
      sockets: n,
      openSeconds,
      idleMs,
      instanceAgeMs: age,
      wakeMs: ms,
      warmMs,
      cpuUserWakeMs: (cpuReply.user - cpu0.user) * 1e3,
      cpuAllWakeMs: (cpuReply.user + cpuReply.proxy - cpu0.user - cpu0.proxy) * 1e3,
      cpuUserWakeSettledMs: (cpuSettled.user - cpu0.user) * 1e3,
      rssKiBBefore: rss0,
      rssKiBOpen: rssOpen,
      rssKiBIdle: rssIdle,
      rssKiBWoken: rssWoken,
      rssMiBPer1kConns: ((rssOpen - rss0) / (n - 1)) * 1000 / 1024,
    };
  } finally {
    await closeSockets(sockets);
  }
}

/** N plain GETs to the room (C in flight), each answered by its onRequest / handleRequest / fetch with 200 "ok". */
async function http(kind, tag, deadline) {
  const url = server.base + kind.path(false, `http-${kind.key}-${runId}-${tag}`);
  let bad = 0;
  let firstBad;
  const get = async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    const body = await response.text();
    if (response.status === 200 && body === "ok") return true;
    bad++;
    firstBad ??= `${response.status} ${body.slice(0, 120)}`;
    return false;
  };
  await get(); // the object starts before the clock runs
  const latencies = [];
  let good = 0;
  let issued = 0;
  const cpu0 = preciseCpuSeconds(processes);
  const t0 = performance.now();
  const lane = async () => {
    while (issued < CONFIG.http && Date.now() < deadline) {
      issued++;
      const sent = performance.now();
      if (await get()) good++;
      latencies.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONFIG.httpConcurrency, CONFIG.http) }, lane));
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = preciseCpuSeconds(processes);
  latencies.sort((a, b) => a - b);
  return {
    complete: good === CONFIG.http && bad === 0,
    ...(bad > 0 ? { outcome: `${bad} answers (warm-up included) were not 200 "ok", first: ${firstBad}` } : {}),
    done: good,
    expected: CONFIG.http,
    perSec: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...serverCpu(cpu0, cpu1, latencies.length, "UsPerReq"),
  };
}

/** The worker calls the object n times (c in flight) and reports how long the calls took, measured inside the worker. */
async function rpc(target, spec, tag, deadline) {
  const params = new URLSearchParams({
    target: target.key,
    op: spec.op,
    n: String(CONFIG.rpcCalls),
    c: String(spec.concurrency),
    room: `rpc-${runId}-${tag}`,
  });
  const cpu0 = preciseCpuSeconds(processes);
  const response = await fetch(`${server.base}/rpc?${params}`, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
  const cpu1 = preciseCpuSeconds(processes);
  if (!response.ok) throw new Error(`/rpc answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  const result = await response.json();
  if (result.errors > 0) console.warn(`  ${target.key} ${spec.key}: ${result.errors} errors, first: ${result.firstError}`);
  return {
    complete: result.done === CONFIG.rpcCalls,
    done: result.done,
    expected: CONFIG.rpcCalls,
    perSec: result.done / (result.ms / 1000),
    usPerCall: (result.ms * 1000) / result.done,
    p50: result.p50,
    p99: result.p99,
    // Includes the warm-up call and the worker's own loop, the same for both targets.
    cpuUserUsPerCall: ((cpu1.user - cpu0.user) * 1e6) / result.done,
  };
}

/** Pids of the workerds at startup: one that changed means the objects restarted and the figures can't be trusted. */
let initialPids = "";
const pidsOf = (list) => list.map((p) => `${p.role}:${p.pid}`).sort().join(",");

/** Runs one scenario within its time bound; `measureLoad` false for one that starts a workerd of its own (it would count as other load). */
async function bounded(label, run, measureLoad = true) {
  processes = serverProcesses(server.pgid);
  if (pidsOf(processes) !== initialPids) {
    console.warn(`  workerd processes changed (${initialPids} → ${pidsOf(processes)}): wrangler restarted them`);
    initialPids = pidsOf(processes);
  }
  const deadline = Date.now() + CONFIG.scenarioTimeoutMs;
  // Everything else on the machine, in cores, while this scenario ran: the figures are only as good as this is low.
  const busy0 = machineBusySeconds();
  const ours0 = groupCpuSeconds(server.pgid) + selfCpuSeconds();
  const wall0 = performance.now();
  const otherLoad = () => {
    const busy = machineBusySeconds() - busy0;
    const ours = groupCpuSeconds(server.pgid) + selfCpuSeconds() - ours0;
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
  if (metrics.p50 !== undefined) parts.push(`p50 ${fmt(metrics.p50)} ms`, `p99 ${fmt(metrics.p99)} ms`);
  if (metrics.otherLoad > 0.15) parts.push(`other load ${metrics.otherLoad.toFixed(2)} cores`);
  if (!metrics.complete) parts.push(`INCOMPLETE ${metrics.done}/${metrics.expected}${metrics.outcome ? ` (${metrics.outcome})` : ""}`);
  return parts.join(", ");
}

// A smoke run keeps its build, state and logs apart (per process), so it can run next to a
// measuring run or another smoke run; they are removed after a run that passed.
const startOptions = SMOKE ? { tag: `bench-smoke-${process.pid}` } : {};

async function runAll() {
  for (let round = 1; round <= CONFIG.rounds; round++) {
    for (const scenario of SCENARIOS) {
      // Short single-client scenarios move ±20% between passes: several passes a round, each target in turn.
      const passes = SHORT_SCENARIOS.has(scenario) ? CONFIG.shortPasses : 1;
      for (let pass = 1; pass <= passes; pass++) {
        // Rotate the order each pass so drift (warm-up, other load) doesn't always favour the same target.
        const turn = (round - 1) * passes + pass - 1;
        const kinds = KINDS.map((_, i) => KINDS[(i + turn) % KINDS.length]);
        await runScenario(scenario, kinds, round, passes > 1 ? `${round}-${pass}` : String(round), turn);
      }
    }
  }
}

/** One pass of one scenario over every target it applies to; `tag` keeps each pass's rooms apart. */
async function runScenario(scenario, kinds, round, tag, turn) {
  const where = `round ${round}/${CONFIG.rounds}`;
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
      const options = { count: CONFIG.memorySockets, concurrency: CONFIG.connectConcurrency, prebuilt: { bundle: server.bundlePath, sha: server.bundleSha }, room: `memory-${kind.key}-${runId}-${tag}`, tag: `${startOptions.tag ?? "bench"}-memory-${kind.key}`, settleMs: SMOKE ? 50 : 1_000 };
      const metrics = await bounded(`memory ${kind.key}`, (deadline) => measureMemory(kind, { ...options, deadline }), false);
      record(scenario, kind.key, metrics);
      console.log(`${where}  ${scenario.padEnd(10)} ${kind.label.padEnd(25)} ${describe(metrics)}`);
    }
    return;
  }
  for (const kind of kinds) {
    if ((scenario === "persisted" || scenario === "acks") && !kind.persisted) continue;
    if ((scenario === "wake" || scenario === "calls") && !WAKE_KINDS.has(kind.key)) continue;
    const runs = {
      wake: (deadline) => wake(kind, tag, deadline),
      echo: (deadline) => echo(kind, tag, deadline),
      calls: (deadline) => calls(kind, tag, deadline),
      acks: (deadline) => acks(kind, tag, deadline),
      connect: (deadline) => connect(kind, tag, deadline),
      http: (deadline) => http(kind, tag, deadline),
      broadcast: (deadline) => fanOut(kind, false, tag, deadline),
      persisted: (deadline) => fanOut(kind, true, tag, deadline),
    };
    const metrics = await bounded(`${scenario} ${kind.key}`, runs[scenario]);
    record(scenario, kind.key, metrics);
    console.log(`${where}  ${scenario.padEnd(10)} ${kind.label.padEnd(25)} ${describe(metrics)}`);
  }
}

// ── report ────────────────────────────────────────────────────────────────────

function fmt(value) {
  if (value === undefined || value === null || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const footnotes = [];

function cell(runs, metric) {
  if (!runs || runs.length === 0) return { text: "–", value: NaN };
  const values = runs.map((r) => r[metric]).filter(Number.isFinite);
  const value = median(values);
  let text = fmt(value);
  if (values.length > 1) text += ` <sub>${fmt(Math.min(...values))}–${fmt(Math.max(...values))}</sub>`;
  const bad = runs.filter((r) => !r.complete);
  if (bad.length > 0) {
    footnotes.push(bad.map((r) => r.error ?? `${r.done} of ${r.expected} done${r.outcome ? ` (${r.outcome})` : ""}`).join("; "));
    text += ` [${footnotes.length}]`;
  }
  return { text, value };
}

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : "–");

const ROOM_ROWS = [
  ["echo", "perSec", "echo: round trips/s, 1 client ↑"],
  ["echo", "p50", "echo: p50 ms ↓"],
  ["echo", "p99", "echo: p99 ms ↓"],
  ["echo", "cpuUserUsPerMsg", "echo: DO workerd CPU µs per message ↓"],
  ["echo", "cpuAllUsPerMsg", "echo: both workerds CPU µs per message ↓"],
  ["calls", "perSec", "socket call: round trips/s, 1 client ↑"],
  ["calls", "p50", "socket call: p50 ms ↓"],
  ["calls", "p99", "socket call: p99 ms ↓"],
  ["calls", "cpuUserUsPerMsg", "socket call: DO workerd CPU µs per call ↓"],
  ["calls", "cpuAllUsPerMsg", "socket call: both workerds CPU µs per call ↓"],
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
  ["acks", "perSec", "persisted acks: acks/s, 1 client pipelining ↑"],
  ["acks", "cpuUserUsPerAck", "persisted acks: DO workerd CPU µs per ack ↓"],
  ["acks", "cpuAllUsPerAck", "persisted acks: both workerds CPU µs per ack ↓"],
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
    const row = [label, ...kinds.map((key) => cells[key].text), ...ratios.map(([, a, b]) => ratio(cells[a].value, cells[b].value))];
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
    lines.push(`| ${[label, ...kinds.map((key) => cells[key].text), ...ratios.map(([, a, b]) => ratio(cells[a].value, cells[b].value))].join(" | ")} |`);
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
      lines.push(`| ${spec.label}: ${label} | ${raw.text} | ${gp.text} | ${ratio(gp.value, raw.value)} |`);
    }
  }
  return lines.join("\n");
}

function otherLoadSummary() {
  const loads = Object.values(samples).flatMap((byKind) => Object.values(byKind).flat()).map((m) => m.otherLoad).filter(Number.isFinite);
  return { median: median(loads), max: loads.length ? Math.max(...loads) : NaN, busy: loads.filter((l) => l > 0.15).length, count: loads.length };
}

function environment() {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "lib"], { cwd: ROOT, encoding: "utf8" }).trim();
    if (dirty) commit += " (lib/ has uncommitted changes)";
  } catch {
    // Not a git checkout.
  }
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
    bundleSha: server?.bundleSha,
    startupMs: server?.startupMs,
  };
}

/** A run narrowed with --only / BENCH_SCENARIOS writes its own files, not over the whole run's. */
const base = `${QUICK ? "results-quick" : "results"}${chosenScenarios ? `-${SCENARIOS.join("-")}` : ""}`;

function report(status) {
  footnotes.length = 0;
  const env = environment();
  const rooms = roomTable("hibernating");
  const memoryRooms = roomTable("memory");
  const calls = rpcTable();
  const wakes = wakeTable();
  const md = [
    `# genparty benchmark results${QUICK ? " (quick mode)" : ""}`,
    "",
    `Written by \`node bench/run.mjs${QUICK ? " --quick" : ""}\` on ${env.date}${status === "complete" ? "" : ` — **${status}**, partial results`}. How to read them: bench/README.md.`,
    "",
    `- Node ${env.node}, wrangler ${env.wrangler} (workerd ${env.workerd}) via \`wrangler dev\` on 127.0.0.1, partyserver ${env.partyserver}, client \`ws\` ${env.ws}`,
    `- Machine: ${env.cores} cores (${env.cpuModel}), ${env.platform}; load average ${env.loadAtStart} at start, ${env.loadAtEnd} at end`,
    `- Other processes on the machine during the scenarios: median ${fmt(env.otherLoad.median)} cores, max ${fmt(env.otherLoad.max)} (${env.otherLoad.busy} of ${env.otherLoad.count} scenarios above 0.15 cores)`,
    `- genparty at ${env.commit}; bundle sha256 ${env.bundleSha ?? "?"}… (built once per run, so edits during a run don't reload it)`,
    `- Sizes: echo ${CONFIG.echo} sequential · socket calls ${CONFIG.calls} sequential · persisted acks ${CONFIG.acks} pipelined · fan-out ${CONFIG.clients} clients × ${CONFIG.messages} msgs (${(CONFIG.clients * CONFIG.clients * CONFIG.messages).toLocaleString("en-US")} deliveries) · connect ${CONFIG.connect} sockets, ${CONFIG.connectConcurrency} at a time · HTTP ${CONFIG.http} GETs, ${CONFIG.httpConcurrency} at a time · RPC ${CONFIG.rpcCalls} calls · wake ${CONFIG.wakeSockets} sockets after ${CONFIG.wakeIdleMs / 1000} s idle · memory ${CONFIG.memorySockets} sockets, a fresh workerd per target · ${CONFIG.rounds} interleaved round(s), echo, socket calls, acks and RPC ${CONFIG.shortPasses} passes each round; cells are the median <sub>min–max</sub> of all samples`,
    "",
    ...(rooms ? ["## WebSocket rooms (hibernating)", "", rooms, ""] : []),
    ...(wakes
      ? [
          "## Wake: the first message after hibernation",
          "",
          `${CONFIG.wakeSockets} sockets open in one room, ${CONFIG.wakeIdleMs / 1000} s of silence (workerd evicts the object), then one client sends a frame only it gets back. CPU from /proc schedstat (ns).`,
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
    "↑ higher is better, ↓ lower is better. Ratios are of medians.",
    "",
  ].join("\n");
  if (SMOKE) return md;
  writeFileSync(join(ROOT, "bench", `${base}.md`), md);
  writeFileSync(join(ROOT, "bench", `${base}.json`), JSON.stringify({ status, environment: env, config: CONFIG, samples }, null, 2) + "\n");
  return md;
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
    await server?.stop();
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
    if (busyBefore > 0.3) console.warn(`Other processes keep ${busyBefore.toFixed(2)} cores busy before the run: the figures will be skewed (see "other load" per scenario).`);
  }
  try {
    server = await startWrangler(startOptions);
  } catch (error) {
    // A free port can be taken between finding it and wrangler binding it: try once more, on new ports.
    console.warn(`wrangler dev did not start (${error.message}); trying once more`);
    server = await startWrangler(startOptions);
  }
  processes = serverProcesses(server.pgid);
  initialPids = pidsOf(processes);
  console.log(`wrangler dev ready on ${server.base} in ${server.startupMs} ms (workerd: ${processes.map((p) => `${p.role} ${p.pid}`).join(", ")})`);
  if (!processes.some((p) => p.role === "user")) console.warn("Could not find the workerd running the objects: CPU figures will be 0.");
  await runAll();
  if (SMOKE) {
    const failed = failures();
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
  }
} catch (error) {
  console.error(error);
  if (SMOKE) console.log(`bench smoke: FAILED — ${error?.message ?? error} (after ${elapsed()})`);
  exitCode = 1;
} finally {
  clearTimeout(watchdog);
  terminateLiveSockets();
  await server?.stop();
  if (SMOKE && server) {
    if (exitCode === 0) for (const dir of Object.values(server.dirs)) rmSync(dir, { recursive: true, force: true });
    else console.log(`wrangler's log: ${server.logFile}`);
  }
}
process.exit(exitCode);
