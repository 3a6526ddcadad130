import { escapeHtml, htmlResponse, scriptValue } from "../html.js";

/**
 * The counter's browser page: buttons calling the JSON API with plain `fetch`. No build step and
 * no client library, to show that an actor's HTTP API is just HTTP.
 */
export function counterPage(name: string): Response {
  const base = `/counter/${encodeURIComponent(name)}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Counter ${escapeHtml(name)} · genparty</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #n { font-size: 4rem; font-weight: 600; margin: 0; }
  button, input { font: inherit; margin: 0.15rem 0; }
  pre { background: #f4f4f4; padding: 0.5rem; overflow-x: auto; }
  .muted { color: #666; }
</style>
</head>
<body>
<p><a href="/">← all examples</a></p>
<h1>Counter <code>${escapeHtml(name)}</code></h1>
<p id="n">…</p>
<p id="reset" class="muted">no reset pending</p>
<p>
  <button data-go="incr">+1 <small>(call)</small></button>
  <button data-go="add">+5 <small>(cast)</small></button>
  <button data-go="reset">reset in 5 s <small>(timer)</small></button>
  <button data-go="cancel">cancel reset</button>
</p>
<h2>Key/value</h2>
<p>
  <input id="key" placeholder="key" value="colour" size="10">
  <input id="value" placeholder='JSON, e.g. "teal"' value='"teal"' size="16">
  <button data-go="put">put</button>
  <button data-go="get">get</button>
</p>
<pre id="kv">{}</pre>
<h2>Last answer</h2>
<pre id="last">—</pre>
<p class="muted">Open this page in two tabs: both talk to the same actor. The state survives restarts of <code>npm start</code>.</p>
<script>
const base = ${scriptValue(base)};
const $ = (id) => document.getElementById(id);
let resetAt = null;

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { accept: "application/json", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  $("last").textContent = method + " " + path + " → " + response.status + "\\n" + JSON.stringify(answer, null, 2);
  if (answer.state) render(answer.state);
  return answer;
}

function render(state) {
  $("n").textContent = state.n;
  $("kv").textContent = JSON.stringify(state.kv, null, 2);
  resetAt = state.resetAt;
  tick();
}

// The countdown runs locally from resetAt; the page asks the actor again only once it is due.
function tick() {
  if (resetAt === null) return void ($("reset").textContent = "no reset pending");
  const left = Math.max(0, Math.ceil((resetAt - Date.now()) / 1000));
  $("reset").textContent = "resets to 0 in " + left + " s";
}
setInterval(() => {
  tick();
  if (resetAt !== null && Date.now() > resetAt + 500) refresh();
}, 1000);

const refresh = () => api("GET", "/");
const actions = {
  incr: () => api("POST", "/incr", { by: 1 }),
  // A cast is answered before it runs; the GET after it queues behind it, so it sees the +5.
  add: () => api("POST", "/add", { by: 5 }).then(refresh),
  reset: () => api("POST", "/reset", { seconds: 5 }),
  cancel: () => api("DELETE", "/reset"),
  put: () => {
    let value;
    try { value = JSON.parse($("value").value); } catch { return void ($("last").textContent = "The value must be JSON, e.g. \\"teal\\" or 42."); }
    const path = keyPath();
    return path && api("PUT", path, value);
  },
  get: () => {
    const path = keyPath();
    return path && api("GET", path);
  },
};
// "." and ".." would be read as path steps by the URL, not as keys.
function keyPath() {
  const key = $("key").value;
  if (key === "." || key === "..") return void ($("last").textContent = 'A key can\'t be "." or "..".');
  return "/kv/" + encodeURIComponent(key);
}
document.addEventListener("click", (event) => {
  const go = event.target.closest("[data-go]")?.dataset.go;
  // Some actions answer at once (bad input) without a promise.
  if (go) Promise.resolve(actions[go]()).catch((error) => ($("last").textContent = String(error)));
});
refresh();
</script>
</body>
</html>
`;
  return htmlResponse(html);
}
