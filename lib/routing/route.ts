import { env as workerEnv } from "cloudflare:workers";
import { closeReason, isUpgrade } from "../actor/sockets.js";
import { corsHeaders, withCors } from "./cors.js";
import { errorResponse } from "../actor/http-response.js";
import { GenpartyError } from "../protocol/errors.js";
import { checkRoomName, InvalidNameError, startObject, stubFor } from "./names.js";
import { checkRetryOptions, retriesMethod, type RoutingRetryOptions, withRetry } from "./retry.js";

/** Which room a request was routed to, as the hooks see it. (`Env` is accepted for partyserver's `Lobby<Env>` and unused.) */
export interface Lobby<_Env = unknown> {
  /** The `:server` segment in kebab-case, e.g. `my-server`. */
  readonly party: string;
  /** The binding's name in `env`, e.g. `MyServer`. */
  readonly className: string;
  /** The room name, URL-decoded. */
  readonly name: string;
}

type Hook = (request: Request, lobby: Lobby) => Response | Request | void | undefined | Promise<Response | Request | void | undefined>;

export interface PartyServerOptions {
  /** Path prefix before `/:server/:name`. @default "parties" */
  prefix?: string;
  jurisdiction?: DurableObjectJurisdiction;
  locationHint?: DurableObjectLocationHint;
  /** Given to `onStart(props)` over RPC; no header carries them, so a client can neither set nor read them. */
  props?: unknown;
  /** `true` for permissive CORS headers on HTTP responses (and OPTIONS preflights), or your own headers. */
  cors?: boolean | HeadersInit;
  /** Runs before a WebSocket upgrade: a Response answers instead, a Request replaces the original. */
  onBeforeConnect?: Hook;
  /** Runs before an HTTP request: a Response answers instead, a Request replaces the original. */
  onBeforeRequest?: Hook;
  /** Retries transient Durable Object errors of idempotent requests (the body is replayed; hooks run once). `false` turns it off. @default { maxAttempts: 3 } */
  routingRetry?: RoutingRetryOptions | false;
}

type Bindings = Map<string, string>;
const bindingsByEnv = new WeakMap<object, Bindings>();

/** `MyServer` → `my-server`, `MY_SERVER` → `my-server`, `Room_` → `room`: the party names partyserver gives. */
export function toKebab(binding: string): string {
  if (binding === binding.toUpperCase() && binding !== binding.toLowerCase()) return binding.toLowerCase().replaceAll("_", "-");
  return binding
    .replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)
    .replace(/^-/, "")
    .replaceAll("_", "-")
    .replace(/-$/, "");
}

/** Durable Object bindings in `env`, found by kebab-case or binding name, case-insensitively. */
function bindingsOf(env: object): Bindings {
  let bindings = bindingsByEnv.get(env);
  if (!bindings) {
    bindings = new Map();
    for (const [key, value] of Object.entries(env)) {
      if (typeof (value as { idFromName?: unknown } | null)?.idFromName !== "function") continue;
      bindings.set(key.toLowerCase(), key);
      bindings.set(toKebab(key), key);
    }
    bindingsByEnv.set(env, bindings);
  }
  return bindings;
}

/**
 * Routes `/${prefix}/:server/:name` to the Durable Object of binding `:server` (written as the
 * binding, `MyServer`, or kebab-case, `my-server`, in any case) named `:name` (URL-decoded).
 * Returns `null` when the path doesn't match or no binding has that name: the worker decides.
 *
 * @example
 * export default {
 *   async fetch(request, env) {
 *     return (await routePartykitRequest(request, env)) ?? new Response("Not found", { status: 404 });
 *   },
 * };
 */
export async function routePartykitRequest(request: Request, env: object = workerEnv, options: PartyServerOptions = {}): Promise<Response | null> {
  // Checked here, before any request reaches an object, so bad options fail on every path alike.
  const retry = checkRetryOptions(options.routingRetry);
  // `||`, as partyserver reads it: an empty prefix is the default one.
  const prefix = (options.prefix || "parties").split("/").filter(Boolean);
  const parts = new URL(request.url).pathname.split("/").filter(Boolean);
  if (parts.length < prefix.length + 2 || prefix.some((segment, i) => parts[i] !== segment)) return null;
  const party = parts[prefix.length]!;
  const className = bindingsOf(env).get(party.toLowerCase());
  if (!className) return null;
  const cors = corsHeaders(options.cors);
  let name: string;
  try {
    name = checkRoomName(decodeURIComponent(parts[prefix.length + 1]!));
  } catch (error) {
    const message = error instanceof InvalidNameError ? error.message : `The room name "${parts[prefix.length + 1]}" is not valid URL encoding.`;
    return withCors(new Response(message, { status: 400 }), cors);
  }
  if (request.method === "OPTIONS" && cors) return new Response(null, { status: 200, headers: cors });
  const lobby: Lobby = { party: toKebab(className), className, name };
  const upgrade = isUpgrade(request);
  const hook = upgrade ? options.onBeforeConnect : options.onBeforeRequest;
  // Without a hook the room gets the request as it came: copying one copies `request.cf` too, which
  // measured ~20 µs of CPU per request (bench/readings.md, "The 15:24Z run"), more than the room's own turn.
  let forwarded = request;
  if (hook) {
    // A copy, as partyserver makes: a request a worker received has fixed headers, and hooks set some.
    forwarded = new Request(request);
    forwarded.headers.set("x-partykit-namespace", lobby.party);
    if (options.jurisdiction) forwarded.headers.set("x-partykit-jurisdiction", options.jurisdiction);
    const outcome = await hook(forwarded, lobby);
    if (outcome instanceof Response) return upgrade ? outcome : withCors(outcome, cors);
    if (outcome instanceof Request) forwarded = outcome;
  }
  const namespace = (env as Record<string, DurableObjectNamespace>)[className]!;
  // Only a request that is safe to run twice is tried again (see RoutingRetryOptions.methods).
  const retried = retriesMethod(retry.methods, forwarded.method);
  // The body can be read once: a retried request's is buffered so every attempt sends it again.
  const body = retried && forwarded.body && !upgrade ? await forwarded.arrayBuffer() : undefined;
  const response = await withRetry(
    async () => {
      // A stub that threw may be broken for good: each attempt takes a new one.
      const stub = stubFor(namespace, name, options);
      if (options.props !== undefined) {
        const refused = await startOrRefuse(stub, options.props, `${className}:${name}`, upgrade);
        if (refused) return refused;
      }
      return stub.fetch(body === undefined ? forwarded : new Request(forwarded, { body }));
    },
    retried ? retry : checkRetryOptions(false),
    { name, className },
  );
  return withCors(response, cors);
}

/**
 * Starts the room with its props. A start that failed is answered as the room answers a request
 * it can't start for, without detail: 500, or to a WebSocket client 101 then a 1011 close (a
 * browser can't read an upgrade's HTTP status; it would see a bare network error).
 */
async function startOrRefuse(stub: unknown, props: unknown, label: string, upgrade: boolean): Promise<Response | undefined> {
  try {
    await startObject(stub, props);
    return undefined;
  } catch (error) {
    if (!(error instanceof GenpartyError)) throw error;
    if (!upgrade) return errorResponse(error, label);
    const { 0: client, 1: server } = new WebSocketPair();
    server.accept();
    server.close(1011, closeReason(`${label} could not accept the connection (server error).`));
    return new Response(null, { status: 101, webSocket: client });
  }
}
