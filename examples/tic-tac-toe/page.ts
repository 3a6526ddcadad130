import { escapeHtml, htmlResponse, scriptValue } from "../html.js";

/**
 * The tic-tac-toe page: a plain `WebSocket` to `/parties/tic-tac-toe/:room`, no build step and no
 * client library, to show the wire as it is. The room pushes this connection's view after every
 * change, `{"gp":1,"t":"push","msg":{"type":"state","state":…}}`; the page only draws it and
 * sends `{"type":"join"}`, `{"type":"move","cell":n}`, `{"type":"rematch"}` and `{"type":"leave"}`.
 * The page never decides what is legal: a move the room refuses just never shows up.
 *
 * The socket's `_pk` is a random id kept in sessionStorage and the room seats players by it, so a
 * reload is the same player; another tab is another player (or a spectator, once two have joined).
 *
 * @param clockSeconds the `?clock=` this page was opened with, already checked; it only matters
 *   if this page's socket is the first to reach a new room.
 */
export function ticTacToePage(room: string, clockSeconds: number | null): Response {
  const socketPath = `/parties/tic-tac-toe/${encodeURIComponent(room)}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tic-tac-toe ${escapeHtml(room)} · genparty</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.4rem; margin: 0.25rem 0; }
  #online { font-size: 0.85rem; color: #666; }
  #online::before { content: "●"; margin-right: 0.3rem; color: #c33; }
  #online.on::before { color: #2a2; }
  #status { font-size: 1.2rem; font-weight: 600; min-height: 1.8rem; margin: 0.75rem 0 0.25rem; }
  #you { color: #555; margin: 0; }
  #board { display: grid; grid-template-columns: repeat(3, 5.5rem); grid-template-rows: repeat(3, 5.5rem); gap: 0.35rem; margin: 1rem 0; }
  #board button { font: 700 2.6rem/1 system-ui, sans-serif; border: 2px solid #bbb; border-radius: 8px; background: #fafafa; color: #222; cursor: pointer; }
  #board button:disabled { cursor: default; }
  #board button.x { color: #1a5fb4; }
  #board button.o { color: #c64600; }
  #board button.win { background: #fff3b0; border-color: #d4a800; }
  #board button:not(:disabled):hover { background: #e8f0fb; }
  #clock { height: 1.6rem; font-variant-numeric: tabular-nums; }
  #bar { height: 6px; background: #eee; border-radius: 3px; overflow: hidden; margin-top: 0.2rem; }
  #bar div { height: 100%; width: 0; background: #2a2; transition: width 0.25s linear; }
  #bar.low div { background: #c33; }
  .actions button { font: inherit; padding: 0.35rem 0.8rem; border: 1px solid #1a5fb4; border-radius: 6px; background: #1a5fb4; color: white; cursor: pointer; margin-right: 0.4rem; }
  .actions button.plain { background: white; color: #1a5fb4; }
  #errors { color: #b00; font-size: 0.9rem; padding-left: 1.2rem; }
  .muted { color: #666; font-size: 0.9rem; }
</style>
</head>
<body>
<header>
  <h1>Tic-tac-toe <code>${escapeHtml(room)}</code></h1>
  <span id="online">connecting…</span>
  <span style="flex: 1"></span>
  <a href="/">all examples</a>
</header>
<p id="status">…</p>
<p id="you"></p>
<div id="board" role="grid" aria-label="board"></div>
<div id="clock" aria-live="off"><span id="left"></span><div id="bar"><div></div></div></div>
<p class="actions">
  <button id="join" hidden>Take a seat</button>
  <button id="rematch" hidden>Rematch</button>
  <button id="leave" class="plain" hidden>Leave seat</button>
</p>
<ul id="errors" aria-live="polite"></ul>
<p class="muted">Open this page in a second tab to play yourself; a third tab watches. The player to move has
<span id="move-seconds">…</span> s or loses. The game survives restarts of <code>npm start</code>: reload to see it resume.
Start a new room with another clock: <code>/tic-tac-toe/&lt;new name&gt;?clock=10</code>.</p>
<script>
const socketPath = ${scriptValue(socketPath)};
const room = ${scriptValue(room)};
const clockSeconds = ${scriptValue(clockSeconds)};
// Deadlines are on the server's clock; the gap to this browser's clock is measured once, from
// when the worker rendered this page (a few ms of latency off, no more).
const skewMs = ${scriptValue(Date.now())} - Date.now();
const $ = (id) => document.getElementById(id);
const pk = sessionStorage.getItem("genparty-ttt-pk") || crypto.randomUUID();
sessionStorage.setItem("genparty-ttt-pk", pk);
// Set once this tab asked for a seat: after a reconnect it asks again, since a socket that closed
// while waiting gave its seat up.
const wantsSeatKey = "genparty-ttt-seat:" + room;

let socket = null;
let view = null;
let retryMs = 500;
let retry;

const cells = Array.from({ length: 9 }, (_, i) => {
  const button = document.createElement("button");
  button.setAttribute("aria-label", "cell " + (i + 1));
  button.onclick = () => send({ type: "move", cell: i });
  $("board").append(button);
  return button;
});

function connect() {
  clearTimeout(retry);
  const url = new URL(socketPath, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("_pk", pk);
  if (clockSeconds !== null) url.searchParams.set("clock", String(clockSeconds));
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => {
    retryMs = 500;
    setOnline(true);
    if (sessionStorage.getItem(wantsSeatKey)) send({ type: "join" });
  };
  ws.onmessage = (event) => ws === socket && receive(event.data);
  ws.onclose = (event) => {
    if (ws !== socket) return;
    setOnline(false);
    if (event.reason.startsWith("Replaced")) {
      // A duplicated tab copies sessionStorage, so it is the same player: let the newer tab have it.
      return void ($("online").textContent = "opened in another tab; reload to play here");
    }
    $("online").textContent = "offline, reconnecting…";
    retry = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

function receive(data) {
  let frame;
  try { frame = JSON.parse(data); } catch { return; }
  if (frame.gp !== 1) return;
  if (frame.t === "push" && frame.msg && frame.msg.type === "state") return render(frame.msg.state);
  if (frame.t === "error") return showError(frame.err);
}

function send(event) {
  if (socket?.readyState !== WebSocket.OPEN) return showError({ name: "Offline", message: "Not connected; try again in a moment." });
  socket.send(JSON.stringify(event));
}

const markName = (mark) => mark.toUpperCase();

function render(state) {
  view = state;
  const mine = state.you !== "spectator";
  const myTurn = state.status === "playing" && state.turn === state.you;
  state.board.forEach((mark, i) => {
    cells[i].textContent = mark ? markName(mark) : "";
    cells[i].className = (mark || "") + (state.line && state.line.includes(i) ? " win" : "");
    cells[i].disabled = !myTurn || mark !== null;
  });
  $("you").textContent = mine ? "You play " + markName(state.you) + "." : "You are watching.";
  $("status").textContent = statusText(state);
  $("move-seconds").textContent = state.moveMs / 1000;
  const canJoin = state.status !== "playing" && !mine && !(state.seats.x && state.seats.o);
  // A seat asked for and not got (another tab took the last one): don't ask again on every reconnect.
  if (!mine && !canJoin) sessionStorage.removeItem(wantsSeatKey);
  const alone = mine && !state.seats[state.you === "x" ? "o" : "x"];
  $("join").hidden = !canJoin;
  $("rematch").hidden = !(state.status === "finished" && mine);
  $("rematch").disabled = mine && !alone && state.rematch[state.you];
  $("rematch").textContent = alone ? "New game" : mine && state.rematch[state.you] ? "Waiting for your opponent…" : "Rematch";
  $("leave").hidden = !(mine && state.status !== "playing");
  tick();
}

function statusText(state) {
  const other = (mark) => (mark === "x" ? "o" : "x");
  switch (state.status) {
    case "waiting": {
      const free = ["x", "o"].filter((mark) => !state.seats[mark]).map(markName);
      return "Waiting for players: " + free.join(" and ") + " free.";
    }
    case "playing":
      return state.turn === state.you ? "Your move." : markName(state.turn) + " to move.";
    case "finished": {
      const askers = ["x", "o"].filter((mark) => state.rematch[mark]).map(markName);
      const again = askers.length ? " " + askers.join(" and ") + " asked for a rematch." : "";
      if (state.winner === "draw") return "Draw." + again;
      const who = state.winner === state.you ? "You win" : markName(state.winner) + " wins";
      const how = state.reason === "timeout" ? ": " + markName(other(state.winner)) + " ran out of time." : " with three in a row.";
      const left = ["x", "o"].filter((mark) => !state.seats[mark]).map(markName);
      const gone = left.length ? " " + left.join(" and ") + " left; the seat is free." : "";
      return who + how + again + gone;
    }
  }
  return String(state.status);
}

// The countdown runs locally from the deadline; the forfeit itself comes from the room, as a push.
function tick() {
  if (!view || view.deadline === null) {
    $("left").textContent = "";
    $("bar").firstElementChild.style.width = "0";
    return;
  }
  const leftMs = Math.max(0, view.deadline - (Date.now() + skewMs));
  $("left").textContent = leftMs > 0 ? Math.ceil(leftMs / 1000) + " s left for " + markName(view.turn) : "Time is up for " + markName(view.turn) + "…";
  $("bar").firstElementChild.style.width = (100 * leftMs) / view.moveMs + "%";
  $("bar").className = leftMs < 5000 ? "low" : "";
}
setInterval(tick, 250);

function showError(err) {
  const item = document.createElement("li");
  item.textContent = (err.name || "Error") + ": " + (err.message || "");
  $("errors").prepend(item);
  while ($("errors").children.length > 5) $("errors").lastElementChild.remove();
}

function setOnline(online) {
  $("online").className = online ? "on" : "";
  $("online").textContent = online ? "connected" : "offline";
}

$("join").onclick = () => {
  sessionStorage.setItem(wantsSeatKey, "1");
  send({ type: "join" });
};
$("rematch").onclick = () => send({ type: "rematch" });
$("leave").onclick = () => {
  sessionStorage.removeItem(wantsSeatKey);
  send({ type: "leave" });
};

connect();
</script>
</body>
</html>
`;
  const response = htmlResponse(html);
  // The page carries the server's time for the countdown: a cached copy would carry a stale one.
  response.headers.set("cache-control", "no-store");
  return response;
}
