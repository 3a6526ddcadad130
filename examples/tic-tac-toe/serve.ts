import { routePartykitRequest } from "../../lib/index.js";
import { MAX_MOVE_MS, MIN_MOVE_MS, type TicTacToeInput } from "./game.js";
import { ticTacToePage } from "./page.js";

/**
 * Routes `/parties/tic-tac-toe/:room` (the WebSocket) to {@link TicTacToeRoom}, or returns null
 * for any other path. `?clock=<seconds>` picks the move clock of a room that doesn't exist yet:
 * it is passed as props, which the machine takes as input on its very first start and never
 * again, so a later `?clock=` can't change a game under way (the view's `moveMs` says which
 * clock a room has).
 */
export async function routeTicTacToe(request: Request, env: Cloudflare.Env): Promise<Response | null> {
  const clock = new URL(request.url).searchParams.get("clock");
  const props = clock === null ? undefined : propsFor(clock);
  // In a hook, so only requests routed to this binding are refused. Only hand-made URLs get here:
  // the page checks its clock before it connects.
  const refuse = () => (typeof props === "string" ? plainText(400, props) : undefined);
  return routePartykitRequest(
    request,
    { TIC_TAC_TOE: env.TIC_TAC_TOE },
    // Props only when asked for: each request with props costs the room an extra start RPC.
    { onBeforeConnect: refuse, onBeforeRequest: refuse, ...(typeof props === "object" ? { props } : {}) },
  );
}

/** The props for `?clock=<seconds>`, or why it isn't a clock. */
export function propsFor(clock: string): TicTacToeInput | string {
  const seconds = /^\d{1,4}$/.test(clock) ? Number(clock) : NaN;
  const moveMs = seconds * 1_000;
  if (!(moveMs >= MIN_MOVE_MS && moveMs <= MAX_MOVE_MS)) {
    return `clock must be whole seconds from ${MIN_MOVE_MS / 1_000} to ${MAX_MOVE_MS / 1_000}, got "${clock.slice(0, 16)}". Drop it for the default.`;
  }
  return { moveMs };
}

/**
 * Serves the page at `/tic-tac-toe/:room` (`?clock=<seconds>` too, checked here so a bad one is a
 * readable 400 rather than a socket that won't open). The worker answers it without waking the room.
 */
export async function serveTicTacToe(request: Request, _env: Cloudflare.Env, name: string, rest: string): Promise<Response> {
  if (rest !== "/") return plainText(404, `Nothing at ${rest} here: this example is the page itself.`);
  if (request.method !== "GET" && request.method !== "HEAD") return plainText(405, "Only GET is served here.", { allow: "GET, HEAD" });
  const clock = new URL(request.url).searchParams.get("clock");
  const props = clock === null ? undefined : propsFor(clock);
  if (typeof props === "string") return plainText(400, props);
  return ticTacToePage(name, props?.moveMs === undefined ? null : props.moveMs / 1_000);
}

function plainText(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}
