// What bench/run.mjs and bench/profile.mjs share: starting and stopping `wrangler dev` on the
// benchmark worker, reading the CPU of its processes from /proc, and WebSocket clients.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import workerd from "workerd";
import WebSocket from "ws";
import { benchV8Flags } from "./v8-flags.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const LOG_DIR = join(ROOT, ".wrangler", "bench-logs");
/** Build, state and log directories of a run; `tag` keeps a smoke run's apart from a measuring run's. */
const dirsOf = (tag = "bench") => ({
  build: join(ROOT, ".wrangler", `${tag}-build`),
  state: join(ROOT, ".wrangler", `${tag}-state`),
  logs: join(ROOT, ".wrangler", `${tag}-logs`),
});
const BUILD_TIMEOUT_MS = 120_000;
const WRANGLER_BIN = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
/** The binary wrangler runs (the package is CommonJS: its path is the default export's `default`). */
export const WORKERD_BIN = workerd.default ?? workerd;
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/**
 * A `ping` call as its socket sends it: genparty's protocol to the Actor, as `genparty/client` writes
 * it (with `ack`, the call answered before it on that socket, whose reply the server may then drop);
 * the hand-written call to the other rooms (see bench/worker.ts).
 */
export function callFrame(kind, id, acked) {
  if (kind !== "gp-actor") return `{"t":"call","id":"${id}","msg":{"type":"ping"}}`;
  return `{"gp":1,"t":"call","id":"${id}","msg":{"type":"ping"}${acked === undefined ? "" : `,"ack":["${acked}"]`}}`;
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** A TCP port nothing listens on right now (another session may run `wrangler dev` on 8787 / 9229). */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
  } catch {
    return "unknown";
  }
}

function wranglerEnv(logDir = LOG_DIR) {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: logDir, X_LOCAL_OBSERVABILITY: "false" };
  delete env.CLOUDFLARE_API_TOKEN;
  return env;
}

/**
 * Bundles bench/worker.ts (with lib/ and partyserver) once, with wrangler's own esbuild settings,
 * so a run measures one snapshot of the code: `wrangler dev` would rebuild and restart the objects
 * whenever a file under lib/ changes, mid-run.
 */
export function buildWorker(tag) {
  const dirs = dirsOf(tag);
  rmSync(dirs.build, { recursive: true, force: true });
  mkdirSync(dirs.logs, { recursive: true });
  const build = spawnSync(process.execPath, [WRANGLER_BIN, "deploy", "--dry-run", "-c", "bench/wrangler.toml", "--outdir", dirs.build], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: wranglerEnv(dirs.logs),
    timeout: BUILD_TIMEOUT_MS,
    encoding: "utf8",
  });
  const bundle = join(dirs.build, "worker.js");
  if (build.status !== 0) throw new Error(`bundling bench/worker.ts failed (${build.error?.message ?? `exit ${build.status}`}):\n${build.stderr}${build.stdout}`.slice(0, 4000));
  const sha = createHash("sha256").update(readFileSync(bundle)).digest("hex").slice(0, 12);
  return { bundle, sha };
}

/**
 * Builds the worker, then starts `wrangler dev -c bench/wrangler.toml --no-bundle <bundle>` in its
 * own session (process group), stdin from /dev/null, telemetry off, logs and state under
 * .wrangler/. Resolves once `GET /` answers. `stop()` ends the whole process group; it also runs
 * if this process exits or is interrupted.
 */
export async function startWrangler({ fresh = true, tag, prebuilt } = {}) {
  const dirs = dirsOf(tag);
  // `prebuilt` ({ bundle, sha } of an earlier start) runs the same bundle again without rebuilding it.
  const { bundle, sha } = prebuilt ?? buildWorker(tag);
  mkdirSync(dirs.logs, { recursive: true });
  if (fresh) rmSync(dirs.state, { recursive: true, force: true });
  const port = await freePort();
  let inspectorPort = await freePort();
  // Two free ports asked for one after the other can, rarely, be the same one.
  for (let i = 0; i < 5 && inspectorPort === port; i++) inspectorPort = await freePort();
  const logFile = join(dirs.logs, "wrangler-dev.out");
  const out = openSync(logFile, "w");
  const env = wranglerEnv(dirs.logs);
  const v8Flags = benchV8Flags();
  if (v8Flags.length > 0) Object.assign(env, { MINIFLARE_WORKERD_PATH: join(ROOT, "bench", "workerd-v8-flags"), BENCH_WORKERD: WORKERD_BIN, BENCH_NODE: process.execPath });
  const args = [
    WRANGLER_BIN, "dev", "-c", "bench/wrangler.toml", "--no-bundle", bundle,
    "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--persist-to", dirs.state,
    "--show-interactive-dev-session=false",
  ];
  const started = Date.now();
  // detached: the child calls setsid(), so its pid is the process group of wrangler, esbuild and both workerds.
  const child = spawn(process.execPath, args, { cwd: ROOT, detached: true, stdio: ["ignore", out, out], env });
  closeSync(out);
  const pgid = child.pid;
  let exited = false;
  child.once("exit", () => (exited = true));

  let stopped = false;
  const killGroup = (signal) => {
    try {
      process.kill(-pgid, signal);
    } catch {
      // Already gone.
    }
  };
  const onExit = () => !stopped && killGroup("SIGKILL");
  const onSignal = (signal) => {
    killGroup("SIGTERM");
    stopped = true;
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("exit", onExit);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    killGroup("SIGTERM");
    const until = Date.now() + STOP_GRACE_MS;
    while (groupPids(pgid).length > 0 && Date.now() < until) await sleep(100);
    if (groupPids(pgid).length > 0) killGroup("SIGKILL");
    process.off("exit", onExit);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };

  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before it was ready; see ${logFile}`);
    }
    if (Date.now() - started > READY_TIMEOUT_MS) {
      await stop();
      throw new Error(`wrangler dev was not ready within ${READY_TIMEOUT_MS} ms; see ${logFile}`);
    }
    try {
      const response = await fetch(`${base}/`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  return { pgid, port, inspectorPort, dirs, base, bundlePath: bundle, bundleSha: sha, wsBase: `ws://127.0.0.1:${port}`, logFile, startupMs: Date.now() - started, stop };
}

// ── /proc ─────────────────────────────────────────────────────────────────────

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { pgid: Number(rest[2]), utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return undefined;
  }
}

function groupPids(pgid) {
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    if (readStat(entry)?.pgid === pgid) pids.push(Number(entry));
  }
  return pids;
}

/** The workerd processes of the group: "user" runs the Durable Objects (it has the inspector), "proxy" fronts it. */
export function serverProcesses(pgid) {
  const processes = [];
  for (const pid of groupPids(pgid)) {
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (!cmdline.includes("workerd")) continue;
    processes.push({ pid, role: cmdline.includes("--inspector-addr") ? "user" : "proxy" });
  }
  return processes;
}

/** CPU seconds used so far by each role (user, proxy). */
export function cpuSeconds(processes) {
  const seconds = { user: 0, proxy: 0 };
  for (const { pid, role } of processes) {
    const stat = readStat(pid);
    if (stat) seconds[role] += (stat.utime + stat.stime) / CLK_TCK;
  }
  return seconds;
}

/** CPU seconds used by every process of the group (wrangler, esbuild, both workerds). */
export function groupCpuSeconds(pgid) {
  let seconds = 0;
  for (const pid of groupPids(pgid)) {
    const stat = readStat(pid);
    if (stat) seconds += (stat.utime + stat.stime) / CLK_TCK;
  }
  return seconds;
}

/** CPU seconds the whole machine has been busy (all cores, everything but idle and iowait). */
export function machineBusySeconds() {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / CLK_TCK;
}

/**
 * CPU seconds used so far by each role, to the nanosecond: the sum of /proc/<pid>/task/<tid>/schedstat
 * (time on CPU) over every thread. /proc/<pid>/stat counts in clock ticks (10 ms), too coarse for
 * one message. Falls back to the ticks where schedstat is missing.
 */
export function preciseCpuSeconds(processes) {
  const seconds = { user: 0, proxy: 0 };
  for (const { pid, role } of processes) {
    let ns = 0;
    let found = false;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
          found = true;
        } catch {
          // The thread ended.
        }
      }
    } catch {
      // The process ended.
    }
    if (found) seconds[role] += ns / 1e9;
    else {
      const stat = readStat(pid);
      if (stat) seconds[role] += (stat.utime + stat.stime) / CLK_TCK;
    }
  }
  return seconds;
}

export function rssKiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

// ── clients ───────────────────────────────────────────────────────────────────

const SOCKET_OPTIONS = { perMessageDeflate: false, skipUTF8Validation: true };
/** Every client socket not yet closed, so a scenario that fails or times out can't leave any behind. */
export const liveSockets = new Set();

export function terminateLiveSockets() {
  for (const socket of liveSockets) socket.terminate();
  liveSockets.clear();
}

/** Opens one socket; resolves with it and how long the handshake took, rejects on error or after `timeoutMs`. */
export function openSocket(url, timeoutMs) {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const socket = new WebSocket(url, SOCKET_OPTIONS);
    liveSockets.add(socket);
    socket.once("close", () => liveSockets.delete(socket));
    const timer = setTimeout(() => {
      socket.terminate();
      fail(new Error(`connect to ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("open", () => {
      clearTimeout(timer);
      done({ socket, ms: performance.now() - t0 });
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      fail(error);
    });
  });
}

/** Opens `count` sockets, `concurrency` handshakes at a time. */
export async function openSockets(url, count, concurrency, deadline) {
  const sockets = [];
  const latencies = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      const { socket, ms } = await openSocket(url, Math.max(1, deadline - Date.now()));
      sockets[index] = socket;
      latencies.push(ms);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  } catch (error) {
    for (const socket of sockets) socket?.terminate();
    throw error;
  }
  return { sockets, latencies };
}

/** Closes the sockets and waits (bounded) for each close handshake, so the room has heard of them before the next scenario. */
export async function closeSockets(sockets, timeoutMs = 10_000) {
  const open = sockets.filter((socket) => socket && socket.readyState !== WebSocket.CLOSED);
  const closed = Promise.all(open.map((socket) => new Promise((done) => (socket.readyState === WebSocket.CLOSED ? done() : socket.once("close", done)))));
  for (const socket of open) socket.close(1000, "bench done");
  const timer = sleep(timeoutMs).then(() => "timeout");
  if ((await Promise.race([closed, timer])) === "timeout") for (const socket of open) socket.terminate();
}

/** The median of the finite values (the mean of the middle two for an even count); NaN for none. */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A figure with as many digits as it needs: 1,234 · 123 · 12.3 · 1.23. */
export function fmt(value) {
  if (value === undefined || value === null || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ── inspector ─────────────────────────────────────────────────────────────────

/** A minimal Chrome DevTools Protocol client. */
export async function inspector(port) {
  const targets = await fetch(`http://127.0.0.1:${port}/json`).then((r) => r.json());
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((done, fail) => (socket.once("open", done), socket.once("error", fail)));
  let id = 0;
  const waiting = new Map();
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString());
    if (message.id !== undefined && waiting.has(message.id)) {
      const { done, fail } = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.error) fail(new Error(`${message.error.message}`));
      else done(message.result);
    }
  });
  const send = (method, params = {}) =>
    new Promise((done, fail) => {
      waiting.set(++id, { done, fail });
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => socket.close() };
}
