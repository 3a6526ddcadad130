import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import readmeWorker from "../../examples/partyserver-readme/index.js";
import { getActor } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect, TestSocket } from "../sockets.js";

// MyServer logs every connect and message, as the README's does: kept off the spec output, and checked.
let log: MockInstance<typeof console.log>;
beforeEach(() => {
  log = vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => log.mockRestore());

/** Opens a tab as the page does: a plain WebSocket with no `_pk`, so the room picks the id. */
const tab = (room: string) => connect(`/parties/my-server/${room}`);

describe("The PartyServer README example page", () => {
  it("opens its socket at /parties/my-server/:room", async () => {
    const html = await (await exports.default.fetch("http://examples/partyserver-readme/lobby")).text();
    expect(html).toContain('new URL("/parties/my-server/lobby", location.href)');
  });
});

describe("MyServer", () => {
  it("relays each message to the room's other tabs, not back to its sender", async () => {
    const room = uniqueName("readme");
    const [a, b, c] = await Promise.all([tab(room), tab(room), tab(room)]);
    a.send("hello from a");
    expect(await b.next()).toBe("hello from a");
    expect(await c.next()).toBe("hello from a");
    b.send("hi from b");
    // a's first message is b's: its own never came back.
    expect(await a.next()).toBe("hi from b");
    expect(await c.next()).toBe("hi from b");
    // What the page tells its reader to look for in the `wrangler dev` output.
    expect(log).toHaveBeenCalledWith("Connected", expect.any(String), "to server", room);
    expect(log).toHaveBeenCalledWith("Message from", expect.any(String), ":", "hello from a");
  });

  it("keeps rooms apart", async () => {
    const [one, two] = [uniqueName("one"), uniqueName("two")];
    const [a, b, c, d] = await Promise.all([tab(one), tab(one), tab(two), tab(two)]);
    a.send("for room one");
    d.send("for room two");
    expect(await b.next()).toBe("for room one");
    // c's first message is its own room's: room one's never reached it.
    expect(await c.next()).toBe("for room two");
  });

  it("relays between tabs that stayed open across a hibernation", async () => {
    const room = uniqueName("hibernate");
    const [a, b] = await Promise.all([tab(room), tab(room)]);
    await hibernate(getActor(env.MyServer, room));
    a.send("after the nap");
    expect(await b.next()).toBe("after the nap");
  });

  it("drops its tabs when evicted, and relays between the tabs that reconnect", async () => {
    const room = uniqueName("evict");
    const [a, b] = await Promise.all([tab(room), tab(room)]);
    await evict(getActor(env.MyServer, room));
    // The page shows "closed (1006); reload to reconnect".
    expect((await a.closed).code).toBe(1006);
    expect((await b.closed).code).toBe(1006);
    const [c, d] = await Promise.all([tab(room), tab(room)]);
    c.send("back");
    expect(await d.next()).toBe("back");
  });

  it("answers a plain GET with partyserver's 404 Not implemented: it has no onRequest", async () => {
    const response = await exports.default.fetch(`http://examples/parties/my-server/${uniqueName("get")}`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe("Not implemented");
  });
});

describe("The README's own worker (examples/partyserver-readme/index.ts)", () => {
  const fetchReadme = (path: string, init?: RequestInit) => readmeWorker.fetch(new Request(`http://readme${path}`, init), env);

  it("routes /parties/my-server/:room to MyServer", async () => {
    const room = uniqueName("own-worker");
    const open = async () => {
      const response = await fetchReadme(`/parties/my-server/${room}`, { headers: { Upgrade: "websocket" } });
      expect(response.status).toBe(101);
      return new TestSocket(response.webSocket!, response);
    };
    const [a, b] = [await open(), await open()];
    a.send("through the README's fetch");
    expect(await b.next()).toBe("through the README's fetch");
  });

  it("answers 404 Not Found to any other path (with the await the README forgot, not a 500)", async () => {
    const response = await fetchReadme("/elsewhere");
    expect(response.status).toBe(404);
    expect(await response.text()).toBe("Not Found");
  });
});
