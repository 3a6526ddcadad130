import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getServerByName, InvalidNameError, type Lobby, routePartykitRequest, Server, toKebab } from "../../lib/index.js";
import type { ChatServer } from "../fixtures/party.js";
import { uniqueName } from "../helpers.js";

const request = (path: string, init?: RequestInit) => new Request(`http://spec${path}`, init);
const events = (name: string) => runInDurableObject(env.ChatServer.getByName(name), (_i, state) => state.storage.get<string[]>("events"));

describe("routePartykitRequest", () => {
  it("names bindings in kebab-case", () => {
    expect(toKebab("ChatServer")).toBe("chat-server");
    expect(toKebab("MY_SERVER")).toBe("my-server");
    expect(toKebab("MyServer")).toBe("my-server");
    // As partyserver names them: a trailing underscore dropped, except in an all-capitals name.
    expect(toKebab("Room_")).toBe("room");
    expect(toKebab("my_room")).toBe("my-room");
    expect(toKebab("ROOM_")).toBe("room-");
  });

  it.each(["chat-server", "ChatServer", "CHAT-SERVER", "chatserver"])("finds the ChatServer binding from /parties/%s/…", async (party) => {
    const name = uniqueName("route");
    const response = await routePartykitRequest(request(`/parties/${party}/${name}/name`), env);
    expect(await response?.text()).toBe(name);
  });

  it("reads the room from the path alone, as the URL normalizes it: not from a query or fragment, whatever the host", async () => {
    const name = uniqueName("route");
    const onBeforeRequest = (_request: Request, lobby: Lobby) => new Response(lobby.name);
    const routed = async (url: string) => (await routePartykitRequest(new Request(url), env, { onBeforeRequest }))?.text();
    expect(await routed(`http://spec/parties/chat-server/${name}?next=/parties/chat-server/other#/parties/x/y`)).toBe(name);
    expect(await routed(`http://user:pass@spec:8080/parties/./chat-server/x/../${name}#frag/x`)).toBe(name);
    expect(await routed(`https://spec/parties/chat-server/?room=/${name}`)).toBeUndefined();
  });

  it("URL-decodes the room name", async () => {
    const response = await routePartykitRequest(request("/parties/chat-server/hello%20w%C3%B6rld%2Fx/name"), env);
    expect(await response?.text()).toBe("hello wörld/x");
  });

  it("routes through a namespace that has only idFromName and get (a wrapper, a test double), as partyserver does", async () => {
    const namespace = {
      idFromName: (name: string) => `id:${name}`,
      get: (id: string) => ({ fetch: async () => new Response(`reached ${id}`) }),
    };
    const response = await routePartykitRequest(request("/parties/fake-server/plain"), { FakeServer: namespace });
    expect(await response?.text()).toBe("reached id:plain");
  });

  it("returns null when nothing matches, so the worker decides", async () => {
    expect(await routePartykitRequest(request("/parties/nope/room"), env)).toBeNull();
    expect(await routePartykitRequest(request("/parties/chat-server"), env)).toBeNull();
    expect(await routePartykitRequest(request("/other/chat-server/room"), env)).toBeNull();
  });

  it("answers 400 with a message for a name too long or badly encoded", async () => {
    const long = await routePartykitRequest(request(`/parties/chat-server/${"n".repeat(257)}`), env);
    expect(long?.status).toBe(400);
    expect(await long?.text()).toMatch(/at most 256 characters after URL decoding; got 257/);
    // Counted in characters: 256 emoji route (and reach the object by that name), 257 don't.
    const emoji = "😀".repeat(256);
    const longest = await routePartykitRequest(request(`/parties/chat-server/${encodeURIComponent(emoji)}/name`), env);
    expect(await longest?.text()).toBe(emoji);
    expect((await routePartykitRequest(request(`/parties/chat-server/${encodeURIComponent(`${emoji}😀`)}/name`), env))?.status).toBe(400);
    const bad = await routePartykitRequest(request("/parties/chat-server/%E0%A4%A"), env);
    expect(bad?.status).toBe(400);
    expect(await bad?.text()).toMatch(/not valid URL encoding/);
  });

  it("honours a custom prefix, nested or not; an empty one is the default, as in partyserver", async () => {
    const name = uniqueName("prefix");
    expect(await (await routePartykitRequest(request(`/api/rooms/chat-server/${name}/name`), env, { prefix: "api/rooms" }))?.text()).toBe(name);
    expect(await routePartykitRequest(request(`/parties/chat-server/${name}`), env, { prefix: "api/rooms" })).toBeNull();
    expect(await (await routePartykitRequest(request(`/parties/chat-server/${name}/name`), env, { prefix: "" }))?.text()).toBe(name);
  });

  it("hands the hooks a copy they may change, with x-partykit-namespace set, as partyserver does", async () => {
    const name = uniqueName("copy");
    // Through the fixture worker, whose fetch handler gets a request with headers it can't change.
    const response = await exports.default.fetch(`http://spec/hooked/chat-server/${name}/headers`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ "x-user": "alice", "x-partykit-namespace": "chat-server" });
  });

  it("forwards the request itself when no hook runs, cf and all", async () => {
    const name = uniqueName("as-sent");
    const headers = await (await exports.default.fetch(`http://spec/parties/chat-server/${name}/headers`, { headers: { "x-client": "yes" } })).json();
    expect(headers).toMatchObject({ "x-client": "yes" });
    expect(headers).not.toHaveProperty("x-partykit-namespace");
    const cf = { country: "NZ", city: "Wellington" };
    expect(await (await exports.default.fetch(`http://spec/parties/chat-server/${name}/cf`, { cf })).json()).toMatchObject(cf);
    expect(await (await exports.default.fetch(`http://spec/hooked/chat-server/${name}/cf`, { cf })).json()).toMatchObject(cf);
  });

  it("lets onBeforeRequest answer, or replace the request", async () => {
    const name = uniqueName("before");
    const denied = await routePartykitRequest(request(`/parties/chat-server/${name}`), env, {
      onBeforeRequest: (_request, lobby) => new Response(`no entry to ${lobby.className}/${lobby.party}/${lobby.name}`, { status: 403 }),
    });
    expect(denied?.status).toBe(403);
    expect(await denied?.text()).toBe(`no entry to ChatServer/chat-server/${name}`);
    const rewritten = await routePartykitRequest(request(`/parties/chat-server/${name}/events`), env, {
      onBeforeRequest: () => request(`/parties/chat-server/${name}/name`),
    });
    expect(await rewritten?.text()).toBe(name);
  });

  it("lets onBeforeConnect refuse a WebSocket before it reaches the room", async () => {
    const name = uniqueName("connect");
    const refused = await routePartykitRequest(request(`/parties/chat-server/${name}`, { headers: { Upgrade: "websocket" } }), env, {
      onBeforeConnect: () => new Response("unauthorized", { status: 401 }),
      onBeforeRequest: () => new Response("wrong hook", { status: 500 }),
    });
    expect(refused?.status).toBe(401);
  });

  it("hands props to onStart over RPC; a client's header can't set them", async () => {
    const name = uniqueName("props");
    const forged = request(`/parties/chat-server/${name}`, { headers: { "x-partykit-props": btoa(JSON.stringify({ token: "forged" })) } });
    await routePartykitRequest(forged, env, { props: { token: "real", city: "Zürich" } });
    expect(await events(name)).toEqual([`start:${name}:{"token":"real","city":"Zürich"}`]);
    expect(forged.headers.get("x-partykit-props")).not.toBeNull();
    // Routed without props, where partyserver would read the header.
    const bare = uniqueName("props");
    await routePartykitRequest(request(`/parties/chat-server/${bare}`, { headers: { "x-partykit-props": btoa(JSON.stringify({ token: "forged" })) } }), env);
    expect(await events(bare)).toEqual([`start:${bare}:null`]);
  });

  it("answers CORS preflights and adds the headers to HTTP responses, not to upgrades", async () => {
    const name = uniqueName("cors");
    const preflight = await routePartykitRequest(request(`/parties/chat-server/${name}`, { method: "OPTIONS" }), env, { cors: true });
    expect(preflight?.status).toBe(200);
    expect(preflight?.headers.get("access-control-allow-origin")).toBe("*");
    const plain = await routePartykitRequest(request(`/parties/chat-server/${name}/name`), env, { cors: { "access-control-allow-origin": "https://app.example" } });
    expect(plain?.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const upgrade = await routePartykitRequest(request(`/parties/chat-server/${name}`, { headers: { Upgrade: "websocket" } }), env, { cors: true });
    expect(upgrade?.status).toBe(101);
    expect(upgrade?.headers.get("access-control-allow-origin")).toBeNull();
    upgrade?.webSocket?.accept();
    upgrade?.webSocket?.close();
    expect(await routePartykitRequest(request(`/parties/chat-server/${name}/name`), env)).toSatisfy((r: Response | null) => r?.headers.get("access-control-allow-origin") === null);
  });

  it("routes to Actor classes as well", async () => {
    const name = uniqueName("actor");
    const response = await routePartykitRequest(request(`/parties/counter/${name}/add`, { method: "POST" }), env);
    expect(await response?.json()).toEqual({ n: 1 });
  });

  it("is also Server.partyFetch", async () => {
    const name = uniqueName("party-fetch");
    expect(await (await Server.partyFetch(request(`/parties/chat-server/${name}/name`), env))?.text()).toBe(name);
  });
});

describe("getServerByName", () => {
  it("refuses an empty, over-long or ill-formed name", async () => {
    await expect(getServerByName(env.ChatServer, "")).rejects.toThrow(/must not be empty/);
    await expect(getServerByName(env.ChatServer, "n".repeat(257))).rejects.toThrow(/at most 256 characters/);
    await expect(getServerByName(env.ChatServer, `n${"😀".slice(0, 1)}`)).rejects.toThrow(/well-formed Unicode/);
  });

  it("starts an Actor too (its handleStart runs)", async () => {
    const stub = await getServerByName(env.COUNTER, uniqueName("start-actor"));
    expect(await stub.call({ type: "get" })).toBe(0);
  });

  it("takes partyserver's type arguments, as its calls write them", async () => {
    const name = uniqueName("typed");
    const stub = await getServerByName<Cloudflare.Env, ChatServer, { city: string }>(env.ChatServer, name, { props: { city: "Bern" } });
    expect(await (await stub.fetch(`http://spec/parties/chat-server/${name}/name`)).text()).toBe(name);
    const routed = await routePartykitRequest<Cloudflare.Env, ChatServer>(request(`/parties/chat-server/${name}/name`), env);
    expect(await routed?.text()).toBe(name);
  });

  it("says so when props go to an object that isn't a genparty Actor or Server", async () => {
    await expect(getServerByName(env.FLAKY as never, uniqueName("plain"), { props: { any: 1 } })).rejects.toThrow(
      /props can only be handed to a genparty Actor or Server; this object's class is neither/,
    );
  });

  it("says what to use instead, and not props, when getServerByName gets a class that isn't genparty's", async () => {
    const error = await getServerByName(env.FLAKY as never, uniqueName("plain")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^getServerByName starts a genparty Actor or Server; this object's class is neither .* Get its stub with namespace\.getByName\(name\)/);
    expect((error as Error).message).not.toMatch(/props/);
  });

  it("refuses . and .. as room names, which no URL can reach", async () => {
    await expect(getServerByName(env.ChatServer, "..")).rejects.toThrow(/A room name can't be "\.\.": a URL can't hold it as a path segment/);
    await expect(getServerByName(env.ChatServer, ".")).rejects.toThrow(InvalidNameError);
    expect(await getServerByName(env.ChatServer, "...")).toBeDefined();
  });
});

describe("Routing with props to a room whose onStart fails", () => {
  it("answers 500 without detail, and the next request tries again", async () => {
    const name = uniqueName("flaky-props");
    const first = await routePartykitRequest(request(`/parties/flaky-start-server/${name}`), env, { props: { any: 1 } });
    expect(first?.status).toBe(500);
    expect(await first?.text()).toBe(`Internal error in FlakyStartServer:${name}`);
    const second = await routePartykitRequest(request(`/parties/flaky-start-server/${name}`), env, { props: { any: 1 } });
    expect(await second?.text()).toBe("started after 2 attempts");
  });

  it("refuses a WebSocket client as without props: 101, then a 1011 close it can read", async () => {
    const closeOf = async (path: string, options: { props?: unknown }) => {
      const response = await routePartykitRequest(request(path, { headers: { Upgrade: "websocket" } }), env, options);
      const socket = response?.webSocket;
      if (!socket) return { status: response?.status };
      socket.accept();
      const { code, reason } = await new Promise<CloseEvent>((resolve) => socket.addEventListener("close", resolve));
      return { status: response.status, code, reason };
    };
    const plain = await closeOf(`/parties/flaky-start-server/${uniqueName("flaky-ws")}`, {});
    const name = uniqueName("flaky-ws-props");
    const withProps = await closeOf(`/parties/flaky-start-server/${name}`, { props: { any: 1 } });
    expect(plain).toMatchObject({ status: 101, code: 1011 });
    expect(withProps).toEqual({ status: 101, code: 1011, reason: `FlakyStartServer:${name} could not accept the connection (server error).` });
  });
});
