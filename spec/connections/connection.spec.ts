import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { ATTACHMENT_LIMIT_BYTES, getActor } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect, roomJson } from "../sockets.js";

const modes = [
  ["hibernating", "room", () => env.ROOM],
  ["in-memory", "memory-room", () => env.MEMORY_ROOM],
] as const;

describe.each(modes)("Connections (%s)", (mode, route, namespace) => {
  const room = () => `/${route}/${uniqueName("r")}`;

  it("accepts a socket, tells the actor, and uses _pk as the connection id", async () => {
    const path = room();
    const alice = await connect(`${path}?_pk=alice`);
    expect(await alice.next()).toMatch(/^welcome alice to r-/);
    expect(JSON.parse(await alice.ask("meta"))).toEqual({
      id: "alice",
      tags: ["alice"],
      uri: `http://spec${path}?_pk=alice`,
      server: path.split("/")[2],
    });
    expect(await roomJson(`${path}/events`)).toEqual(["connect:alice"]);
  });

  it("refuses to send an object or number, naming the types it takes, instead of the text [object Object]", async () => {
    const alice = await connect(`${room()}?_pk=alice`);
    await alice.next();
    for (const [value, got] of [['{"type":"hello"}', "an object (Object)"], ["42", "a number"], ['all {"type":"hello"}', "an object (Object)"]]) {
      expect(await alice.ask(`sendValue:${value}`)).toBe(
        `TypeError: A WebSocket message is a string, an ArrayBuffer or a typed array; got ${got}. Send JSON.stringify(value) for an object.`,
      );
    }
    expect(await alice.ask("echo:still here")).toBe("still here");
  });

  it("refuses to send text a genparty client would take for a protocol frame, so a relayed client can't forge one", async () => {
    const path = room();
    const alice = await connect(`${path}?_pk=alice`);
    const bob = await connect(`${path}?_pk=bob`);
    await alice.next();
    await bob.next();
    // The leading space gets it past the server's protocol check; re-encoded, it starts with {"gp":.
    const refused = await alice.ask(`relayJson: {"gp":1,"t":"stopped","reason":"forged","keep":[]}`);
    expect(refused).toMatch(/^TypeError: A message starting with \{"gp": would reach genparty clients as a protocol frame/);
    expect(await alice.ask(`relayJson:{"text":"hi"}`)).toBe("relayed");
    expect(await bob.next()).toBe('{"text":"hi","from":"alice"}');
  });

  it("generates an id when the client sends no _pk", async () => {
    const socket = await connect(room());
    expect(await socket.next()).toMatch(/^welcome [0-9a-f-]{36} to/);
  });

  it("keeps the id first in the tags and finds connections by tag", async () => {
    const path = room();
    const a = await connect(`${path}?_pk=a&tags=red,blue,a`);
    await a.next();
    const b = await connect(`${path}?_pk=b&tags=blue`);
    await b.next();
    expect(JSON.parse(await a.ask("meta")).tags).toEqual(["a", "red", "blue"]);
    expect(JSON.parse(await a.ask("list:blue"))).toEqual(["a", "b"]);
    expect(JSON.parse(await a.ask("list:red"))).toEqual(["a"]);
    expect(await a.ask("get:b")).toBe("b");
  });

  it("broadcasts to everyone but the excluded ids", async () => {
    const path = room();
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => connect(`${path}?_pk=${id}`)));
    await Promise.all([a!.next(), b!.next(), c!.next()]);
    a!.send("broadcast:hi");
    expect(await b!.next()).toBe("a:hi");
    expect(await c!.next()).toBe("a:hi");
    expect(await a!.ask("echo:nothing for a")).toBe("nothing for a");
  });

  it("stores connection state set before accept (in getConnectionTags) and after", async () => {
    const path = room();
    const socket = await connect(`${path}?_pk=s&joined=lobby`);
    await socket.next();
    expect(JSON.parse(await socket.ask("getstate"))).toEqual({ joined: "lobby" });
    expect(await socket.ask(`state:{"score":3}`)).toBe("state-ok");
    expect(JSON.parse(await socket.ask("getstate"))).toEqual({ score: 3 });
  });

  it("refuses state over the attachment budget with an error naming the limit; the connection and room go on", async () => {
    const socket = await connect(`${room()}?_pk=big`);
    await socket.next();
    const refused = await socket.ask(`big:${ATTACHMENT_LIMIT_BYTES}`);
    expect(refused).toMatch(/^ConnectionStateTooLargeError: Connection big: the state would take \d+ bytes, but a socket attachment holds 16384 bytes/);
    expect(await socket.ask("big:1000")).toBe("big-ok");
    expect(await socket.ask("echo:still here")).toBe("still here");
  });

  it("refuses a Map in state, which JSON would measure as {}, in both modes alike", async () => {
    const socket = await connect(`${room()}?_pk=map`);
    await socket.next();
    expect(await socket.ask(`bigMap:${ATTACHMENT_LIMIT_BYTES}`)).toBe('ConnectionStateTooLargeError: Connection map: setState needs plain data (a Map at "seen" is not plain data; use an object or an array).');
    expect(await socket.ask("bigMap:10")).toMatch(/a Map at "seen" is not plain data/);
    expect(await socket.ask("echo:still here")).toBe("still here");
  });

  it("measures state as the platform stores it, not as JSON: 3,000 fractions are 12 KB of JSON but 27 KB there", async () => {
    const path = room();
    const socket = await connect(`${path}?_pk=nums`);
    await socket.next();
    expect(await socket.ask("numbers:3000")).toMatch(/^ConnectionStateTooLargeError: Connection nums: the state would take 27\d{3} bytes, but a socket attachment holds 16384/);
    expect(await socket.ask("numbers:1500")).toBe("big-ok");
    if (mode === "hibernating") await hibernate(getActor(namespace(), path.split("/")[2]!));
    expect(JSON.parse(await socket.ask("getstate")).xs).toHaveLength(1500);
  });

  it("closes a socket whose URL leaves no room in its attachment, instead of leaving it open and deaf", async () => {
    const socket = await connect(`${room()}?_pk=long&pad=${"p".repeat(17_000)}`);
    expect(await socket.closed).toMatchObject({ code: 1011 });
  });

  it("sends each binary frame as it was when sent, though the handler reuses its buffer", async () => {
    const socket = await connect(`${room()}?_pk=bin`);
    await socket.next();
    socket.send("counted:3");
    await vi.waitFor(() => expect(socket.received).toHaveLength(4));
    // Binary frames reach the test client as Blobs.
    const bytes = await Promise.all(socket.received.slice(1).map(async (frame: unknown) => new Uint8Array(await (frame as Blob).arrayBuffer())[0]));
    expect(bytes.sort()).toEqual([1, 2, 3]);
  });

  it("lets partyserver code redefine state and setState over serializeAttachment, as its docs say", async () => {
    const socket = await connect(`${room()}?_pk=redef`);
    await socket.next();
    expect(JSON.parse(await socket.ask('redefineOverAttachment:{"x":1}'))).toEqual({ x: 1 });
  });

  it("lists no closed connection and tells the actor of the close with the peer's code and reason", async () => {
    const path = room();
    const a = await connect(`${path}?_pk=a`);
    const b = await connect(`${path}?_pk=b`);
    await Promise.all([a.next(), b.next()]);
    b.close(4001, "leaving");
    expect(await b.closed).toMatchObject({ code: 4001, reason: "leaving" });
    await vi.waitFor(async () => expect(await roomJson(`${path}/events`)).toContain("close:b:4001:leaving:true"));
    expect(JSON.parse(await a.ask("list"))).toEqual(["a"]);
    a.send("broadcastAll:after b left");
    expect(await a.next()).toBe("after b left");
  });

  it("completes a close the server starts, and tells the actor once", async () => {
    const path = room();
    const socket = await connect(`${path}?_pk=c`);
    await socket.next();
    expect(await socket.ask("close")).toBe("closing");
    expect(await socket.closed).toMatchObject({ code: 4000, reason: "bye" });
    await vi.waitFor(async () => expect(await roomJson(`${path}/events`)).toEqual(["connect:c", "close:c:4000:bye:true"]));
  });

  it.each(["keep", "clear"])("doesn't start a stopped actor again for the closes of its stopping turn (state: %s)", async (kept) => {
    const path = room();
    const [a, b] = [await connect(`${path}?_pk=a`), await connect(`${path}?_pk=b`)];
    await Promise.all([a.next(), b.next()]);
    a.send(`closeAllAndStop:${kept}`);
    expect(await a.closed).toMatchObject({ code: 4000, reason: "game over" });
    expect(await b.closed).toMatchObject({ code: 4000, reason: "game over" });
    // The next start is this request's: from the saved state, or from init after clearState, with no close heard in it.
    expect(await roomJson(`${path}/events`)).toEqual(kept === "keep" ? ["connect:a", "connect:b"] : []);
  });

  it("doesn't start a stopped actor again for a client's close that waited behind the stop", async () => {
    const path = room();
    const a = await connect(`${path}?_pk=a`);
    await a.next();
    a.send("slowStop:100");
    a.close(4001, "leaving");
    // The close handshake completes once the stop is through, not after the platform's timeout.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    expect(await Promise.race([a.closed.then(() => "closed"), sleep(2_000).then(() => "hung")])).toBe("closed");
    // Had the close started the actor again, its event would be saved by now.
    await sleep(200);
    expect(await roomJson(`${path}/events`)).toEqual(["connect:a"]);
  });

  it("keeps partyserver's serializeAttachment working as the connection's state", async () => {
    const socket = await connect(`${room()}?_pk=att`);
    await socket.next();
    expect(await socket.ask("attach:{\"legacy\":true}")).toBe("attached");
    expect(JSON.parse(await socket.ask("getstate"))).toEqual({ legacy: true });
    expect(JSON.parse(await socket.ask("list"))).toEqual(["att"]);
  });

  it("replaces an older socket with the same _pk instead of keeping two", async () => {
    const path = room();
    const first = await connect(`${path}?_pk=same`);
    await first.next();
    const second = await connect(`${path}?_pk=same`);
    await second.next();
    expect(await first.closed).toMatchObject({ code: 1000, reason: "Replaced by a newer connection with the same id" });
    expect(JSON.parse(await second.ask("list"))).toEqual(["same"]);
    expect(await roomJson(`${path}/events`)).toEqual(["connect:same", "close:same:1000:replaced:true", "connect:same"]);
  });

  it("replaces the first of two sockets with the same _pk that connect at once", async () => {
    const path = room();
    const [first, second] = await Promise.all([connect(`${path}?_pk=twin&slowtags=1`), connect(`${path}?_pk=twin&slowtags=1`)]);
    const closed = await Promise.race([first.closed.then(() => first), second.closed.then(() => second)]);
    const open = closed === first ? second : first;
    await open.next();
    expect(await closed.closed).toMatchObject({ code: 1000, reason: "Replaced by a newer connection with the same id" });
    expect(JSON.parse(await open.ask("list"))).toEqual(["twin"]);
    expect(await roomJson(`${path}/events`)).toEqual(["connect:twin", "close:twin:1000:replaced:true", "connect:twin"]);
  });

  it("lets user code redefine one connection's state, leaving the others' alone", async () => {
    const path = room();
    const socket = await connect(`${path}?_pk=re`);
    const other = await connect(`${path}?_pk=other`);
    await Promise.all([socket.next(), other.next()]);
    expect(await other.ask("attach:{\"mine\":1}")).toBe("attached");
    expect(JSON.parse(await socket.ask("redefine"))).toEqual({ redefined: true });
    expect(JSON.parse(await other.ask("getstate"))).toEqual({ mine: 1 });
  });

  it("is the WebSocket itself, with nothing defined on the socket", async () => {
    const socket = await connect(`${room()}?_pk=ws`);
    await socket.next();
    expect(JSON.parse(await socket.ask("isSocket"))).toEqual({ instance: true, ownKeys: [], readyState: 1 });
  });

  it("echoes the first subprotocol the client offers", async () => {
    const socket = await connect(`${room()}?_pk=p`, { "Sec-WebSocket-Protocol": "genparty.v1, other" });
    expect(socket.response.headers.get("sec-websocket-protocol")).toBe("genparty.v1");
  });

  it("lets getSubprotocol choose among the offered subprotocols", async () => {
    const socket = await connect(`${room()}?_pk=q`, { "Sec-WebSocket-Protocol": "first, chosen" });
    expect(socket.response.headers.get("sec-websocket-protocol")).toBe("chosen");
  });

  it("drops the sends of a frame handler that throws, rolls its state back, and keeps the socket", async () => {
    const path = room();
    const socket = await connect(`${path}?_pk=t`);
    await socket.next();
    socket.send("sendThenThrow");
    expect(await socket.ask("echo:alive")).toBe("alive");
    expect(await roomJson(`${path}/events`)).toEqual(["connect:t"]);
  });

  it("closes the socket with 1011 and no detail when connecting throws, and keeps the room serving", async () => {
    const path = room();
    const failed = await connect(`${path}?_pk=f&fail=1`);
    const closed = await failed.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/could not accept the connection \(server error\)/);
    expect(closed.reason).not.toMatch(/secret|\.ts/);
    const ok = await connect(`${path}?_pk=ok`);
    expect(await ok.next()).toMatch(/^welcome ok/);
    expect(await roomJson<string[]>(path)).toEqual(["ok"]);
  });

  it("refuses invalid tags by closing that socket with 1011", async () => {
    const socket = await connect(`${room()}?_pk=x&badtags=1`);
    expect((await socket.closed).code).toBe(1011);
    // 200 characters, 400 bytes: the platform counts bytes.
    const wide = await connect(`${room()}?_pk=y&tags=${encodeURIComponent("é".repeat(200))}`);
    expect((await wide.closed).code).toBe(1011);
  });

  it("answers 400 to an over-long _pk, counted in UTF-8 bytes as the platform counts it", async () => {
    const response = await exports.default.fetch(`http://spec${room()}?_pk=${"x".repeat(257)}`, { headers: { Upgrade: "websocket" } });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/1 to 256 bytes of UTF-8; got 257/);
    const wide = await exports.default.fetch(`http://spec${room()}?_pk=${encodeURIComponent("é".repeat(200))}`, { headers: { Upgrade: "websocket" } });
    expect(wide.status).toBe(400);
    expect(await wide.text()).toMatch(/got 400/);
  });

  it("ignores frames a replaced socket still sends, calls included: their replies would reach the new socket", async () => {
    const path = room();
    const first = await connect(`${path}?_pk=same`);
    await first.next();
    const second = await connect(`${path}?_pk=same`);
    await second.next();
    await first.closed;
    // Sent before the old client answers the close.
    first.send("record:late");
    first.send(JSON.stringify({ gp: 1, t: "call", id: "late", msg: "from the replaced socket" }));
    second.send("record:marker");
    await vi.waitFor(async () => expect(await roomJson<string[]>(`${path}/events`)).toContain("message:same:marker"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await roomJson<string[]>(`${path}/events`)).not.toContain("message:same:late");
    expect(second.received.map(String).filter((frame) => frame.includes('"late"'))).toEqual([]);
  });

  it("handles empty, binary and 1 MiB frames", async () => {
    const socket = await connect(`${room()}?_pk=frames`);
    await socket.next();
    expect(await socket.ask("")).toBe("unknown:");
    socket.send(new Uint8Array([1, 2, 3]).buffer);
    expect(await socket.next()).toBe("binary:3");
    const big = `echo:${"y".repeat(1024 * 1024)}`;
    expect((await socket.ask(big)).length).toBe(1024 * 1024);
  });

  if (mode === "hibernating") {
    it("keeps id, tags, uri and state across a (simulated) hibernation", async () => {
      const name = uniqueName("r");
      const path = `/${route}/${name}`;
      const socket = await connect(`${path}?_pk=h&tags=blue&joined=x`);
      await socket.next();
      await hibernate(getActor(namespace(), name));
      expect(JSON.parse(await socket.ask("meta"))).toMatchObject({ id: "h", tags: ["h", "blue"], uri: `http://spec${path}?_pk=h&tags=blue&joined=x` });
      expect(JSON.parse(await socket.ask("getstate"))).toEqual({ joined: "x" });
      expect(JSON.parse(await socket.ask("list:blue"))).toEqual(["h"]);
    });

    it("replaces a socket with the same _pk that was accepted before a wake", async () => {
      const name = uniqueName("r");
      const path = `/${route}/${name}`;
      const first = await connect(`${path}?_pk=old`);
      await first.next();
      await hibernate(getActor(namespace(), name));
      const second = await connect(`${path}?_pk=old`);
      await second.next();
      expect(await first.closed).toMatchObject({ code: 1000, reason: "Replaced by a newer connection with the same id" });
      expect(JSON.parse(await second.ask("list"))).toEqual(["old"]);
    });
  }

  it("closes sockets on eviction and serves new ones with the saved state", async () => {
    const name = uniqueName("r");
    const path = `/${route}/${name}`;
    const socket = await connect(`${path}?_pk=e`);
    await socket.next();
    socket.send("record:before");
    // Frames of one socket can arrive out of order in the pool: wait until the record is saved.
    await vi.waitFor(async () => expect(await roomJson(`${path}/events`)).toContain("message:e:before"));
    await evict(getActor(namespace(), name));
    expect((await socket.closed).code).toBe(1006);
    const again = await connect(`${path}?_pk=e`);
    await again.next();
    expect(await roomJson(`${path}/events`)).toEqual(["connect:e", "message:e:before", "connect:e"]);
  });
});

describe("Sockets the runtime did not accept", () => {
  it("are left out of getConnections and broadcasts", async () => {
    const name = uniqueName("foreign");
    const path = `/room/${name}`;
    const member = await connect(`${path}?_pk=m`);
    await member.next();
    const { runInDurableObject } = await import("cloudflare:test");
    const received: unknown[] = [];
    // A socket accepted by hand, not through genparty: the runtime must leave it alone.
    await runInDurableObject(env.ROOM.getByName(name), (_instance, state) => {
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      state.acceptWebSocket(server, ["foreign"]);
      client.accept();
      client.addEventListener("message", (event) => received.push(event.data));
      client.send("ignored by the actor");
    });
    member.send("broadcastAll:to members");
    expect(await member.next()).toBe("to members");
    expect(JSON.parse(await member.ask("list"))).toEqual(["m"]);
    expect(await member.ask("echo:still fine")).toBe("still fine");
    expect(await roomJson(`${path}/events`)).toEqual(["connect:m"]);
    expect(received).toEqual([]);
  });
});

describe("static options", () => {
  it("inherit hibernation when a subclass sets other options", async () => {
    const name = uniqueName("tuned");
    const socket = await connect(`/tuned-room/${name}?_pk=t`);
    await socket.next();
    const { runInDurableObject } = await import("cloudflare:test");
    const tagged = await runInDurableObject(env.TUNED_ROOM.getByName(name), (_i, state) => state.getWebSockets("t").length);
    expect(tagged).toBe(1);
  });
});
