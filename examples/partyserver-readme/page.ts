import { escapeHtml, htmlResponse, scriptValue } from "../html.js";

/**
 * A page to try the README's MyServer from the examples worker (examples/index.ts), which routes
 * `/parties/my-server/:room` to it. Not part of the README example: its own worker
 * (`wrangler dev -c examples/partyserver-readme/wrangler.toml`) serves only the WebSocket route.
 */
export function readmePage(room: string): Response {
  const socketPath = `/parties/my-server/${encodeURIComponent(room)}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PartyServer README example · ${escapeHtml(room)} · genparty</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  input, button { font: inherit; }
  #log { background: #f4f4f4; padding: 0.5rem; min-height: 8rem; white-space: pre-wrap; overflow-wrap: anywhere; }
  .muted { color: #666; }
</style>
</head>
<body>
<p><a href="/">← all examples</a></p>
<h1>PartyServer README example</h1>
<p>The README's <code>MyServer</code> unchanged: every message goes to the other connections in room
<code>${escapeHtml(room)}</code>, not back to you. Open this page in a second tab to see it arrive.
The server logs each connect and message (<code>console.log</code> in the <code>wrangler dev</code> output).</p>
<form id="form"><input id="text" placeholder="a message" autocomplete="off" autofocus> <button>Send</button></form>
<pre id="log"></pre>
<p class="muted">WebSocket: <code>${escapeHtml(socketPath)}</code> · <span id="status">connecting…</span></p>
<script>
const $ = (id) => document.getElementById(id);
const url = new URL(${scriptValue(socketPath)}, location.href);
url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new WebSocket(url);
const log = (line) => ($("log").textContent += line + "\\n");
socket.onopen = () => ($("status").textContent = "connected");
socket.onclose = (event) => ($("status").textContent = "closed (" + event.code + "); reload to reconnect");
socket.onmessage = (event) => log("← " + event.data);
$("form").onsubmit = (event) => {
  event.preventDefault();
  if (socket.readyState !== WebSocket.OPEN || !$("text").value) return;
  socket.send($("text").value);
  log("→ " + $("text").value);
  $("text").value = "";
};
</script>
</body>
</html>
`;
  return htmlResponse(html);
}
