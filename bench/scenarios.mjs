// The scenarios of bench/run.mjs: each drives one target through one workload and returns its metrics.
import { callFrame, closeSockets, openSocket, openSockets, percentile, preciseCpuSeconds, rssKiB, sleep } from "./harness.mjs";
import { CONFIG, CONNECT_WARMUP, ECHO_WARMUP, runId, SMOKE, STALL_MS } from "./config.mjs";

const WAKE_WARMUP_SOCKETS = 20;

/** The running `wrangler dev` and its workerd processes (refreshed before each scenario). */
export const live = { server: undefined, processes: [] };

function serverCpu(before, after, count, unit) {
  const user = after.user - before.user;
  const all = user + after.proxy - before.proxy;
  return { [`cpuUser${unit}`]: (user * 1e6) / count, [`cpuAll${unit}`]: (all * 1e6) / count };
}

/** One client, messages one after another: the room's echo latency with nothing else going on. */
export function echo(kind, tag, deadline) {
  return roundTrips(kind, [`echo-${kind.key}-${runId}-${tag}`], deadline, CONFIG.echo, echoProtocol(kind));
}

/** The frames of an echo in `kind`'s room, and how to find the answer in what comes back. */
function echoProtocol(kind) {
  const encode = kind.encode ?? ((text) => text);
  return {
    frame: (i) => encode(`000${i}`),
    extract: kind.extract,
    // Smoke runs check what came back; measuring runs don't spend client time on it.
    check: SMOKE ? (data, i) => data.toString("latin1") === `000${i}` : undefined,
  };
}

/**
 * One client, calls one after another over the socket: genparty's protocol (`{"gp":1,"t":"call",…}`
 * → handleCall → `{"gp":1,"t":"reply",…}`) on the Actor, the same call parsed and answered by hand
 * in the other rooms' message handlers.
 */
export function calls(kind, tag, deadline) {
  return roundTrips(kind, [`calls-${kind.key}-${runId}-${tag}`], deadline, CONFIG.calls, callProtocol(kind));
}

/**
 * Socket calls under load: as `parallelEcho` is to `echo`, C clients at once, each alone in a
 * room, each making its calls one at a time.
 */
export function parallelCalls(kind, tag, deadline) {
  return roundTrips(kind, roomsApart("parallel-calls", kind, tag), deadline, CONFIG.parallelMsgs, callProtocol(kind));
}

/**
 * The frames of a `ping` call in `kind`'s room (genparty's protocol on the Actor, the hand-written
 * one elsewhere) and its reply, which carries how many pings the room has handled: the socket's
 * n-th call must be the room's n-th ping, not an answer the Actor remembered for a repeated id.
 */
function callProtocol(kind) {
  return {
    // One call at a time on the socket: the one before was answered.
    frame: (i) => callFrame(kind.key, i, i > 0 ? i - 1 : undefined),
    check: (data, i, nth) => data.includes(`"id":"${i}","ok":${nth}}`),
  };
}

/**
 * A socket's round trips one at a time: `roundTrip(i)` sends `frame(i)` and resolves on the answer
 * (`extract` skips frames that aren't one), rejects if the socket closes or `deadline` passes.
 * `check(answer, i, nth)` counts the wrong answers; `nth` is the round trip's place on the socket, from 1.
 */
function roundTripper(socket, deadline, { frame, extract, check }) {
  let next;
  let current = 0;
  let sent = 0;
  let wrong = 0;
  socket.on("message", (data) => {
    if (extract && !(data = extract(data))) return;
    if (check && !check(data, current, sent)) wrong++;
    next?.resolve();
  });
  socket.on("close", () => next?.reject(new Error("the socket closed")));
  const stallTimer = setInterval(() => Date.now() > deadline && next?.reject(new Error("scenario timed out")), 250);
  return {
    roundTrip(i) {
      current = i;
      sent++;
      const answered = new Promise((resolve, reject) => (next = { resolve, reject }));
      socket.send(frame(i));
      return answered;
    },
    wrong: () => wrong,
    stop: () => clearInterval(stallTimer),
  };
}

/**
 * One client per room, all at once, each sending `frame(i)` and waiting for the answer, `count`
 * times after a warm-up: round trips/s (all clients together), p50/p99, CPU per round trip.
 */
async function roundTrips(kind, rooms, deadline, count, protocol) {
  const sockets = [];
  const clients = [];
  try {
    for (const room of rooms) {
      const { socket } = await openSocket(live.server.wsBase + kind.path(false, room), deadline - Date.now());
      sockets.push(socket);
      clients.push(roundTripper(socket, deadline, protocol));
    }
    await Promise.all(clients.map(async (client) => {
      for (let i = 0; i < ECHO_WARMUP; i++) await client.roundTrip(i);
    }));
    const latencies = [];
    const cpu0 = preciseCpuSeconds(live.processes);
    const t0 = performance.now();
    await Promise.all(clients.map(async (client) => {
      // Ids go on from the warm-up's: a call id seen before is answered from the Actor's remembered answers, without a turn.
      for (let i = 0; i < count && Date.now() < deadline; i++) {
        const sent = performance.now();
        await client.roundTrip(ECHO_WARMUP + i);
        latencies.push(performance.now() - sent);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = preciseCpuSeconds(live.processes);
    const wrong = clients.reduce((sum, client) => sum + client.wrong(), 0);
    return roundTripMetrics(latencies, count * clients.length, wrong, seconds, serverCpu(cpu0, cpu1, latencies.length, "UsPerMsg"));
  } finally {
    for (const client of clients) client.stop();
    await closeSockets(sockets);
  }
}

function roundTripMetrics(latencies, expected, wrong, seconds, cpu) {
  latencies.sort((a, b) => a - b);
  return {
    complete: latencies.length === expected && wrong === 0,
    ...(wrong > 0 ? { outcome: `${wrong} answers were not the one expected` } : {}),
    done: latencies.length,
    expected,
    perSec: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...cpu,
  };
}

/**
 * Echo under load: C clients at once, each alone in its own room, each sending its messages one
 * at a time. The same work per message as the one-client echo, but the processes never go idle
 * between messages, so CPU per message is the room's own cost. A lone client's echo also pays, on
 * every message, for waking idle processes (a vCPU here) — a cost that grows with the time a
 * message takes, so it magnifies any difference between rooms.
 */
export function parallelEcho(kind, tag, deadline) {
  return roundTrips(kind, roomsApart("parallel", kind, tag), deadline, CONFIG.parallelMsgs, echoProtocol(kind));
}

/** A room per client of a scenario under load. */
function roomsApart(scenario, kind, tag) {
  return Array.from({ length: CONFIG.parallelClients }, (_, c) => `${scenario}-${kind.key}-${runId}-${tag}-${c}`);
}

/**
 * Persisted acks: one client alone in a new `…Persisted` room sends N frames without waiting; each
 * is written (a SQL INSERT, or the Actor's state commit) and comes back to it, its ack. Then N more
 * on the same socket. Acks/s from the first send to the last ack, and server CPU per ack, for each.
 *
 * Two phases because a new object's first writes cost more locally than later ones, and not by the
 * same amount for every shape of write. Its database's write-ahead log grows by a frame per page
 * a commit writes until the first checkpoint (SQLite's default: 1,000 pages), and is reused after
 * it; a commit that grows the file costs more than one that reuses it. Watched on disk: the WAL of
 * a room writing the Actor's one-page upsert grew 4,120 bytes per commit up to the 1,000th, the
 * raw room's two-page INSERT (the row and its AUTOINCREMENT counter) 8,240 bytes up to the ~500th.
 * So the first N = 1,000 are all growing commits for the Actor and half of them for the others;
 * the next N reuse the file for every room: the steady state of a room that lives.
 */
export async function acks(kind, tag, deadline) {
  const room = `acks-${kind.key}-${runId}-${tag}`;
  const { socket } = await openSocket(live.server.wsBase + kind.path(true, room), deadline - Date.now());
  const count = CONFIG.acks;
  let received = 0;
  let outOfOrder = 0;
  let finish;
  let finished;
  socket.on("message", (data) => {
    if (SMOKE && data.toString("latin1") !== `k${received}`) outOfOrder++;
    if (++received % count === 0) finish("done");
  });
  socket.on("close", () => finish("closed"));
  let lastCount = 0;
  let lastChange = Date.now();
  const watchdog = setInterval(() => {
    if (received !== lastCount) [lastCount, lastChange] = [received, Date.now()];
    if (Date.now() - lastChange > STALL_MS) finish("stalled");
    else if (Date.now() > deadline) finish("timeout");
  }, 250);
  const phase = async (first) => {
    finished = new Promise((resolve) => (finish = resolve));
    const cpu0 = preciseCpuSeconds(live.processes);
    const t0 = performance.now();
    for (let i = first; i < first + count; i++) socket.send(`k${i}`);
    const outcome = await finished;
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = preciseCpuSeconds(live.processes);
    return { outcome, perSec: (received - first) / seconds, ...serverCpu(cpu0, cpu1, received - first, "UsPerAck") };
  };
  try {
    const fresh = await phase(0);
    const after = fresh.outcome === "done" ? await phase(count) : fresh;
    let outcome = after.outcome === "done" && outOfOrder > 0 ? `done, ${outOfOrder} acks out of order` : after.outcome;
    // An ack says the frame came back, not that it was written: the room counts its writes.
    if (SMOKE && outcome === "done") {
      const written = await (await fetch(live.server.base + kind.path(true, room), { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })).text();
      if (written !== `ok ${2 * count}`) outcome = `acked all, but the room says "${written.slice(0, 80)}", not "ok ${2 * count}"`;
    }
    return {
      complete: outcome === "done",
      outcome,
      done: received,
      expected: 2 * count,
      perSec: fresh.perSec,
      cpuUserUsPerAck: fresh.cpuUserUsPerAck,
      cpuAllUsPerAck: fresh.cpuAllUsPerAck,
      afterPerSec: after.perSec,
      afterCpuUserUsPerAck: after.cpuUserUsPerAck,
      afterCpuAllUsPerAck: after.cpuAllUsPerAck,
    };
  } finally {
    clearInterval(watchdog);
    await closeSockets([socket]);
  }
}

/** N clients in one room each send M messages as fast as they can; every message goes to all N. */
export async function fanOut(kind, persisted, tag, deadline) {
  const room = `${persisted ? "persisted" : "broadcast"}-${kind.key}-${runId}-${tag}`;
  const { sockets } = await openSockets(live.server.wsBase + kind.path(persisted, room), CONFIG.clients, 20, deadline);
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
      if (delivered === expected) finish("done");
      else if (delivered > expected) finish("more deliveries than were sent");
    });
  });
  const watchdog = setInterval(() => {
    if (performance.now() - lastDelivery > STALL_MS) finish("stalled");
    else if (Date.now() > deadline) finish("timeout");
  }, 250);
  const cpu0 = preciseCpuSeconds(live.processes);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  for (let seq = 0; seq < m; seq++) {
    for (let i = 0; i < n; i++) {
      sentAt[i][seq] = performance.now();
      sockets[i].send(encode(tags[i] + seq));
    }
  }
  const outcome = await finished;
  const cpu1 = preciseCpuSeconds(live.processes);
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
export async function connect(kind, tag, deadline) {
  const url = live.server.wsBase + kind.path(false, `connect-${kind.key}-${runId}-${tag}`);
  // Handshakes in a room of their own first: the first ones of a run run unoptimized code, and
  // a target measured first would pay for it (the other scenarios warm up the same way).
  const warmUp = await openSockets(live.server.wsBase + kind.path(false, `connect-warm-${kind.key}-${runId}-${tag}`), CONNECT_WARMUP, CONFIG.connectConcurrency, deadline);
  await closeSockets(warmUp.sockets);
  await sleep(200);
  const warm = await openSocket(url, deadline - Date.now());
  await sleep(50);
  const user = live.processes.find((p) => p.role === "user");
  const rss0 = user ? rssKiB(user.pid) : NaN;
  const cpu0 = preciseCpuSeconds(live.processes);
  const t0 = performance.now();
  let opened;
  try {
    opened = await openSockets(url, CONFIG.connect, CONFIG.connectConcurrency, deadline);
  } finally {
    if (!opened) await closeSockets([warm.socket]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = preciseCpuSeconds(live.processes);
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
 * One wake of every target, unmeasured, before the first round: the first object of a class to wake
 * in this workerd compiles its constructor and start path (~10 ms), which a server in service has
 * long done, and would otherwise land on whichever target a round happens to wake first.
 */
export async function wakeWarmUp(kinds, deadline) {
  const rooms = [];
  for (const kind of kinds) {
    const url = live.server.wsBase + kind.path(false, `wake-warm-${kind.key}-${runId}`);
    rooms.push((await openSockets(url, WAKE_WARMUP_SOCKETS, CONFIG.connectConcurrency, deadline)).sockets);
  }
  try {
    await sleep(Math.min(CONFIG.wakeIdleMs, Math.max(0, deadline - Date.now() - 5_000)));
    for (const [socket] of rooms) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.min(10_000, Math.max(1, deadline - Date.now())));
        socket.once("message", () => resolve(clearTimeout(timer)));
        socket.send("!warm-up");
      });
    }
  } finally {
    await closeSockets(rooms.flat());
  }
  return { complete: true, done: kinds.length, expected: kinds.length };
}

/**
 * Wake cost. N sockets into one room of the target (C handshakes at a time), with the user
 * workerd's RSS before and after; then silence (no frames either way, client sockets left open) for
 * longer than workerd keeps an idle object, so it is evicted with its sockets hibernated. Then ONE
 * client sends a sender-only frame ("!…"): the first reply's latency, and the workerd CPU (to the
 * nanosecond, from schedstat) from the send to the reply and to 250 ms after it; a second frame then
 * gives the room's warm round trip. The reply carries the age of the object's instance: older than
 * the silence means it never hibernated (incomplete). Silence and wake are repeated CONFIG.wakesPerRound
 * times: each wake is a sample, for the price of one more idle period, not of a new room.
 */
export async function wakeRound(kind, tag, deadline) {
  const user = live.processes.find((p) => p.role === "user");
  const url = live.server.wsBase + kind.path(false, `wake-${kind.key}-${runId}-${tag}`);
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
  try {
    // `unexpected` counts every frame the room's sockets get; `accounted` what the wakes so far explained.
    const room = { sockets, rss0, openSeconds: (performance.now() - open0) / 1000, unexpected: 0, accounted: 0 };
    await sleep(200);
    room.rssOpen = user ? rssKiB(user.pid) : NaN;
    for (const socket of sockets) socket.on("message", () => room.unexpected++);
    if (!SMOKE) console.log(`  wake ${kind.key}: ${sockets.length} sockets open in ${room.openSeconds.toFixed(1)} s`);
    const wakes = [];
    for (let wakeNo = 0; wakeNo < CONFIG.wakesPerRound; wakeNo++) {
      const idleStart = Date.now();
      await sleep(Math.min(CONFIG.wakeIdleMs, Math.max(0, deadline - Date.now() - 5_000)));
      wakes.push(await wakeOne(room, Date.now() - idleStart, user, deadline));
    }
    return { complete: true, wakes };
  } finally {
    await closeSockets(sockets);
  }
}

/** Wakes one hibernated room with a frame from its middle socket, and measures the reply and the CPU it took. */
async function wakeOne(room, idleMs, user, deadline) {
  const { sockets } = room;
  // Frames while the room slept (there should be none), then this wake's own two replies.
  const unexpectedBefore = room.unexpected;
  const strayWhileIdle = unexpectedBefore - room.accounted;
  const rssIdle = user ? rssKiB(user.pid) : NaN;
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
  const cpu0 = preciseCpuSeconds(live.processes);
  const t0 = performance.now();
  const reply = await ask("!wake");
  const ms = performance.now() - t0;
  const cpuReply = preciseCpuSeconds(live.processes);
  await sleep(250);
  const cpuSettled = preciseCpuSeconds(live.processes);
  const rssWoken = user ? rssKiB(user.pid) : NaN;
  const t1 = performance.now();
  const reply2 = await ask("!warm");
  const warmMs = performance.now() - t1;
  // Each reply is also counted by the waker's own "message" listener.
  const others = strayWhileIdle + room.unexpected - unexpectedBefore - 2;
  room.accounted = room.unexpected;
  const good = reply.startsWith("!wake@") && reply2.startsWith("!warm@");
  const age = Number(reply.slice(reply.indexOf("@") + 1));
  const hibernated = CONFIG.wakeIdleMs === 0 || age < idleMs;
  const problems = [];
  if (!good) problems.push(`unexpected replies ${JSON.stringify(reply)} / ${JSON.stringify(reply2)}`);
  if (!hibernated) problems.push(`the object did not hibernate (its instance was ${age} ms old after ${idleMs} ms of silence)`);
  if (others > 0) problems.push(`${others} frames reached sockets that should have got none`);
  const n = sockets.length;
  return {
    complete: problems.length === 0 && n === CONFIG.wakeSockets,
    ...(problems.length ? { outcome: problems.join("; ") } : {}),
    done: n,
    expected: CONFIG.wakeSockets,
    sockets: n,
    openSeconds: room.openSeconds,
    idleMs,
    instanceAgeMs: age,
    wakeMs: ms,
    warmMs,
    cpuUserWakeMs: (cpuReply.user - cpu0.user) * 1e3,
    cpuAllWakeMs: (cpuReply.user + cpuReply.proxy - cpu0.user - cpu0.proxy) * 1e3,
    cpuUserWakeSettledMs: (cpuSettled.user - cpu0.user) * 1e3,
    rssKiBBefore: room.rss0,
    rssKiBOpen: room.rssOpen,
    rssKiBIdle: rssIdle,
    rssKiBWoken: rssWoken,
    rssMiBPer1kConns: (((room.rssOpen - room.rss0) / (n - 1)) * 1000) / 1024,
  };
}

/** N plain GETs to the room (C in flight), each answered by its onRequest / handleRequest / fetch with 200 "ok". */
export async function http(kind, tag, deadline) {
  const url = live.server.base + kind.path(false, `http-${kind.key}-${runId}-${tag}`);
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
  const cpu0 = preciseCpuSeconds(live.processes);
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
  const cpu1 = preciseCpuSeconds(live.processes);
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
export async function rpc(target, spec, tag, deadline) {
  const params = new URLSearchParams({
    target: target.key,
    op: spec.op,
    n: String(CONFIG.rpcCalls),
    c: String(spec.concurrency),
    room: `rpc-${runId}-${tag}`,
    ms: String(Math.max(1, deadline - Date.now() - 1_000)),
  });
  const cpu0 = preciseCpuSeconds(live.processes);
  const response = await fetch(`${live.server.base}/rpc?${params}`, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
  const cpu1 = preciseCpuSeconds(live.processes);
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
