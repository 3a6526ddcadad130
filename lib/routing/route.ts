import { env as workerEnv } from "cloudflare:workers";
import { closeReason, isUpgrade } from "../actor/sockets.js";
import { corsHeaders, withCors } from "./cors.js";
import { errorResponse } from "../actor/http-response.js";
import { GenpartyError } from "../protocol/errors.js";
import { checkRoomName, InvalidNameError, startObject, stubFor } from "./names.js";
import { checkRetryOptions, retriesMethod, retryAfter, type RoutingRetryOptions } from "./retry.js";

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

/** A Durable Object binding as routing names it: its key in `env` and its party (kebab-case) name. */
interface Binding {
  readonly className: string;
  readonly party: string;
}

type Bindings = Map<string, Binding>;
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
      const binding: Binding = { className: key, party: toKebab(key) };
      bindings.set(key.toLowerCase(), binding);
      bindings.set(binding.party, binding);
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
 *
 * partyserver's type arguments (`<Env, T, Props>`) are taken, so its calls compile as they are;
 * routing needs none of them.
 */
export async function routePartykitRequest<_Env = unknown, _T = unknown, _Props = unknown>(
  request: Request,
  env: object = workerEnv,
  options: PartyServerOptions = {},
): Promise<Response | null> {
  // Checked here, before any request reaches an object, so bad options fail on every path alike.
  const retry = checkRetryOptions(options.routingRetry);
  const prefix = prefixOf(options.prefix);
  const parts = pathOf(request.url).split("/").filter(Boolean);
  if (parts.length < prefix.length + 2) return null;
  for (let i = 0; i < prefix.length; i++) if (parts[i] !== prefix[i]) return null;
  const binding = bindingsOf(env).get(parts[prefix.length]!.toLowerCase());
  if (!binding) return null;
  const { className } = binding;
  const cors = corsHeaders(options.cors);
  let name: string;
  try {
    name = checkRoomName(decodeURIComponent(parts[prefix.length + 1]!));
  } catch (error) {
    const message = error instanceof InvalidNameError ? error.message : `The room name "${parts[prefix.length + 1]}" is not valid URL encoding.`;
    return withCors(new Response(message, { status: 400 }), cors);
  }
  if (request.method === "OPTIONS" && cors) return new Response(null, { status: 200, headers: cors });
  // Hooks, CORS and props care whether this is an upgrade; a plain route leaves reading the header to the room.
  const upgrade = options.onBeforeConnect || options.onBeforeRequest || cors || options.props !== undefined ? isUpgrade(request) : undefined;
  const hook = upgrade ? options.onBeforeConnect : options.onBeforeRequest;
  // Without a hook the room gets the request as it came: copying one copies `request.cf` too, which
  // measured ~20 µs of CPU per request (bench/readings.md, "The 15:24Z run"), more than the room's own turn.
  let forwarded = request;
  if (hook) {
    const lobby: Lobby = { party: binding.party, className, name };
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
  const retried = retry.maxAttempts > 1 && retriesMethod(retry.methods, forwarded.method);
  // The body can be read once: a retried request's is buffered so every attempt sends it again.
  const body = retried && forwarded.body && !(upgrade ?? isUpgrade(forwarded)) ? await forwarded.arrayBuffer() : undefined;
  const route: Forward = { namespace, name, className, options, request: forwarded, body, upgrade: upgrade === true };
  let response: Response;
  try {
    response = await forward(route);
  } catch (error) {
    if (!retried) throw error;
    // The first attempt runs without the retry loop's closures: it is every request's, the retries are rare.
    response = await retryAfter(error, () => forward(route), retry, { name, className });
  }
  return withCors(response, cors);
}

/** What an attempt to forward a routed request needs. */
interface Forward {
  readonly namespace: DurableObjectNamespace;
  readonly name: string;
  readonly className: string;
  readonly options: PartyServerOptions;
  readonly request: Request;
  /** The buffered body of a retried request, sent again by each attempt. */
  readonly body: ArrayBuffer | undefined;
  readonly upgrade: boolean;
}

function forward({ namespace, name, className, options, request, body, upgrade }: Forward): Promise<Response> {
  // A stub that threw may be broken for good: each attempt takes a new one.
  const stub = stubFor(namespace, name, options);
  const sent = body === undefined ? request : new Request(request, { body });
  if (options.props === undefined) return stub.fetch(sent);
  return startOrRefuse(stub, options.props, `${className}:${name}`, upgrade).then((refused) => refused ?? stub.fetch(sent));
}

let lastPrefix: { readonly option: string | undefined; readonly segments: readonly string[] } | undefined;

/** The prefix's segments; a worker passes the same one on every request, so the last is kept. */
function prefixOf(option: string | undefined): readonly string[] {
  if (lastPrefix === undefined || lastPrefix.option !== option) {
    // `||`, as partyserver reads it: an empty prefix is the default one.
    lastPrefix = { option, segments: (option || "parties").split("/").filter(Boolean) };
  }
  return lastPrefix.segments;
}

/**
 * The path of an absolute URL as `request.url` spells it (serialized, so already normalized: what
 * `new URL(url).pathname` would give). The worker has usually parsed the URL once already; a
 * second parse was ~1 µs of every routed request.
 */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query !== -1) end = query;
  const fragment = url.indexOf("#", start);
  if (fragment !== -1 && fragment < end) end = fragment;
  return url.slice(start, end);
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
