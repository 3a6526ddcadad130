#!/usr/bin/env node
// Samples the Durable Objects' CPU (V8 profiler through wrangler's inspector) while one workload
// runs, then prints where the time went, by function and by source file of the bundle.
//
//   node bench/profile.mjs rpc gp ping            # 20,000 sequential getActor(...).call
//   node bench/profile.mjs rpc raw ping
//   node bench/profile.mjs fanout gp-actor        # 50 clients × 200 msgs broadcast
//   node bench/profile.mjs fanout gp-actor persisted
//   node bench/profile.mjs echo gp-server            # 1 client, 5,000 sequential round trips
//   node bench/profile.mjs echo gp-machine           # the same as `say` events (transition, commit, push)
//   node bench/profile.mjs http gp-server            # 3,000 GETs, 20 in flight
//   node bench/profile.mjs http gp-actor-direct      # the same to the Actor room past the router (what routing costs)
//   node bench/profile.mjs connect gp-server         # 1,000 sockets opened (20 at a time) and closed, 200 per batch
//   node bench/profile.mjs calls gp-actor            # 5,000 sequential calls over the socket
//   node bench/profile.mjs acks gp-actor             # 5,000 pipelined frames to the persisted room
//   node bench/profile.mjs wake gp-server            # 5 rooms × 200 sockets idle 13 s, then each woken by one frame (and a second)
//
// Sizes: BENCH_CLIENTS, BENCH_MSGS, BENCH_RPC_CALLS, BENCH_RPC_CONCURRENCY. The raw profile is
// written to .wrangler/bench-logs/<workload>.cpuprofile (open it in Chrome DevTools).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { callFrame, closeSockets, inspector, LOG_DIR, openSockets, startWrangler, terminateLiveSockets } from "./harness.mjs";

const [workload = "rpc", a = "gp", b = "ping"] = process.argv.slice(2);
const int = (name, fallback) => Number(process.env[`BENCH_${name}`] ?? fallback);
const WORKLOAD_TIMEOUT_MS = 90_000;
const SAMPLING_INTERVAL_US = 100;
const PATHS = {
  raw: (p) => `/raw/${p ? "BENCH_RAW_PERSISTED" : "BENCH_RAW"}`,
  partyserver: (p) => `/ps/bench-party${p ? "-persisted" : ""}`,
  "gp-server": (p) => `/gp/bench-gp-server${p ? "-persisted" : ""}`,
  "gp-actor": (p) => `/gp/bench-gp-actor${p ? "-persisted" : ""}`,
  "gp-machine": () => "/gp/bench-gp-machine",
  // Reached as the raw room is (`getByName(room).fetch(request)`), past routePartykitRequest.
  "gp-actor-direct": () => "/raw/BENCH_GP_ACTOR",
};

async function runWorkload(server) {
  if (workload === "rpc") {
    const params = new URLSearchParams({ target: a, op: b, n: String(int("RPC_CALLS", 20_000)), c: String(int("RPC_CONCURRENCY", 1)), room: "profile" });
    const result = await fetch(`${server.base}/rpc?${params}`, { signal: AbortSignal.timeout(WORKLOAD_TIMEOUT_MS) }).then((r) => r.json());
    return `${result.done} calls in ${result.ms} ms (${((result.ms * 1000) / result.done).toFixed(1)} µs each)`;
  }
  if (workload === "fanout") {
    const path = PATHS[a];
    if (!path) throw new Error(`unknown kind ${a}; one of ${Object.keys(PATHS).join(", ")}`);
    const clients = int("CLIENTS", 50);
    const messages = int("MSGS", 200);
    const deadline = Date.now() + WORKLOAD_TIMEOUT_MS;
    const { sockets } = await openSockets(`${server.wsBase}${path(b === "persisted")}/profile`, clients, 20, deadline);
    const expected = clients * clients * messages;
    let delivered = 0;
    const t0 = performance.now();
    const finished = new Promise((done) => {
      for (const socket of sockets) socket.on("message", () => ++delivered >= expected && done("done"));
      setTimeout(() => done("timeout"), Math.max(0, deadline - Date.now()));
    });
    for (let seq = 0; seq < messages; seq++) for (const socket of sockets) socket.send(`x${seq}`);
    const outcome = await finished;
    const seconds = (performance.now() - t0) / 1000;
    await closeSockets(sockets);
    return `${delivered}/${expected} delivered in ${seconds.toFixed(2)} s (${outcome})`;
  }
  if (workload === "echo" || workload === "calls") {
    const path = PATHS[a];
    if (!path) throw new Error(`unknown kind ${a}; one of ${Object.keys(PATHS).join(", ")}`);
    const count = int("ECHO", 5_000);
    const deadline = Date.now() + WORKLOAD_TIMEOUT_MS;
    const { sockets } = await openSockets(`${server.wsBase}${path(b === "persisted")}/profile-${workload}`, 1, 1, deadline);
    const [socket] = sockets;
    // calls: genparty's protocol on the Actor, the same call written by hand on the other rooms (see bench/worker.ts).
    const plain = a === "gp-machine" ? (i) => `{"type":"say","text":"e${i}"}` : (i) => `e${i}`;
    const frame = workload === "calls" ? (i) => callFrame(a, i, i > 0 ? i - 1 : undefined) : plain;
    // The MachineServer room pushes its state on connect: let that arrive before the first round trip.
    if (a === "gp-machine") await new Promise((settle) => setTimeout(settle, 200));
    const t0 = performance.now();
    let done = 0;
    for (; done < count && Date.now() < deadline; done++) {
      await new Promise((reply) => (socket.once("message", reply), socket.send(frame(done))));
    }
    const ms = performance.now() - t0;
    await closeSockets(sockets);
    return `${done} round trips in ${ms.toFixed(0)} ms (${((ms * 1000) / done).toFixed(1)} µs each)`;
  }
  if (workload === "acks") {
    const path = PATHS[a];
    if (!path) throw new Error(`unknown kind ${a}; one of ${Object.keys(PATHS).join(", ")}`);
    const count = int("ACKS", 5_000);
    const deadline = Date.now() + WORKLOAD_TIMEOUT_MS;
    const { sockets } = await openSockets(`${server.wsBase}${path(true)}/profile-acks-${Date.now()}`, 1, 1, deadline);
    const [socket] = sockets;
    let received = 0;
    const t0 = performance.now();
    const all = new Promise((done) => socket.on("message", () => ++received >= count && done()));
    for (let i = 0; i < count; i++) socket.send(`k${i}`);
    await Promise.race([all, new Promise((done) => setTimeout(done, Math.max(0, deadline - Date.now())))]);
    const ms = performance.now() - t0;
    await closeSockets(sockets);
    return `${received}/${count} acks in ${ms.toFixed(0)} ms (${((ms * 1000) / received).toFixed(1)} µs each)`;
  }
  if (workload === "connect") {
    const path = PATHS[a];
    if (!path) throw new Error(`unknown kind ${a}; one of ${Object.keys(PATHS).join(", ")}`);
    const count = int("CONNECT", 1_000);
    const deadline = Date.now() + WORKLOAD_TIMEOUT_MS;
    const t0 = performance.now();
    // Opened and closed in batches of 200 (the room stays small, as in the bench's connect scenario).
    for (let done = 0; done < count && Date.now() < deadline; done += 200) {
      const { sockets } = await openSockets(`${server.wsBase}${path(false)}/profile-connect`, Math.min(200, count - done), 20, deadline);
      await closeSockets(sockets);
    }
    return `${count} sockets opened and closed in ${(performance.now() - t0).toFixed(0)} ms`;
  }
  if (workload === "http") {
    const path = PATHS[a];
    if (!path) throw new Error(`unknown kind ${a}; one of ${Object.keys(PATHS).join(", ")}`);
    const count = int("HTTP", 3_000);
    const url = `${server.base}${path(false)}/profile-http`;
    const deadline = Date.now() + WORKLOAD_TIMEOUT_MS;
    let issued = 0;
    let ok = 0;
    const t0 = performance.now();
    const lane = async () => {
      while (issued < count && Date.now() < deadline) {
        issued++;
        const response = await fetch(url);
        if ((await response.text()) === "ok") ok++;
      }
    };
    await Promise.all(Array.from({ length: 20 }, lane));
    const ms = performance.now() - t0;
    return `${ok}/${count} GETs answered ok in ${ms.toFixed(0)} ms`;
  }
  throw new Error(`unknown workload ${workload}: rpc <raw|gp> <ping|incr|ping-fresh>, fanout|echo <kind> [persisted] or http <kind>`);
}

/** Rooms of sockets left idle until workerd evicts them, then each woken by one sender-only frame and asked once more. */
async function wakes(server, startProfiler) {
  const path = PATHS[a];
  if (!path) throw new Error(`unknown kind ${a}; one of ${Object.keys(PATHS).join(", ")}`);
  const rooms = int("WAKES", 5);
  const perRoom = int("WAKE_SOCKETS", 200);
  const deadline = Date.now() + WORKLOAD_TIMEOUT_MS;
  const opened = [];
  for (let r = 0; r < rooms; r++) opened.push((await openSockets(`${server.wsBase}${path(false)}/profile-wake-${Date.now()}-${r}`, perRoom, 20, deadline)).sockets);
  await new Promise((idle) => setTimeout(idle, 13_000));
  const ask = (socket, text) => new Promise((reply) => (socket.once("message", (data) => reply(data.toString())), socket.send(text)));
  await startProfiler();
  const replies = [];
  for (const sockets of opened) {
    const waker = sockets[sockets.length >> 1];
    replies.push(await ask(waker, "!wake"));
    await new Promise((settle) => setTimeout(settle, 250));
    await ask(waker, "!warm");
  }
  // The sockets are left open: closing them is not part of a wake (the run ends by terminating them).
  // The reply carries the instance's age: under the idle time means it was evicted and woke for the frame.
  return `${rooms} rooms of ${perRoom} sockets woken; instance ages ${replies.map((reply) => reply.split("@")[1]).join(", ")} ms`;
}

/** Maps a bundle position back to `lib/actor/runtime.ts:123` through the bundle's source map. */
function sourceLocator(bundlePath) {
  const mapPath = `${bundlePath}.map`;
  const map = existsSync(mapPath) ? new SourceMap(JSON.parse(readFileSync(mapPath, "utf8"))) : undefined;
  return (line, column) => {
    const entry = map?.findEntry(line, column);
    if (!entry || entry.originalSource === undefined) return { file: "(bundle)", at: `(bundle):${line + 1}` };
    const file = entry.originalSource.replace(/^.*?\/(lib|bench|node_modules)\//, "$1/");
    return { file, at: `${file}:${entry.originalLine + 1}` };
  };
}

function summarize(profile, locate) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const frameKey = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    if (!url) return functionName || "(anonymous)";
    const where = url.endsWith("worker.js") ? locate(lineNumber, node.callFrame.columnNumber).at : `${url.split("/").pop()}:${lineNumber + 1}`;
    return `${functionName || "(anonymous)"} · ${where}`;
  };
  const self = new Map();
  const inclusive = new Map();
  const files = new Map();
  let total = 0;
  profile.samples.forEach((sample, i) => {
    // Counted in samples, not timeDeltas: on 2 busy cores the sampler thread is descheduled at times and
    // one late sample would be charged with the whole gap.
    void i;
    const us = SAMPLING_INTERVAL_US;
    const node = byId.get(sample);
    if (!node) return;
    total += us;
    const key = frameKey(node);
    self.set(key, (self.get(key) ?? 0) + us);
    const { url, lineNumber, functionName } = node.callFrame;
    const file = url?.endsWith("worker.js") ? locate(lineNumber, node.callFrame.columnNumber).file : functionName.startsWith("(") ? functionName : "(runtime / native)";
    files.set(file, (files.get(file) ?? 0) + us);
    const seen = new Set();
    for (let id = sample; id !== undefined; id = parent.get(id)) {
      const k = frameKey(byId.get(id));
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  });
  const top = (map, n) =>
    [...map.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([key, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${String(Math.round(us / SAMPLING_INTERVAL_US)).padStart(6)}  ${key}`)
      .join("\n");
  return [
    // workerd's sampler thread competes for the same 2 cores and takes far fewer samples than asked: trust shares, not absolute time.
    `${profile.samples.length} samples of the objects' isolate (idle included); columns: share of samples, samples`,
    "",
    "self time by source file:",
    top(files, 20),
    "",
    "self time by function:",
    top(self, 30),
    "",
    "inclusive time by function:",
    top(inclusive, 40),
  ].join("\n");
}

const server = await startWrangler();
const watchdog = setTimeout(async () => {
  console.error("profile run timed out");
  terminateLiveSockets();
  await server.stop();
  process.exit(2);
}, WORKLOAD_TIMEOUT_MS + 60_000);
let code = 0;
try {
  const devtools = await inspector(server.inspectorPort);
  const startProfiler = async () => {
    await devtools.send("Profiler.enable");
    await devtools.send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    await devtools.send("Profiler.start");
  };
  let outcome;
  if (workload === "wake") {
    // Only the wakes are profiled: the sockets open and the rooms hibernate before the profiler starts.
    outcome = await wakes(server, startProfiler);
  } else {
    // A warm-up pass outside the profile: the object starts, the code is compiled and optimised.
    await runWorkload(server);
    await startProfiler();
    outcome = await runWorkload(server);
  }
  const { profile } = await devtools.send("Profiler.stop");
  devtools.close();
  const name = [workload, a, b].join("-");
  writeFileSync(join(LOG_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
  console.log(`${name}: ${outcome}\n`);
  console.log(summarize(profile, sourceLocator(server.bundlePath)));
} catch (error) {
  console.error(error);
  code = 1;
} finally {
  clearTimeout(watchdog);
  terminateLiveSockets();
  await server.stop();
}
process.exit(code);
