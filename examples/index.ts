import { checkRoomName, routePartykitRequest } from "../lib/index.js";
import { chatPage } from "./chat/page.js";
import { serveCounter } from "./counter/serve.js";
import { escapeHtml, htmlResponse } from "./html.js";
import { readmePage } from "./partyserver-readme/page.js";
import { routeTicTacToe, serveTicTacToe } from "./tic-tac-toe/serve.js";

// Durable Object classes must be exported by the worker's main module, under the class_name
// that wrangler.toml binds.
export { ChatRoom } from "./chat/chat.js";
export { Counter } from "./counter/counter.js";
export { MyServer } from "./partyserver-readme/index.js";
export { TicTacToeRoom } from "./tic-tac-toe/game.js";

/** One runnable example: the landing page and the router are both built from this list. */
interface Example {
  /** First path segment: the example lives at `/${path}/:name/…`, one actor per name. */
  readonly path: string;
  readonly title: string;
  readonly summary: string;
  /** Serves `/${path}/:name${rest}`; `name` is already decoded and checked, `rest` starts with "/". */
  serve(request: Request, env: Cloudflare.Env, name: string, rest: string): Promise<Response>;
}

const EXAMPLES: readonly Example[] = [
  {
    path: "counter",
    title: "Counter",
    summary: "An Elixir-style GenServer: typed calls, a cast, a key/value store and a durable reset timer, over a JSON API.",
    serve: serveCounter,
  },
  {
    path: "chat",
    title: "Chat",
    summary:
      "A chat room on the PartyServer-style Server: history in storage, names in connection state, a who list, hibernating WebSockets at /parties/chat/:name.",
    serve: servePage(chatPage),
  },
  {
    path: "partyserver-readme",
    title: "PartyServer README example",
    summary: "partyserver's README example as written (import aside): MyServer relays each message to the room's other connections, at /parties/my-server/:name.",
    serve: servePage(readmePage),
  },
  {
    path: "tic-tac-toe",
    title: "Tic-tac-toe",
    summary:
      "An xstate machine on MachineServer: seats, turns and wins as guards, a 30 s move clock on a durable `after`, a view per player, at /parties/tic-tac-toe/:name.",
    serve: serveTicTacToe,
  },
];

/**
 * The Servers reachable at `/parties/:server/:name`, by binding. Only these: routePartykitRequest
 * routes every Durable Object binding it is given, and the counter has its own API at /counter/.
 * Tic-tac-toe is routed on its own (routeTicTacToe), as it passes props to new rooms.
 */
const parties = (env: Cloudflare.Env) => ({ CHAT: env.CHAT, MyServer: env.MyServer });

/** The room each example's link on the landing page opens. Any other name is another room. */
const DEMO_ROOM = "demo";

export default {
  async fetch(request: Request, env: Cloudflare.Env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/parties/")) {
      return (
        (await routeTicTacToe(request, env)) ??
        (await routePartykitRequest(request, parties(env))) ??
        text(404, "The parties here are /parties/chat/:name, /parties/my-server/:name and /parties/tic-tac-toe/:name.")
      );
    }
    if (pathname === "/") {
      if (request.method !== "GET" && request.method !== "HEAD") return text(405, "Only GET / is served here.", { allow: "GET, HEAD" });
      return landingPage();
    }
    const [, path = "", rawName, ...rest] = pathname.split("/");
    const example = EXAMPLES.find((e) => e.path === path);
    if (!example) {
      return text(404, `No example at /${path.slice(0, 64)}. The examples are:\n${EXAMPLES.map((e) => `  /${e.path}/:name  ${e.title}`).join("\n")}\nor open / for the list.`);
    }
    const name = decodeName(rawName ?? "");
    if (typeof name !== "string") return text(400, `Bad room name: ${name.problem}. Use /${example.path}/<name>, e.g. /${example.path}/${DEMO_ROOM}.`);
    return example.serve(request, env, name, `/${rest.join("/")}`);
  },
} satisfies ExportedHandler<Cloudflare.Env>;

/** For examples that are a page at `/${path}/:name` talking to a Server at `/parties/…`. */
function servePage(page: (name: string) => Response): Example["serve"] {
  return async (request, _env, name, rest) => {
    if (rest !== "/") return text(404, `Nothing at ${rest} here: this example is the page itself.`);
    if (request.method !== "GET" && request.method !== "HEAD") return text(405, "Only GET is served here.", { allow: "GET, HEAD" });
    return page(name);
  };
}

/** The room name from its path segment, or why it can't be one (the same bounds `getActor` enforces). */
function decodeName(segment: string): string | { problem: string } {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    return { problem: "it is not valid URL encoding" };
  }
  if (name.length === 0) return { problem: "it is empty" };
  try {
    return checkRoomName(name);
  } catch (error) {
    return { problem: (error as Error).message.replace(/^A room name /, "it ").replace(/\.$/, "") };
  }
}

function landingPage(): Response {
  const items = EXAMPLES.map(
    (e) => `  <li><a href="/${e.path}/${DEMO_ROOM}">${escapeHtml(e.title)}</a>: ${escapeHtml(e.summary)}<br><small>Any name is its own room: <code>/${e.path}/&lt;name&gt;</code></small></li>`,
  ).join("\n");
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>genparty examples</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; } li { margin-bottom: 1rem; }</style>
</head>
<body>
<h1>genparty examples</h1>
<p>GenServer-style actors on Cloudflare Durable Objects. Each example below is one actor class; each room name is one actor.</p>
<ul>
${items}
</ul>
</body>
</html>
`;
  return htmlResponse(html);
}

function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}
