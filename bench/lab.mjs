#!/usr/bin/env node
// The bench worker under `workerd serve` started directly: no wrangler, no proxy, no inspector.
// For the figures `wrangler dev` blurs: a lone client's CPU per message, and a wake. One process
// runs every object, so its CPU (schedstat, every thread) is each target's whole cost.
//
//   node bench/lab.mjs echo     # one socket per target held open; interleaved rounds of sequential round trips
//   node bench/lab.mjs calls    # the same with calls: genparty's protocol on the Actor, written by hand on the others
//   node bench/lab.mjs wake     # rounds of a room per target left silent until evicted, then one frame wakes each
//   node bench/lab.mjs rpc      # calls from the worker into the object: raw's RPC method against getActor(...).call
//   node bench/lab.mjs http     # GETs the worker sends itself through its routing to each room, BENCH_HTTP_CONCURRENCY (20) in flight
//   node bench/lab.mjs connect  # handshakes into a running room per target, BENCH_CONNECT (200) a sample, 20 at a time; then closed
//   node bench/lab.mjs fanout   # a room of BENCH_CLIENTS (50) per target held open; each client sends BENCH_MESSAGES (40), each to all
//   node bench/lab.mjs acks     # one client per target in a persisted room, BENCH_ECHO (1000) frames pipelined a sample, each written and acked
//
// BENCH_KINDS (raw,partyserver,gp-server,gp-actor; also raw-mem, gp-machine for echo, gp-actor-direct
// for http and connect; rpc: raw,gp-actor), BENCH_ROUNDS (12), BENCH_ECHO (2000 round trips or calls a sample), BENCH_ROOMS
// (echo and calls: 1 room a target; more answer in turn), BENCH_RPC_OP (ping; or incr, ping-fresh),
// BENCH_FRESH=1 (echo and calls: new rooms for every sample, after 20 round trips, as the bench's passes),
// BENCH_PERSISTED=1 (echo and fanout: the `…Persisted` rooms, a committed write per message; fanout also prints deliveries/s),
// BENCH_PARALLEL=1 (echo and calls: the rooms' clients at once, as the scenarios under load),
// BENCH_WAKES (5 rounds), BENCH_WAKE_SOCKETS (1000), BENCH_STORAGE (disk; memory puts objects' SQLite files on a tmpfs). `--v8-flag=--perf-basic-prof` (repeatable) passes flags to V8:
// with that one, `perf record -g -p <pid>` names the JIT frames. `--inspect` opens workerd's inspector and
// holds a session on it with what `wrangler dev` turns on (Runtime and Network events): dev tooling's share.
// `--mf-wrapper` exports each Durable Object class wrapped as miniflare wraps it under `wrangler dev`.
// `--cold` keeps V8 to its baseline compiler (`--no-opt --no-maglev`): every function runs as the code a
// room runs before V8 optimizes it (a run's first round, a stalled compile queue, a fresh isolate).
// `--samples` prints every sample in the order taken, after the table.
// Last it prints how many of V8's concurrent optimizing compiles finished: a process that stalls them
// runs what was still queued as baseline code to the end (bench/readings.md, "Processes that run slow").
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import WebSocket from "ws";
import { buildWorker, callFrame, closeSockets, freePort, openSockets, preciseCpuSeconds, ROOT, sleep, terminateLiveSockets, WORKERD_BIN } from "./harness.mjs";
import { ratioText, samplesText } from "./stats.mjs";

const [workload = "echo"] = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const inspect = process.argv.includes("--inspect");
const mfWrapper = process.argv.includes("--mf-wrapper");
const cold = process.argv.includes("--cold");
const printSamples = process.argv.includes("--samples");
// BENCH_STORAGE=memory: objects' SQLite files on a tmpfs (/dev/shm), where a commit's flush costs
// nothing. On disk that flush is most of a persisted write's CPU and varies by ±15% a sample
// (bench/readings.md, "Persisted writes by hand"); without it what is left is each room's own work
// around the write. (workerd's `inMemory` storage has no SQLite.)
const inMemory = process.env.BENCH_STORAGE === "memory";
if (!["memory", "disk", undefined].includes(process.env.BENCH_STORAGE)) throw new Error("BENCH_STORAGE is memory or disk (the default)");
// `--trace-opt` always: its log tells a process whose optimizing compiles stalled (see compileReport).
const v8Flags = ["--trace-opt", ...(cold ? ["--no-opt", "--no-maglev"] : []), ...process.argv.filter((arg) => arg.startsWith("--v8-flag=")).map((arg) => arg.slice("--v8-flag=".length))];
const int = (name, fallback) => {
  const value = Number(process.env[`BENCH_${name}`] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`BENCH_${name} must be a positive integer.`);
  return value;
};
const PATHS = {
  raw: (room) => `/raw/BENCH_RAW/${room}`,
  partyserver: (room) => `/ps/bench-party/${room}`,
  "gp-server": (room) => `/gp/bench-gp-server/${room}`,
  "gp-actor": (room) => `/gp/bench-gp-actor/${room}`,
  "raw-mem": (room) => `/raw/BENCH_RAW_MEM/${room}`,
  // The Actor room reached as raw's is, past genparty's router: what routing costs.
  "gp-actor-direct": (room) => `/raw/BENCH_GP_ACTOR/${room}`,
  // Echo only: a `say` event, a transition, a committed snapshot and the state pushed back.
  "gp-machine": (room) => `/gp/bench-gp-machine/${room}`,
};
/** The `…Persisted` rooms (acks, and echo and fanout with BENCH_PERSISTED=1): each message counted in storage, the Actor's by its state commit. */
const PERSISTED_PATHS = {
  raw: (room) => `/raw/BENCH_RAW_PERSISTED/${room}`,
  partyserver: (room) => `/ps/bench-party-persisted/${room}`,
  "gp-server": (room) => `/gp/bench-gp-server-persisted/${room}`,
  "gp-actor": (room) => `/gp/bench-gp-actor-persisted/${room}`,
};
/** The `/rpc` loop's target for each kind that has an RPC baseline. */
const RPC_TARGETS = { raw: "raw", "gp-actor": "gp" };
const kinds = (process.env.BENCH_KINDS ?? (workload === "rpc" ? "raw,gp-actor" : "raw,partyserver,gp-server,gp-actor")).split(",");
for (const kind of kinds) if (!PATHS[kind]) throw new Error(`unknown target ${kind}; one of ${Object.keys(PATHS).join(", ")}`);
// (Function declarations, hoisted: defined below.)
const WORKLOADS = { echo: roundTrips, calls: roundTrips, wake: wakes, rpc: rpcCalls, http: requests, connect: handshakes, fanout: fanOuts, acks: persistedAcks };
if (!Object.hasOwn(WORKLOADS, workload)) throw new Error(`unknown workload ${workload}: ${Object.keys(WORKLOADS).join(", ")}`);
if (workload !== "echo" && kinds.includes("gp-machine")) throw new Error("gp-machine runs the echo workload only");
// BENCH_PERSISTED=1 (echo and fanout): the `…Persisted` rooms, each message a committed write (echo: one at a time).
const persisted = process.env.BENCH_PERSISTED === "1";
if (persisted && workload !== "echo" && workload !== "fanout") throw new Error("BENCH_PERSISTED=1 runs the echo and fanout workloads (acks is always persisted)");
if (workload === "acks" || persisted) for (const kind of kinds) if (!PERSISTED_PATHS[kind]) throw new Error(`persisted rooms are ${Object.keys(PERSISTED_PATHS).join(", ")}, not ${kind}`);
/** The rooms echo, calls and fanout open: the `…Persisted` ones with BENCH_PERSISTED=1. */
const ROOM_PATHS = persisted ? PERSISTED_PATHS : PATHS;
if (workload === "rpc") for (const kind of kinds) if (!RPC_TARGETS[kind]) throw new Error(`rpc runs on ${Object.keys(RPC_TARGETS).join(" and ")}, not ${kind}`);
const DIR = join(ROOT, ".wrangler", "bench-lab");
const STATE = inMemory ? join("/dev/shm", `genparty-bench-lab-${process.pid}`) : join(DIR, "state");
const IDLE_MS = 13_000;
const TIMEOUT_MS = 20 * 60_000;

/** bench/wrangler.toml's compatibility date and Durable Object bindings. */
function benchWorker() {
  const toml = readFileSync(join(ROOT, "bench", "wrangler.toml"), "utf8");
  const date = /compatibility_date = "([^"]+)"/.exec(toml)?.[1];
  const bindings = [...toml.matchAll(/name = "(\w+)"\s*\nclass_name = "(\w+)"/g)].map(([, name, cls]) => ({ name, cls }));
  if (!date || bindings.length === 0) throw new Error("bench/wrangler.toml: no compatibility_date or Durable Object bindings found");
  return { date, bindings };
}

/** A workerd config for the bundle (embedded by a path relative to the config: a leading "/" means capnp's import root): every binding of bench/wrangler.toml, each class SQLite-backed, storage on disk. */
function config(bundle, port, { date, bindings }) {
  const quote = JSON.stringify;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .bench), (name = "disk", disk = (path = ${quote(STATE)}, writable = true)) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
  v8Flags = [ ${v8Flags.map(quote).join(", ")} ],
);
const bench :Workerd.Worker = (
  modules = [ ${mfWrapper ? `(name = "entry.js", esModule = embed "entry.js"), (name = "__mf_do_wrapper.js", esModule = embed "__mf_do_wrapper.js"), ` : ""}(name = "worker.js", esModule = embed ${quote(relative(DIR, bundle))}) ],
  compatibilityDate = ${quote(date)},
  bindings = [ ${bindings.map(({ name, cls }) => `(name = ${quote(name)}, durableObjectNamespace = ${quote(cls)})`).join(", ")} ],
  durableObjectNamespaces = [ ${bindings.map(({ cls }) => `(className = ${quote(cls)}, uniqueKey = ${quote(`${cls}-lab`)}, enableSql = true)`).join(", ")} ],
  durableObjectStorage = (localDisk = "disk"),
);
`;
}

/**
 * `--mf-wrapper`: the entry miniflare makes under `wrangler dev`, every Durable Object class exported
 * as a subclass from its `createDurableObjectWrapper` (miniflare's own module, read from
 * node_modules), to tell what that wrapper costs from what the rest of `wrangler dev` does.
 */
function writeMiniflareEntry(classes) {
  const wrapper = join(ROOT, "node_modules", "miniflare", "dist", "src", "workers", "core", "do-wrapper.worker.js");
  writeFileSync(join(DIR, "__mf_do_wrapper.js"), readFileSync(wrapper, "utf8"));
  const lines = [
    `import { createDurableObjectWrapper } from "./__mf_do_wrapper.js";`,
    `import * as original from "./worker.js";`,
    `export * from "./worker.js";`,
    `export default original.default;`,
    ...classes.map((cls) => `export const ${cls} = createDurableObjectWrapper(original.${cls});`),
  ];
  writeFileSync(join(DIR, "entry.js"), `${lines.join("\n")}\n`);
}

/** Starts workerd in a session of its own (so it is stopped by its process group) and waits for it to answer. */
async function startWorkerd() {
  const { bundle, sha } = buildWorker("bench-lab");
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  const port = await freePort();
  const inspectorPort = inspect ? await freePort() : undefined;
  const configPath = join(DIR, "config.capnp");
  const worker = benchWorker();
  writeFileSync(configPath, config(bundle, port, worker));
  if (mfWrapper) writeMiniflareEntry([...new Set(worker.bindings.map(({ cls }) => cls))]);
  const out = openSync(join(DIR, "workerd.out"), "w");
  // V8's traces are line-buffered: block-buffered, the last block is lost at the stop.
  const inspectorArgs = inspectorPort === undefined ? [] : [`--inspector-addr=127.0.0.1:${inspectorPort}`];
  const child = spawn("stdbuf", ["-oL", WORKERD_BIN, "serve", configPath, "--experimental", ...inspectorArgs], { cwd: ROOT, detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  const stop = () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // Gone already.
    }
    // A tmpfs holds memory until its files go.
    if (inMemory) rmSync(STATE, { recursive: true, force: true });
  };
  process.once("exit", stop);
  for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(130));
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) })).ok) break;
    } catch {
      if (Date.now() > until) throw new Error(`workerd did not answer within 30 s; see ${join(DIR, "workerd.out")}`);
      await sleep(200);
    }
  }
  if (inspectorPort !== undefined) await attachInspector(inspectorPort);
  return { pid: child.pid, port, sha, stop };
}

/**
 * A session on the worker's inspector as wrangler's inspector proxy opens one: console and exception
 * events (`Runtime.enable`) and network events for every request to an object (`Network.enable`).
 * The events are read and dropped; the socket stays open until the run ends.
 */
async function attachInspector(port) {
  const session = new WebSocket(`ws://127.0.0.1:${port}/main`);
  await new Promise((open, fail) => (session.once("open", open), session.once("error", fail)));
  session.on("message", () => {});
  session.send(JSON.stringify({ id: 1, method: "Runtime.enable" }));
  session.send(JSON.stringify({ id: 2, method: "Network.enable" }));
  process.once("exit", () => session.terminate());
}

const cpuMs = (pid) => preciseCpuSeconds([{ pid, role: "user" }]).user * 1000;

/** The targets in a round: rotated by one each round, and every other round reversed, so none is always measured first or after the same one. */
const orderOf = (round) => {
  const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
  return round % 2 ? order.reverse() : order;
};

/**
 * `rounds` interleaved rounds, every target once a round in `orderOf(round)`. A sample is workerd's
 * CPU in µs over what `measure(kind)` did, divided by the units it resolves with (round trips,
 * calls, deliveries); `prepare(kind, round)` runs before it and `settle(kind)` after, not counted.
 */
async function cpuRounds(server, deadline, rounds, { measure, prepare, settle }) {
  const samples = Object.fromEntries(kinds.map((kind) => [kind, []]));
  for (let round = 0; round < rounds && Date.now() < deadline; round++) {
    for (const kind of orderOf(round)) {
      await prepare?.(kind, round);
      const before = cpuMs(server.pid);
      const units = await measure(kind);
      samples[kind].push(((cpuMs(server.pid) - before) * 1000) / units);
      await settle?.(kind);
    }
  }
  return samples;
}

/** One socket per target, held open; each sample is `count` sequential round trips, the targets in a new order every round. */
async function roundTrips(server, deadline) {
  const count = int("ECHO", 2000);
  const rounds = int("ROUNDS", 12);
  let seq = 0;
  // Each socket's last call id, acknowledged by its next call, as a client does. (Kept per target,
  // the acks of rooms answering at once or in turn named other rooms' calls: the Actor's rooms kept
  // every answer until its list's cap, and paid for trimming it.)
  const lastCall = new WeakMap();
  const frame = (kind, socket) => {
    const id = seq++;
    if (kind === "gp-machine") return `{"type":"say","text":"e${id}"}`;
    if (workload === "echo") return `e${id}`;
    const acked = lastCall.get(socket);
    lastCall.set(socket, id);
    return callFrame(kind, id, acked);
  };
  // Several rooms (objects of one class in one isolate) answer in turn: what one object's code sees, many instances share.
  const rooms = int("ROOMS", 1);
  // BENCH_FRESH=1: every sample in new rooms, as the bench's passes are (a new object, its first turns, the old one evicted later).
  const fresh = process.env.BENCH_FRESH === "1";
  // Its push on connect would answer a warm-up's round trip, one reply early from then on.
  if (fresh && kinds.includes("gp-machine")) throw new Error("BENCH_FRESH runs without gp-machine (it pushes its state on connect)");
  const sockets = {};
  const openRooms = async (kind, tag) => {
    const old = sockets[kind] ?? [];
    sockets[kind] = [];
    for (let room = 0; room < rooms; room++) sockets[kind].push((await openSockets(`ws://127.0.0.1:${server.port}${ROOM_PATHS[kind](`lab-${workload}-${tag}-${room}`)}`, 1, 1, deadline)).sockets[0]);
    for (const socket of old) socket.close();
  };
  for (const kind of kinds) await openRooms(kind, "first");
  // The machine room pushes its state on connect: let it arrive (unheard) before the first round trip waits for a frame.
  if (kinds.includes("gp-machine")) await sleep(500);
  // BENCH_PARALLEL=1: the rooms' clients at once, n / rooms round trips each (the bench's scenarios under load); else in turn.
  const parallel = process.env.BENCH_PARALLEL === "1";
  const roundTrip = (socket, kind) => new Promise((reply) => (socket.once("message", reply), socket.send(frame(kind, socket))));
  const run = async (kind, n) => {
    const own = sockets[kind];
    if (parallel) {
      const each = Math.ceil(n / own.length);
      await Promise.all(own.map(async (socket) => {
        for (let i = 0; i < each && Date.now() < deadline; i++) await roundTrip(socket, kind);
      }));
      return;
    }
    for (let i = 0; i < n && Date.now() < deadline; i++) await roundTrip(own[i % own.length], kind);
  };
  // Every target's code optimized before the first sample.
  for (const kind of kinds) await run(kind, 3000);
  const samples = await cpuRounds(server, deadline, rounds, {
    prepare: fresh
      ? async (kind, round) => {
          await openRooms(kind, `r${round}`);
          await run(kind, parallel ? 20 * rooms : 20);
        }
      : undefined,
    measure: async (kind) => (await run(kind, count), count),
  });
  return { samples, unit: `µs of CPU per ${workload === "echo" ? "round trip" : "call"}`, note: `${rounds} rounds of ${count}${rooms > 1 ? `, ${rooms} rooms a target ${parallel ? "at once" : "in turn"}` : ""}${fresh ? ", new rooms every sample" : ""}${persisted ? ", persisted rooms" : ""}` };
}

/** Each sample is one `/rpc` request of the bench worker: `count` sequential calls from the worker into one object per target. */
async function rpcCalls(server, deadline) {
  const count = int("ECHO", 2000);
  const rounds = int("ROUNDS", 12);
  const op = process.env.BENCH_RPC_OP ?? "ping";
  const loop = async (kind, n) => {
    const url = `http://127.0.0.1:${server.port}/rpc?target=${RPC_TARGETS[kind]}&op=${op}&n=${n}&room=lab-rpc&ms=${Math.max(1, deadline - Date.now())}`;
    const result = await (await fetch(url)).json();
    if (result.errors > 0 || result.done !== n) throw new Error(`${kind}: ${result.done} of ${n} calls answered; first error: ${result.firstError}`);
  };
  for (const kind of kinds) await loop(kind, 3000);
  const samples = await cpuRounds(server, deadline, rounds, { measure: async (kind) => (await loop(kind, count), count) });
  return { samples, unit: `µs of CPU per ${op} call (worker and object together)`, note: `${rounds} rounds of ${count}` };
}

/**
 * Each sample is one `/fetch-loop` request: `count` GETs sent through the bench worker's own routing
 * to one room per target, `concurrency` at a time, inside workerd (no client, no HTTP parsing: a
 * client here was the noise, ±30% a sample). What is left is the router and the room's turn: the
 * bench's HTTP rows, whose ~2 ms of proxying per request under `wrangler dev` hide a few µs.
 */
async function requests(server, deadline) {
  const count = int("ECHO", 2000);
  const rounds = int("ROUNDS", 12);
  const concurrency = int("HTTP_CONCURRENCY", 20);
  const run = async (kind, n) => {
    const params = new URLSearchParams({ path: PATHS[kind]("lab-http"), n: String(n), c: String(concurrency) });
    const result = await (await fetch(`http://127.0.0.1:${server.port}/fetch-loop?${params}`, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })).json();
    if (result.done !== n) throw new Error(`${kind}: ${result.done} of ${n} GETs answered "ok"; first other: ${result.firstError}`);
    return result.ms;
  };
  for (const kind of kinds) await run(kind, 3000);
  const rates = Object.fromEntries(kinds.map((kind) => [kind, []]));
  const measure = async (kind) => {
    const ms = await run(kind, count);
    rates[kind].push((count * 1000) / ms);
    return count;
  };
  const samples = await cpuRounds(server, deadline, rounds, { measure });
  return { samples, rates, unit: "µs of CPU per request (worker and object together)", note: `${rounds} rounds of ${count}, ${concurrency} in flight, sent by the worker itself` };
}

/**
 * Rounds of one room per target, silent until workerd evicts them, then one frame wakes each (the
 * targets in a new order every round); CPU from the send to 250 ms after the reply. A first round,
 * not counted, wakes a small room of each target: the first object of a class to wake compiles
 * its start path.
 */
async function wakes(server, deadline) {
  const rounds = int("WAKES", 5);
  const perRoom = int("WAKE_SOCKETS", 1000);
  const samples = Object.fromEntries(kinds.map((kind) => [kind, []]));
  const ask = (socket, text) => new Promise((reply) => (socket.once("message", (data) => reply(data.toString())), socket.send(text)));
  for (let round = -1; round < rounds; round++) {
    const rooms = {};
    for (const kind of kinds) {
      const url = `ws://127.0.0.1:${server.port}${PATHS[kind](`lab-wake-${Date.now()}`)}`;
      rooms[kind] = (await openSockets(url, round < 0 ? 20 : perRoom, 20, deadline)).sockets;
    }
    await sleep(IDLE_MS);
    const order = kinds.map((_, i) => kinds[(i + Math.max(round, 0)) % kinds.length]);
    for (const kind of round % 2 ? order : order.reverse()) {
      const sockets = rooms[kind];
      const before = cpuMs(server.pid);
      const reply = await ask(sockets[sockets.length >> 1], "!wake");
      await sleep(250);
      const cpu = cpuMs(server.pid) - before;
      // The reply carries the instance's age: younger than the silence means it was evicted and woke for the frame.
      const age = Number(reply.split("@")[1]);
      if (!(age < IDLE_MS)) throw new Error(`${kind}: the room did not hibernate (its instance is ${age} ms old)`);
      if (round >= 0) samples[kind].push(cpu);
    }
    terminateLiveSockets();
    await sleep(1_000);
  }
  return { samples, unit: "ms of CPU per wake", note: `${rounds} rounds of a room of ${perRoom} sockets a target` };
}

/**
 * Each sample opens BENCH_CONNECT (200) sockets into a room of the target that is already running
 * (one socket stays open in it), 20 handshakes at a time, as the bench's connect scenario does but
 * with no proxy in front; then closes them, and lets the closes be handled before the next sample.
 * CPU per socket, the closes not counted.
 */
async function handshakes(server, deadline) {
  const count = int("CONNECT", 200);
  const rounds = int("ROUNDS", 12);
  const url = (kind) => `ws://127.0.0.1:${server.port}${PATHS[kind](`lab-connect-${kind}`)}`;
  const held = [];
  for (const kind of kinds) held.push((await openSockets(url(kind), 1, 1, deadline)).sockets[0]);
  let opened = [];
  const open = async (kind) => {
    opened = (await openSockets(url(kind), count, 20, deadline)).sockets;
    return count;
  };
  // The closes are handled before the next sample, and not counted.
  const closeAll = async () => {
    await closeSockets(opened);
    await sleep(300);
  };
  // Every target's connect path optimized before the first sample.
  for (let i = 0; i < 3; i++) {
    for (const kind of kinds) {
      await open(kind);
      await closeAll();
    }
  }
  const samples = await cpuRounds(server, deadline, rounds, { measure: open, settle: closeAll });
  await closeSockets(held);
  return { samples, unit: "µs of CPU per handshake (worker and object together)", note: `${rounds} rounds of ${count}, 20 at a time, into a running room` };
}

/**
 * Listens on `sockets` for `expected` frames in all, then calls `send`; resolves with `expected` once
 * they have all arrived (the listeners removed), or fails at the deadline saying how many did.
 */
function framesBack(sockets, expected, deadline, what, send) {
  let received = 0;
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what}: ${received} of ${expected} within the deadline`)), Math.max(1, deadline - Date.now()));
    const onFrame = () => {
      if (++received === expected) {
        clearTimeout(timer);
        for (const socket of sockets) socket.off("message", onFrame);
        done(expected);
      }
    };
    for (const socket of sockets) socket.on("message", onFrame);
    send();
  });
}

/**
 * One room of BENCH_CLIENTS (50) sockets per target, held open. Each sample: every client sends
 * BENCH_MESSAGES (40) frames, each broadcast to every client, until all n × n × m have arrived; CPU
 * per delivery. The bench's fan-out rows with no proxy in front and one process to read.
 */
async function fanOuts(server, deadline) {
  const clients = int("CLIENTS", 50);
  const messages = int("MESSAGES", 40);
  const rounds = int("ROUNDS", 12);
  const rooms = {};
  for (const kind of kinds) rooms[kind] = (await openSockets(`ws://127.0.0.1:${server.port}${ROOM_PATHS[kind](`lab-fanout-${Date.now()}`)}`, clients, 20, deadline)).sockets;
  /** Resolves with the deliveries made: every socket's m frames, each to every socket. */
  const run = (kind, m) => {
    const sockets = rooms[kind];
    return framesBack(sockets, sockets.length * sockets.length * m, deadline, `${kind}: deliveries`, () => {
      for (let seq = 0; seq < m; seq++) for (const socket of sockets) socket.send(`f${seq}`);
    });
  };
  // Every target's broadcast path optimized before the first sample.
  for (const kind of kinds) await run(kind, 3 * messages);
  // Deliveries a second too: persisted, a room's rate is bound by its writes' flushes as much as by its CPU.
  const rates = Object.fromEntries(kinds.map((kind) => [kind, []]));
  const measure = async (kind) => {
    const started = performance.now();
    const delivered = await run(kind, messages);
    rates[kind].push((delivered * 1000) / (performance.now() - started));
    return delivered;
  };
  const samples = await cpuRounds(server, deadline, rounds, { measure });
  for (const kind of kinds) await closeSockets(rooms[kind]);
  return { samples, rates, rateUnit: "deliveries/s", unit: "µs of CPU per delivery", note: `${rounds} rounds of ${clients} clients × ${messages} messages, each to all${persisted ? ", persisted rooms (each message a committed write)" : ""}` };
}

/**
 * One client per target alone in a persisted room, held open. Each sample pipelines BENCH_ECHO
 * (1000) frames and waits for their acks (each frame written, then sent back); CPU per ack. The
 * warm-up's 3,000 writes take each room's log file past SQLite's first checkpoint, so the samples
 * are the bench's "next N": a living room's steady state (bench/scenarios.mjs, `acks`).
 */
async function persistedAcks(server, deadline) {
  const count = int("ECHO", 1000);
  const rounds = int("ROUNDS", 12);
  const sockets = {};
  for (const kind of kinds) sockets[kind] = (await openSockets(`ws://127.0.0.1:${server.port}${PERSISTED_PATHS[kind](`lab-acks-${Date.now()}`)}`, 1, 1, deadline)).sockets[0];
  let seq = 0;
  const run = (kind, n) =>
    framesBack([sockets[kind]], n, deadline, `${kind}: acks`, () => {
      for (let i = 0; i < n; i++) sockets[kind].send(`k${seq++}`);
    });
  for (const kind of kinds) await run(kind, 3000);
  const samples = await cpuRounds(server, deadline, rounds, { measure: (kind) => run(kind, count) });
  await closeSockets(Object.values(sockets));
  return { samples, unit: "µs of CPU per ack", note: `${rounds} rounds of ${count} pipelined, one room a target` };
}

function table({ samples, rates, rateUnit = "requests/s", unit, note }, server) {
  const lines = [
    `${workload} on workerd run by hand${inspect ? ", an inspector session open" : ""}${cold ? ", baseline code only (--cold)" : ""}${inMemory ? ", objects' SQLite on a tmpfs" : ""}, bundle ${server.sha} (${note}); ${unit}, median <sub>min–max</sub>; ratios with their 90% bootstrap interval`,
    "",
    "| target | CPU | ÷ raw | ÷ partyserver |",
    "|---|---:|---:|---:|",
  ];
  for (const kind of kinds) {
    const against = (reference) => (samples[reference] ? ratioText(samples[kind], samples[reference]) : "–");
    lines.push(`| ${kind} | ${samplesText(samples[kind])} | ${against("raw")} | ${against("partyserver")} |`);
  }
  if (rates) {
    lines.push("", `| target | ${rateUnit} | ÷ raw | ÷ partyserver |`, "|---|---:|---:|---:|");
    for (const kind of kinds) {
      const against = (reference) => (rates[reference] ? ratioText(rates[kind], rates[reference]) : "–");
      lines.push(`| ${kind} | ${samplesText(rates[kind])} | ${against("raw")} | ${against("partyserver")} |`);
    }
  }
  return lines.join("\n");
}

/**
 * What V8's `--trace-opt` log says of the optimizing compiles (Maglev, Turbofan): how many were asked
 * for and how many never finished. On this machine (one V8 worker thread) a process often stops
 * finishing them for good, and every function still queued then runs its baseline code to the end:
 * when that comes before genparty's turn loop is optimized, its rooms read ~15–25% slow.
 */
function compileReport() {
  const log = readFileSync(join(DIR, "workerd.out"), "utf8");
  const count = (pattern) => log.match(pattern)?.length ?? 0;
  const asked = count(/^\[compiling method .*ConcurrencyMode::kConcurrent/gm);
  // A synchronous compile (`--no-concurrent-recompilation`) logs its end too.
  const ended = count(/^\[(completed compiling|aborted optimizing)/gm) - count(/^\[compiling method .*ConcurrencyMode::kSynchronous/gm);
  const open = asked - ended;
  return `V8: ${asked} concurrent optimizing compiles asked for, ${ended} finished${open > 4 ? `; ${open} never did: a stalled compile queue, the functions they were for ran baseline code to the end (bench/readings.md, "Processes that run slow")` : ""}.`;
}

const server = await startWorkerd();
try {
  const deadline = Date.now() + TIMEOUT_MS;
  const result = await WORKLOADS[workload](server, deadline);
  if (Date.now() > deadline) throw new Error("the lab run timed out");
  console.log(table(result, { sha: server.sha }));
  // Each target's samples in the order taken: how a process warms up, round by round.
  if (printSamples) for (const [kind, values] of Object.entries(result.samples)) console.log(`${kind}: ${values.map((v) => v.toFixed(1)).join(" ")}`);
} finally {
  terminateLiveSockets();
  server.stop();
}
console.log(`\n${compileReport()}`);
