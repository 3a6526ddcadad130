// The benchmark worker (bench/wrangler.toml): the same tiny room written several ways, side by
// side, so one `wrangler dev` serves every target of bench/run.mjs. Every room broadcasts each frame
// it gets to every open socket, the sender included; the `…Persisted` subclasses first count each
// message in storage (one row updated in place: the write an Actor's state commit makes); the
// `…Mem` ones keep their sockets in memory instead of hibernating them; the MachineServer room
// turns each frame into an event and pushes the new state to every socket.
// Every room answers a plain HTTP request with 200 "ok". A text frame starting with "!" is not
// broadcast (nor persisted): it goes back to its sender only, as `<frame>@<ms>`, where <ms> is how
// long ago this instance of the object was constructed — the `wake` scenario sends one after the
// room has been idle and checks that the object was evicted and woke for it (all but MachineServer).
// A text frame starting with `{"t":"call"` is a call written by hand (the `calls` scenario): the
// raw, partyserver and Server rooms parse it and answer its sender `{"t":"reply","id":…,"ok":<n>}`;
// the Actor room gets genparty's own protocol frames (`{"gp":1,"t":"call",…}`) through handleCall.
// Every room answers a ping, over a socket or RPC, with how many pings this instance has handled:
// the `calls` scenario can tell a call the room ran from one the Actor answered from its remembered
// answers (a repeated id), and the RPC loop a ping that ran from one lost.
import { DurableObject } from "cloudflare:workers";
import { type Connection as PsConnection, routePartykitRequest as partyserverRoute, Server as PartyServer, type WSMessage as PsMessage } from "partyserver";
import { assign, setup } from "xstate";
import { Actor, type Call, type Connection, type From, getActor, type Info, noreply, reply, routePartykitRequest, Server, type WSMessage } from "../lib/index.js";
import { MachineServer } from "../lib/machine/index.js";

/**
 * A persisted room's write per message: its one counter row, updated in place. Every room writes
 * the same: the Actor room's state is that count, and its commit updates one row. (Rooms that
 * appended each message to an AUTOINCREMENT table instead wrote two pages per commit to the Actor's
 * one, which a new room's log file on a local disk rewards: bench/readings.md, "One write for every room".)
 */
const COUNT_MESSAGE = "UPDATE bench_counter SET n = n + 1 WHERE id = 1";

/** The counter row: made by the raw room's constructor (its RPC `incr` uses it too) and by the hooks rooms' onStart. */
function makeCounter(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS bench_counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)");
  sql.exec("INSERT OR IGNORE INTO bench_counter (id, n) VALUES (1, 0)");
}

/** What a GET answers: "ok", and in a persisted room how many messages it counted, which the smoke run checks. */
function okAnswer(persisted: boolean, sql: SqlStorage): Response {
  if (!persisted) return new Response("ok");
  return new Response(`ok ${sql.exec<{ n: number }>("SELECT n FROM bench_counter WHERE id = 1").one().n}`);
}
/** Close codes a peer may not send back (see lib/actor/sockets.ts). */
const RESERVED_CLOSE_CODES = new Set([1005, 1006, 1015]);

/** An "echo to sender only" frame: a text frame starting with "!". */
function isSenderOnly(message: unknown): message is string {
  return typeof message === "string" && message.charCodeAt(0) === 0x21;
}

/** What a room sends back for a sender-only frame: the frame and the age of the object's instance. */
function senderOnlyReply(message: string, bornAt: number): string {
  return `${message}@${Date.now() - bornAt}`;
}

const CALL_PREFIX = '{"t":"call"';

/** What answers pings: counts them, so each answer says how many this instance has handled. */
interface PingCounter {
  pings: number;
}

/** A hand-written call over the socket: `{"t":"call","id":…,"msg":{"type":"ping"}}` → its reply frame, else undefined. */
function handCall(room: PingCounter, message: unknown): string | undefined {
  if (typeof message !== "string" || !message.startsWith(CALL_PREFIX)) return undefined;
  const { id, msg } = JSON.parse(message) as { id: string; msg: { type: string } };
  return JSON.stringify(msg.type === "ping" ? { t: "reply", id, ok: ++room.pings } : { t: "reply", id, err: "unknown call" });
}

/** What a hooks room is made of, in partyserver and in genparty alike (`ctx` is protected there: callers cast). */
interface HooksRoom extends PingCounter {
  readonly ctx: DurableObjectState;
  readonly bornAt: number;
  readonly persisted: boolean;
  broadcast(message: string | ArrayBuffer | ArrayBufferView): void;
}

/** The room's `onMessage`, the same on partyserver's Server and genparty's: the two run one body. */
function roomMessage(room: HooksRoom, connection: { send(message: string): void }, message: string | ArrayBuffer | ArrayBufferView): void {
  if (isSenderOnly(message)) return connection.send(senderOnlyReply(message, room.bornAt));
  const answer = handCall(room, message);
  if (answer !== undefined) return connection.send(answer);
  if (room.persisted) room.ctx.storage.sql.exec(COUNT_MESSAGE);
  room.broadcast(message);
}

// ── (a) a hand-written Durable Object: the baseline ─────────────────────────────

/** Hibernatable WebSockets and plain RPC methods, nothing else: what the other rooms are measured against. */
export class RawRoom extends DurableObject<Cloudflare.Env> {
  readonly bornAt = Date.now();
  notes = 0;
  pings = 0;

  get persisted(): boolean {
    return false;
  }

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    makeCounter(ctx.storage.sql);
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return okAnswer(this.persisted, this.ctx.storage.sql);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(sender: WebSocket, message: string | ArrayBuffer): void {
    if (isSenderOnly(message)) return sender.send(senderOnlyReply(message, this.bornAt));
    const answer = handCall(this, message);
    if (answer !== undefined) return sender.send(answer);
    if (this.persisted) this.ctx.storage.sql.exec(COUNT_MESSAGE);
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.send(message);
      } catch {
        // Closing; its close event follows.
      }
    }
  }

  override webSocketClose(socket: WebSocket, code: number, reason: string): void {
    if (RESERVED_CLOSE_CODES.has(code)) return;
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  /** RPC baseline for a call that changes nothing but the count of pings. Takes the same message the genparty call carries, so both send as much. */
  ping(msg: BenchCall): number {
    void msg;
    return ++this.pings;
  }

  /** RPC baseline for a cast: a method that returns nothing, counted in memory so the loop can check none was lost. */
  note(msg: BenchCast): void {
    void msg;
    this.notes++;
  }

  /** How many `note`s this instance ran. */
  noted(): number {
    return this.notes;
  }

  /** RPC baseline for a call that writes: one SQL UPDATE. */
  incr(msg: BenchCall): number {
    void msg;
    return this.ctx.storage.sql.exec<{ n: number }>("UPDATE bench_counter SET n = n + 1 WHERE id = 1 RETURNING n").one().n;
  }
}

export class RawRoomPersisted extends RawRoom {
  override get persisted(): boolean {
    return true;
  }
}

/** The raw room with in-memory sockets: `accept()` and event listeners, its own Set of sockets (the object stays awake). */
export class RawMemRoom extends DurableObject<Cloudflare.Env> {
  readonly #sockets = new Set<WebSocket>();
  readonly bornAt = Date.now();

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("ok");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    server.accept();
    this.#sockets.add(server);
    server.addEventListener("message", (event) => {
      if (isSenderOnly(event.data)) return server.send(senderOnlyReply(event.data, this.bornAt));
      for (const socket of this.#sockets) {
        try {
          socket.send(event.data);
        } catch {
          // Closing; its close event follows.
        }
      }
    });
    server.addEventListener("close", (event) => {
      this.#sockets.delete(server);
      if (RESERVED_CLOSE_CODES.has(event.code)) return;
      try {
        server.close(event.code, event.reason);
      } catch {
        // Already closed.
      }
    });
    server.addEventListener("error", () => this.#sockets.delete(server));
    return new Response(null, { status: 101, webSocket: client });
  }
}

// ── (b) upstream partyserver 0.5.10 ─────────────────────────────────────────────

export class PartyRoom extends PartyServer<Cloudflare.Env> {
  // partyserver's default is in-memory sockets; the baseline hibernates, so this does too.
  static override options = { hibernate: true };
  readonly bornAt = Date.now();
  pings = 0;

  get persisted(): boolean {
    return false;
  }

  override onStart(): void {
    if (this.persisted) makeCounter(this.ctx.storage.sql);
  }

  override onMessage(connection: PsConnection, message: PsMessage): void {
    roomMessage(this as unknown as HooksRoom, connection, message);
  }

  override onRequest(): Response {
    return okAnswer(this.persisted, this.ctx.storage.sql);
  }
}

export class PartyRoomPersisted extends PartyRoom {
  override get persisted(): boolean {
    return true;
  }
}

/** partyserver's own default: sockets in memory. */
export class PartyMemRoom extends PartyRoom {
  static override options = { hibernate: false };
}

// ── (c) genparty's Server: the same hooks on the actor core ─────────────────────

export class GpServerRoom extends Server<Cloudflare.Env> {
  readonly bornAt = Date.now();
  pings = 0;

  get persisted(): boolean {
    return false;
  }

  override onStart(): void {
    if (this.persisted) makeCounter(this.ctx.storage.sql);
  }

  override onMessage(connection: Connection, message: WSMessage): void {
    roomMessage(this as unknown as HooksRoom, connection, message);
  }

  override onRequest(): Response {
    return okAnswer(this.persisted, this.ctx.storage.sql);
  }
}

export class GpServerRoomPersisted extends GpServerRoom {
  override get persisted(): boolean {
    return true;
  }
}

/** The same hooks with in-memory sockets. */
export class GpServerMemRoom extends GpServerRoom {
  static override options = { hibernate: false };
}

// ── (d) the room as a genparty Actor ────────────────────────────────────────────

export type BenchCall = Call<{ type: "ping" }, number> | Call<{ type: "incr" }, number> | Call<{ type: "noted" }, number>;
/** A cast that changes nothing: the instance counts it in memory (not in state, which would be a write per cast). */
export interface BenchCast {
  type: "note";
}
interface Count {
  n: number;
}

/** Frames arrive as `handleInfo({ type: "message" })`; persisted, each one bumps `n`, so every message commits a turn. */
export class GpActorRoom extends Actor<Cloudflare.Env, Count, BenchCall, BenchCast> {
  readonly bornAt = Date.now();
  notes = 0;
  pings = 0;

  get persisted(): boolean {
    return false;
  }

  init(): Count {
    return { n: 0 };
  }

  override handleCall(msg: BenchCall, _from: From, state: Count) {
    if (msg.type === "noted") return reply(this.notes);
    return msg.type === "ping" ? reply(++this.pings) : reply(state.n + 1, { n: state.n + 1 });
  }

  override handleCast(_msg: BenchCast) {
    this.notes++;
    return noreply<Count>();
  }

  override handleRequest(_request: Request, _from: From, state: Count) {
    // Persisted, every frame counted in `n`: the smoke run checks the count.
    return reply(new Response(this.persisted ? `ok ${state.n}` : "ok"));
  }

  override handleInfo(info: Info, state: Count) {
    if (info.type !== "message") return noreply<Count>();
    if (isSenderOnly(info.data)) {
      info.connection.send(senderOnlyReply(info.data, this.bornAt));
      return noreply<Count>();
    }
    this.broadcast(info.data);
    return this.persisted ? noreply({ n: state.n + 1 }) : noreply<Count>();
  }
}

export class GpActorRoomPersisted extends GpActorRoom {
  override get persisted(): boolean {
    return true;
  }
}

// ── (e) the room as a genparty MachineServer ────────────────────────────────────

/**
 * A chat: `{ type: "say", text }` (a JSON text frame) records the text as `last` and counts it, and
 * MachineServer pushes the new view `{ value, context: { last, n }, status }` to every connection.
 * The context keeps only the last text, not a list: a list would grow with every message of a
 * fan-out, and the turn's snapshot JSON with it. Every event changes the snapshot, so every message
 * is a turn that commits (MachineServer saves its snapshot in the turn, like the persisted Actor).
 */
export const benchChat = setup({
  types: { context: {} as { last: string; n: number }, events: {} as { type: "say"; text: string } },
}).createMachine({
  id: "bench-chat",
  context: { last: "", n: 0 },
  initial: "open",
  states: {
    open: { on: { say: { actions: assign(({ context, event }) => ({ last: event.text, n: context.n + 1 })) } } },
  },
});

export class GpMachineRoom extends MachineServer<Cloudflare.Env, typeof benchChat> {
  static override machine = benchChat;

  override handleRequest() {
    return reply(new Response("ok"));
  }
}

// ── the worker ──────────────────────────────────────────────────────────────────

/** Stops an RPC loop that takes longer than this unless the harness gives its own time left (`ms`), so a hang can't hold the request. */
const RPC_LOOP_DEADLINE_MS = 50_000;

type RpcTarget = "raw" | "gp";
type RpcOp = "ping" | "incr" | "ping-fresh" | "cast";

/**
 * `GET /rpc?target=raw|gp&op=ping|incr|ping-fresh|cast&n=…&c=…&room=…` runs `n` calls from this worker,
 * `c` in flight at a time, and answers with the time they took. `ping-fresh` takes a new stub (or
 * `getActor` ref) for every call, as a worker handling one request per call would; `cast` sends
 * `ActorRef.cast` against a raw method that returns nothing.
 */
async function rpcLoop(url: URL, env: Cloudflare.Env): Promise<Response> {
  const target = url.searchParams.get("target") as RpcTarget;
  const op = url.searchParams.get("op") as RpcOp;
  const n = Number(url.searchParams.get("n") ?? 1000);
  const concurrency = Math.max(1, Math.min(n, Number(url.searchParams.get("c") ?? 1)));
  const room = url.searchParams.get("room") ?? "rpc";
  const within = Math.min(RPC_LOOP_DEADLINE_MS, Number(url.searchParams.get("ms") ?? RPC_LOOP_DEADLINE_MS));
  if ((target !== "raw" && target !== "gp") || !["ping", "incr", "ping-fresh", "cast"].includes(op)) {
    return new Response("bad target or op", { status: 400 });
  }
  const rawStub = env.BENCH_RAW.getByName(room);
  const ref = getActor(env.BENCH_GP_ACTOR, room);
  const one = () => 1;
  const callOnce = (): Promise<number> => {
    if (op === "cast") return (target === "raw" ? rawStub.note({ type: "note" }) : ref.cast({ type: "note" })).then(one);
    if (target === "raw") {
      if (op === "ping-fresh") return env.BENCH_RAW.getByName(room).ping({ type: "ping" }) as Promise<number>;
      return (op === "ping" ? rawStub.ping({ type: "ping" }) : rawStub.incr({ type: "incr" })) as Promise<number>;
    }
    if (op === "ping-fresh") return getActor(env.BENCH_GP_ACTOR, room).call({ type: "ping" });
    return ref.call({ type: op === "ping" ? "ping" : "incr" });
  };
  const noted = () => (target === "raw" ? (rawStub.noted() as Promise<number>) : ref.call({ type: "noted" }));
  // Warm-up: the object starts (and genparty loads its state) before the clock runs.
  await callOnce();
  const notedBefore = op === "cast" ? await noted() : 0;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const started = performance.now();
  const deadline = Date.now() + within;
  // Every answer is checked: each ping and each incr answers a count no other got.
  const counts = new Set<number>();
  const lane = async () => {
    while (issued < n && Date.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        const value = await callOnce();
        const elapsed = performance.now() - t0;
        const right = op === "cast" ? value === 1 : Number.isInteger(value) && value > 0 && !counts.has(value);
        if (!right) throw new Error(`${op} answered ${JSON.stringify(value)}`);
        counts.add(value);
        latencies.push(elapsed);
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const ms = performance.now() - started;
  // A cast answers nothing: the object's count says whether each one ran.
  if (op === "cast") {
    const ran = (await noted()) - notedBefore;
    if (ran !== latencies.length) {
      errors++;
      firstError ??= `${latencies.length} casts sent, ${ran} ran`;
    }
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? null;
  return Response.json({ target, op, n, concurrency, done: latencies.length, errors, firstError, ms, p50: pct(50), p99: pct(99) });
}

/**
 * `GET /fetch-loop?path=/gp/bench-gp-server/<room>&n=…&c=…` sends `n` GETs for `path` through this
 * worker's own routing, `c` at a time, as if they had come in over HTTP, and answers with the time
 * they took. No client, proxy or HTTP parsing is in it: the lab's `http` workload reads what a
 * router and a room's turn cost (under `wrangler dev` the proxy's ~2 ms a request hides it).
 */
async function fetchLoop(url: URL, env: Cloudflare.Env): Promise<Response> {
  const path = url.searchParams.get("path") ?? "";
  const n = Number(url.searchParams.get("n") ?? 1000);
  const concurrency = Math.max(1, Math.min(n, Number(url.searchParams.get("c") ?? 20)));
  if (!/^\/(raw|ps|gp)\//.test(path)) return new Response("path must be a room's: /raw/…, /ps/… or /gp/…", { status: 400 });
  let issued = 0;
  let done = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const lane = async () => {
    while (issued < n) {
      issued++;
      const response = await route(new Request(`http://bench${path}`), env);
      const body = await response.text();
      if (response.status === 200 && body === "ok") done++;
      else firstError ??= `${response.status} ${body.slice(0, 120)}`;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return Response.json({ n, done, firstError, ms: performance.now() - started });
}

async function route(request: Request, env: Cloudflare.Env): Promise<Response> {
  const url = new URL(request.url);
  const parts = url.pathname.split("/").filter(Boolean);
  if (parts.length === 0) return new Response("genparty bench");
  if (parts[0] === "rpc") return rpcLoop(url, env);
  if (parts[0] === "fetch-loop") return fetchLoop(url, env);
  // `/raw/<BINDING>/<room>`: a hand-written worker would reach its object this directly.
  if (parts[0] === "raw" && parts.length === 3) {
    const room = decodeURIComponent(parts[2]!);
    if (parts[1] === "BENCH_RAW_MEM") return env.BENCH_RAW_MEM.getByName(room).fetch(request);
    if (parts[1] === "BENCH_RAW_PERSISTED") return env.BENCH_RAW_PERSISTED.getByName(room).fetch(request);
    if (parts[1] === "BENCH_RAW") return env.BENCH_RAW.getByName(room).fetch(request);
    // The Actor room without genparty's router (`node bench/profile.mjs http gp-actor-direct`): what routing adds.
    if (parts[1] === "BENCH_GP_ACTOR") return env.BENCH_GP_ACTOR.getByName(room).fetch(request);
    // Not the plain room: a misspelt path would measure another room than it says.
    return new Response(`no raw binding ${parts[1]}`, { status: 404 });
  }
  // Each library's own router, as its users would call it: `/ps/bench-party/<room>`, `/gp/bench-gp-server/<room>`.
  if (parts[0] === "ps") return (await partyserverRoute(request, env, { prefix: "ps" })) ?? new Response("no such party", { status: 404 });
  if (parts[0] === "gp") return (await routePartykitRequest(request, env, { prefix: "gp" })) ?? new Response("no such room", { status: 404 });
  return new Response("not found", { status: 404 });
}

export default {
  fetch: route,
} satisfies ExportedHandler<Cloudflare.Env>;
