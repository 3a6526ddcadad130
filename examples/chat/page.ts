import { escapeHtml, htmlResponse, scriptValue } from "../html.js";
import { MAX_DISPLAY_NAME_LENGTH, MAX_TEXT_LENGTH } from "./chat.js";

/**
 * The chat's browser page: a plain `WebSocket` to `/parties/chat/:room`, no build step and no
 * client library. Every name and message is shown with `textContent`, never parsed as HTML.
 *
 * The socket's `_pk` is a random id kept in sessionStorage: a reload reconnects as the same
 * connection (the room closes the old socket, "Replaced by a newer connection…"), another tab
 * is another connection.
 */
export function chatPage(room: string): Response {
  const socketPath = `/parties/chat/${encodeURIComponent(room)}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat ${escapeHtml(room)} · genparty</title>
<style>
  * { box-sizing: border-box; }
  body { font: 16px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 0 auto; padding: 1rem; height: 100vh; display: flex; flex-direction: column; color: #222; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.4rem; margin: 0.25rem 0; }
  #status { font-size: 0.85rem; color: #666; }
  #status::before { content: "●"; margin-right: 0.3rem; color: #c33; }
  #status.online::before { color: #2a2; }
  main { flex: 1; min-height: 0; display: grid; grid-template-columns: 1fr 11rem; gap: 1rem; margin: 0.75rem 0; }
  #log { overflow-y: auto; border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 0.75rem; margin: 0; list-style: none; }
  #log li { padding: 0.15rem 0; overflow-wrap: anywhere; white-space: pre-wrap; }
  #log .who { font-weight: 600; margin-right: 0.4rem; }
  #log .mine .who { color: #1a5fb4; }
  #log time { color: #999; font-size: 0.75rem; margin-right: 0.5rem; font-variant-numeric: tabular-nums; }
  #log .note { color: #777; font-style: italic; }
  #log .error { color: #b00; }
  aside { border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 0.75rem; overflow-y: auto; }
  aside h2 { font-size: 0.9rem; margin: 0 0 0.4rem; color: #555; }
  aside ul { list-style: none; margin: 0; padding: 0; }
  form { display: flex; gap: 0.5rem; }
  input, button { font: inherit; padding: 0.35rem 0.6rem; border: 1px solid #bbb; border-radius: 6px; }
  button { background: #1a5fb4; color: white; border-color: #1a5fb4; cursor: pointer; }
  button:disabled { opacity: 0.5; cursor: default; }
  #text { flex: 1; }
  #name { width: 10rem; }
  @media (max-width: 36rem) { main { grid-template-columns: 1fr; grid-template-rows: 1fr auto; } aside { max-height: 6rem; } }
</style>
</head>
<body>
<header>
  <h1>Chat <code>${escapeHtml(room)}</code></h1>
  <span id="status">connecting…</span>
  <span style="flex: 1"></span>
  <a href="/">all examples</a>
</header>
<main>
  <ul id="log" aria-live="polite"></ul>
  <aside><h2>Here now (<span id="count">0</span>)</h2><ul id="people"></ul></aside>
</main>
<form id="rename"><input id="name" maxlength="${MAX_DISPLAY_NAME_LENGTH}" placeholder="your name" aria-label="your name"><button>Rename</button></form>
<form id="say" style="margin-top: 0.5rem"><input id="text" maxlength="${MAX_TEXT_LENGTH}" placeholder="Say something…" autocomplete="off" aria-label="message" autofocus><button id="send" disabled>Send</button></form>
<script>
const socketPath = ${scriptValue(socketPath)};
const $ = (id) => document.getElementById(id);
const pk = sessionStorage.getItem("genparty-chat-pk") || crypto.randomUUID();
sessionStorage.setItem("genparty-chat-pk", pk);
$("name").value = localStorage.getItem("genparty-chat-name") || "";

let socket = null;
let me = "";
let retryMs = 500;
let retry;

function connect() {
  clearTimeout(retry);
  const url = new URL(socketPath, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("_pk", pk);
  if ($("name").value.trim()) url.searchParams.set("name", $("name").value.trim());
  const ws = new WebSocket(url);
  // Renaming opens a new socket with the same _pk; the old one's events are no longer ours.
  socket = ws;
  ws.onopen = () => {
    retryMs = 500;
    setOnline(true);
  };
  ws.onmessage = (event) => ws === socket && receive(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (ws !== socket) return;
    setOnline(false);
    if (event.reason.startsWith("Replaced")) {
      // Another tab took this session (a duplicated tab copies sessionStorage): don't fight over it.
      return void ($("status").textContent = "opened in another tab; reload to use it here");
    }
    $("status").textContent = "offline, reconnecting…";
    retry = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

function receive(frame) {
  switch (frame.type) {
    case "welcome":
      me = frame.name;
      $("name").value = me;
      localStorage.setItem("genparty-chat-name", me);
      $("log").replaceChildren();
      // History can't tell tabs apart: a message under this tab's name counts as its own.
      frame.history.forEach((message) => say(message, message.name === me));
      note("You joined as " + me + ".");
      return people(frame.who);
    case "message":
      return say(frame.message, frame.mine === true);
    case "joined":
      note(frame.name + " joined.");
      return people(frame.who);
    case "renamed":
      note(frame.from + " is now " + frame.to + ".");
      return people(frame.who);
    case "left":
      note(frame.name + " left.");
      return people(frame.who);
    case "who":
      return people(frame.who);
    case "error":
      return note(frame.error, "error");
  }
}

function say(message, mine) {
  const time = document.createElement("time");
  time.dateTime = new Date(message.at).toISOString();
  time.textContent = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = message.name;
  add(mine ? "mine" : "", time, who, message.text);
}

function note(text, className = "note") {
  add(className, text);
}

function add(className, ...parts) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const item = document.createElement("li");
  item.className = className;
  item.append(...parts);
  log.append(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function people(names) {
  $("count").textContent = names.length;
  $("people").replaceChildren(...names.map((name) => Object.assign(document.createElement("li"), { textContent: name === me ? name + " (you)" : name })));
}

function setOnline(online) {
  $("status").className = online ? "online" : "";
  $("status").textContent = online ? "connected" : "offline";
  $("send").disabled = !online;
}

$("say").onsubmit = (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || socket?.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "say", text }));
  $("text").value = "";
};

$("rename").onsubmit = (event) => {
  event.preventDefault();
  localStorage.setItem("genparty-chat-name", $("name").value.trim());
  connect();
};

connect();
</script>
</body>
</html>
`;
  return htmlResponse(html);
}
