import { getActor } from "../../lib/index.js";
import { counterPage } from "./page.js";

/**
 * Serves `/counter/:name/*`. `rest` is what follows the name (at least "/").
 *
 * - `GET /counter/:name` from a browser (Accept: text/html): the page, served by the worker so
 *   opening it doesn't wake the actor.
 * - `POST /counter/:name/add` `{"by": 5}`: a cast. HTTP requests that reach the actor are calls
 *   (someone waits for the Response), so the fire-and-forget path is taken here, through a typed
 *   `ActorRef`, and answered 202 as soon as the actor has queued it.
 * - anything else: forwarded to the actor's `handleRequest` with the prefix stripped, so the
 *   actor's routes don't depend on where the worker mounts it.
 */
export async function serveCounter(request: Request, env: Cloudflare.Env, name: string, rest: string): Promise<Response> {
  if (rest === "/" && request.method === "GET" && (request.headers.get("accept") ?? "").includes("text/html")) {
    return counterPage(name);
  }
  if (rest === "/add" && request.method === "POST") {
    const body: unknown = await request.json().catch(() => undefined);
    const by = typeof body === "object" && body !== null ? (body as { by?: unknown }).by : undefined;
    if (typeof by !== "number" || !Number.isSafeInteger(by)) {
      return Response.json({ error: 'POST /counter/:name/add takes a JSON body {"by": <integer>}.' }, { status: 400 });
    }
    await getActor(env.COUNTER_EXAMPLE, name).cast({ type: "add", by });
    return Response.json({ queued: { type: "add", by } }, { status: 202 });
  }
  const url = new URL(request.url);
  url.pathname = rest;
  return env.COUNTER_EXAMPLE.getByName(name).fetch(new Request(url, request));
}
