// The `memory` scenario of bench/run.mjs: what 1,000 open connections cost a room in memory.
//
// Each target gets a workerd of its own, started for this measurement and stopped after it: in a
// shared one, a room whose sockets reuse memory an earlier room freed grows by a fraction of what
// the first room grew (the same room measured 108 then 8.5 MiB per 1,000 in two rounds).
import { rmSync } from "node:fs";
import { closeSockets, openSocket, openSockets, rssKiB, serverProcesses, sleep, startWrangler } from "./harness.mjs";


/**
 * Opens one socket (the object starts and its code is compiled), reads the DO workerd's RSS, opens
 * `count` more sockets to the same room, and reads it again (each read `settleMs` after the sockets
 * opened, for the platform to finish accepting them). (The isolate's JS heap would be the
 * finer figure, but workerd's inspector never answers `HeapProfiler.collectGarbage`, and without a
 * collection the heap counts garbage.)
 */
export async function measureMemory(kind, { count, concurrency, deadline, prebuilt, room, tag, settleMs }) {
  let server;
  try {
    server = await startWrangler({ tag, prebuilt });
  } catch {
    // A free port can be taken between finding it and wrangler binding it: once more, on new ports.
    server = await startWrangler({ tag, prebuilt });
  }
  const sockets = [];
  let failed = true;
  try {
    const user = serverProcesses(server.pgid).find((p) => p.role === "user");
    if (!user) throw new Error("could not find the workerd running the objects");
    const url = server.wsBase + kind.path(false, room);
    sockets.push((await openSocket(url, deadline - Date.now())).socket);
    await sleep(settleMs);
    const rss0 = rssKiB(user.pid);
    const opened = await openSockets(url, count, concurrency, deadline);
    sockets.push(...opened.sockets);
    await sleep(settleMs);
    const rss1 = rssKiB(user.pid);
    const open = opened.sockets.filter((socket) => socket.readyState === socket.OPEN).length;
    const per1k = 1000 / Math.max(1, open);
    failed = false;
    return {
      complete: open === count,
      done: open,
      expected: count,
      rssMiBPer1k: ((rss1 - rss0) / 1024) * per1k,
      rssKiBBefore: rss0,
      rssKiBOpen: rss1,
    };
  } finally {
    await closeSockets(sockets);
    await server.stop();
    // Its state and logs are of no use after a measurement; a failed one keeps its log.
    for (const dir of failed ? [server.dirs.state] : [server.dirs.state, server.dirs.logs]) rmSync(dir, { recursive: true, force: true });
  }
}
