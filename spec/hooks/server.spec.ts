import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runtimeOf } from "../../lib/actor/actor.js";
import { type Connection, getActor, getServerByName, type WSMessage } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock, runAlarm } from "../../lib/testing/index.js";
import { type ChatServer, ChatServer as ChatServerClass } from "../fixtures/party.js";
import { uniqueName } from "../helpers.js";
import { connect, roomJson } from "../sockets.js";

afterEach(() => resetClock());

const modes = [
  ["hibernating", "chat-server", () => env.ChatServer],
  ["in-memory", "memory-chat", () => env.MEMORY_CHAT],
] as const;

describe.each(modes)("Server (%s)", (mode, party, namespace) => {
  const room = () => uniqueName("chat");
  const events = (name: string) => roomJson<string[]>(`/parties/${party}/${name}/events`);

  it("runs onStart once, before onConnect and onRequest, even under concurrent connections", async () => {
    const name = room();
    const sockets = await Promise.all(["a", "b", "c"].map((id) => connect(`/parties/${party}/${name}?_pk=${id}`)));
    await Promise.all(sockets.map((socket) => socket.next()));
    const seen = await events(name);
    expect(seen[0]).toBe(`start:${name}:null`);
    expect(seen.filter((event) => event.startsWith("start:"))).toHaveLength(1);
    expect(seen.slice(1).sort()).toEqual(["connect:a", "connect:b", "connect:c"]);
  });

  it("delivers messages and broadcasts to the others", async () => {
    const name = room();
    const a = await connect(`/parties/${party}/${name}?_pk=a`);
    const b = await connect(`/parties/${party}/${name}?_pk=b`);
    expect(await a.next()).toBe(`welcome a to ${name}`);
    await b.next();
    expect(await a.ask("hello")).toBe("sent: hello");
    expect(await b.next()).toBe("a: hello");
  });

  it("never interleaves two async onMessage calls", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=s`);
    await socket.next();
    socket.send("slow:1");
    socket.send("slow:2");
    socket.send("record:after");
    await vi.waitFor(async () => expect((await events(name)).filter((event) => event.startsWith("end:") || event === "record:after")).toHaveLength(3));
    // Each onMessage runs to its end before the next begins: every begin is followed by its own end.
    // (Which frame goes first is the platform's: under load the vitest pool has delivered a socket's
    // frames out of order, so only the pairing is asserted.)
    const seen = (await events(name)).slice(2);
    for (const tag of ["slow:1", "slow:2"]) expect(seen[seen.indexOf(`begin:${tag}`) + 1]).toBe(`end:${tag}`);
    expect(seen.sort()).toEqual(["begin:slow:1", "begin:slow:2", "end:slow:1", "end:slow:2", "record:after"]);
  });

  it("passes empty, binary and 1 MiB frames to onMessage", async () => {
    const name = room();
    const a = await connect(`/parties/${party}/${name}?_pk=a`);
    await a.next();
    expect(await a.ask("")).toBe("sent: ");
    a.send(new Uint8Array(10).buffer);
    expect(await a.next()).toBe("sent: binary:10");
    const big = "z".repeat(1024 * 1024);
    expect((await a.ask(big)).length).toBe(big.length + "sent: ".length);
  });

  it("keeps the room alive when onMessage rejects", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=t`);
    await socket.next();
    socket.send("throw");
    expect(await socket.ask("still")).toBe("sent: still");
  });

  it("closes with 1011 and no detail when onConnect throws, leaving no orphaned connection", async () => {
    const name = room();
    const failed = await connect(`/parties/${party}/${name}?_pk=f&fail=1`);
    const closed = await failed.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).not.toMatch(/secret|\.ts/);
    const ok = await connect(`/parties/${party}/${name}?_pk=ok`);
    await ok.next();
    expect(await ok.ask("hi")).toBe("sent: hi");
    const ids = await runInDurableObject(namespace().getByName(name), (instance) => instance.getConnections().map((c) => c.id));
    expect(ids).toEqual(["ok"]);
  });

  /** Starts an upgrade and gives up on it after `ms`, as a client that closed its tab would. */
  const abandonedUpgrade = async (path: string, ms: number) => {
    const controller = new AbortController();
    const upgrade = exports.default.fetch(`http://spec${path}`, { headers: { Upgrade: "websocket" }, signal: controller.signal });
    setTimeout(() => controller.abort(), ms);
    await expect(upgrade).rejects.toThrow(/abort/i);
  };

  it("closes a socket whose client gave up during onConnect, and runs onClose for it (1006), instead of keeping it open for nobody", async () => {
    const name = room();
    await abandonedUpgrade(`/parties/${party}/${name}?_pk=gone&slowConnect=300`, 50);
    await vi.waitFor(async () => expect(await events(name)).toContain("close:gone:1006::false"), { timeout: 5_000 });
    expect(await events(name)).toEqual([`start:${name}:null`, "connect:gone", "close:gone:1006::false"]);
    const other = await connect(`/parties/${party}/${name}?_pk=other`);
    await other.next();
    expect(await other.ask("hello")).toBe("sent: hello");
    const ids = await runInDurableObject(namespace().getByName(name), (instance) => instance.getConnections().map((c) => c.id));
    expect(ids).toEqual(["other"]);
  });

  it("runs onClose once for a client that gave up during an onConnect that closed it itself", async () => {
    const name = room();
    await abandonedUpgrade(`/parties/${party}/${name}?_pk=gone&slowConnect=300&closeInConnect=1`, 50);
    await vi.waitFor(async () => expect(await events(name)).toContain("close:gone:4001:not today:true"), { timeout: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await events(name)).toEqual([`start:${name}:null`, "connect:gone", "close:gone:4001:not today:true"]);
  });

  it("never runs onConnect for a client that gave up while its connect waited in the mailbox", async () => {
    const name = room();
    const first = connect(`/parties/${party}/${name}?_pk=first&slowConnect=300`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await abandonedUpgrade(`/parties/${party}/${name}?_pk=gone`, 50);
    const socket = await first;
    expect(await socket.next()).toBe(`welcome first to ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await events(name)).toEqual([`start:${name}:null`, "connect:first"]);
    const ids = await runInDurableObject(namespace().getByName(name), (instance) => instance.getConnections().map((c) => c.id));
    expect(ids).toEqual(["first"]);
  });

  it("closes the client a reconnect replaced, for onClose, when the reconnect gave up before its onConnect", async () => {
    const name = room();
    const first = await connect(`/parties/${party}/${name}?_pk=p`);
    await first.next();
    // Another client's slow onConnect holds the mailbox while a reconnect with id p waits, and gives up.
    const slow = connect(`/parties/${party}/${name}?_pk=slow&slowConnect=300`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await abandonedUpgrade(`/parties/${party}/${name}?_pk=p`, 50);
    await slow;
    // onClose(replaced) promised an onConnect next: it comes, and the close of a client that left.
    await vi.waitFor(async () => expect(await events(name)).toContain("close:p:1006::false"), { timeout: 5_000 });
    expect(await events(name)).toEqual([`start:${name}:null`, "connect:p", "connect:slow", "close:p:1000:replaced:true:replaced", "connect:p", "close:p:1006::false"]);
    const ids = await runInDurableObject(namespace().getByName(name), (instance) => instance.getConnections().map((c) => c.id));
    expect(ids).toEqual(["slow"]);
  });

  it("passes the peer's close code and reason to onClose and completes the handshake, even when onClose throws", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=c`);
    await socket.next();
    socket.close(4002, "throw");
    expect(await socket.closed).toMatchObject({ code: 4002, reason: "throw" });
    await vi.waitFor(async () => expect(await events(name)).toContain("close:c:4002:throw:true"));
    const next = await connect(`/parties/${party}/${name}?_pk=d`);
    expect(await next.next()).toBe(`welcome d to ${name}`);
  });

  it("hands a socket error to onError, and the connection stays usable", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=err`);
    await socket.next();
    // The platform calls webSocketError (hibernating) or fires "error" (in-memory); call that entry as it would.
    await runInDurableObject(namespace().getByName(name), async (instance) => {
      const connection = instance.getConnection("err")!;
      if (mode === "hibernating") instance.webSocketError(connection, new Error("socket broke"));
      else connection.dispatchEvent(Object.assign(new Event("error"), { error: new Error("socket broke") }));
    });
    await vi.waitFor(async () => expect(await events(name)).toContain("error:err:socket broke"));
    expect(await socket.ask("still open")).toBe("sent: still open");
  });

  it("answers 500 without a stack when onRequest throws", async () => {
    const response = await exports.default.fetch(`http://spec/parties/${party}/${room()}/throw`);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toMatch(/secret|\.ts|at /);
  });

  it("maps ctx.storage.setAlarm onto the one alarm and runs onAlarm (after onStart) when it comes", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=al`);
    await socket.next();
    const before = Date.now();
    const set = Number((await socket.ask("alarm:60000")).replace("alarm set for ", ""));
    expect(set).toBeGreaterThanOrEqual(before + 60_000);
    expect(await socket.ask("noalarm")).toBe("alarm null");
    await socket.ask("alarm:60000");
    await advanceClock(60_000, namespace().getByName(name));
    expect(await events(name)).toContain(`alarm:${name}`);
  });

  /** Replaces a hook on the running room (the fixture's hooks stay as they are for the other specs). */
  const patchHook = (name: string, hook: "onMessage" | "onAlarm", fn: (this: ChatServer, ...args: never[]) => unknown) =>
    runInDurableObject(namespace().getByName(name), (instance: ChatServer) => {
      Object.defineProperty(instance, hook, { configurable: true, writable: true, value: fn.bind(instance) });
    });

  it("reads getAlarm() as null inside onAlarm, so a periodic alarm that re-arms when none is set goes on", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=periodic`);
    await socket.next();
    await patchHook(name, "onAlarm", async function (this: ChatServer) {
      const current = await this.ctx.storage.getAlarm();
      await this.ctx.storage.put("seen", current);
      if (current === null) await this.ctx.storage.setAlarm(Date.now() + 60_000);
    });
    await socket.ask("alarm:1000");
    await advanceClock(1_000, namespace().getByName(name));
    const after = await runInDurableObject(namespace().getByName(name), async (_i, state) => ({ seen: await state.storage.get("seen"), next: await state.storage.getAlarm() }));
    expect(after.seen).toBeNull();
    expect(after.next).not.toBeNull();
  });

  it("runs a periodic alarm, re-armed with Date.now(), once per period advanceClock moves", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=periodic`);
    await socket.next();
    await patchHook(name, "onAlarm", async function (this: ChatServer) {
      await this.ctx.storage.put("runs", ((await this.ctx.storage.get<number>("runs")) ?? 0) + 1);
      await this.ctx.storage.setAlarm(Date.now() + 60_000);
    });
    await socket.ask("alarm:60000");
    const read = () =>
      runInDurableObject(namespace().getByName(name), async (_i, state) => ({ runs: await state.storage.get<number>("runs"), in: (await state.storage.getAlarm())! - Date.now() }));
    for (const runs of [1, 2]) {
      await advanceClock(60_000, namespace().getByName(name));
      const after = await read();
      expect(after.runs).toBe(runs);
      // getAlarm() reads as Date.now() does, which the test clock doesn't move: a minute ahead.
      expect(after.in).toBeGreaterThan(59_000);
      expect(after.in).toBeLessThanOrEqual(60_000);
    }
  });

  it("runs onClose for a close it starts while its mailbox is full", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=full`);
    await socket.next();
    await patchHook(name, "onMessage", async function (this: ChatServer, connection: Connection, message: WSMessage) {
      if (message !== "block") return;
      await new Promise((resolve) => setTimeout(resolve, 300));
      connection.close(4000, "bye");
    });
    socket.send("block");
    // Past the mailbox's 1,000 while the hook waits: these frames are dropped, the close must not be.
    for (let i = 0; i < 1_100; i++) socket.send(`x${i}`);
    expect((await socket.closed).code).toBe(4000);
    await vi.waitFor(async () => expect(await events(name)).toContain("close:full:4000:bye:true"), { timeout: 5_000 });
  });

  it("refuses a close it couldn't send in the hook that asks for it, instead of leaving the socket open", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=kick`);
    await socket.next();
    await patchHook(name, "onMessage", function (this: ChatServer, connection: Connection, message: WSMessage) {
      const [code, reason] = message === "long" ? [4001, "x".repeat(124)] : [Number(message), "bye"];
      try {
        connection.close(code, reason);
      } catch (error) {
        connection.send(`refused: ${(error as Error).message}`);
      }
    });
    expect(await socket.ask("long")).toBe("refused: connection.close(code, reason): a close reason is at most 123 bytes of UTF-8; shorten it (send the details in a frame before closing).");
    expect(await socket.ask("1005")).toMatch(/^refused: connection.close\(code\): 1005 is not a close code a server can send/);
    expect(await socket.ask("5000")).toMatch(/^refused: .*5000 is not a close code/);
    socket.send("1011");
    expect((await socket.closed).code).toBe(1011);
  });

  it("gives a connection an id when _pk is empty, as partyserver does", async () => {
    const socket = await connect(`/parties/${party}/${room()}?_pk=`);
    expect(await socket.next()).toMatch(/^welcome [\w-]{36} to /);
  });

  it("broadcasts to everyone when told to leave out null, as partyserver takes it", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=all`);
    await socket.next();
    await patchHook(name, "onMessage", function (this: ChatServer) {
      this.broadcast("to all", null);
    });
    expect(await socket.ask("all")).toBe("to all");
  });

  it("runs onAlarm for an alarm its partyserver code set before the class moved to genparty", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=legacy`);
    await socket.next();
    const at = Date.now() + 60_000;
    // What partyserver's setAlarm left behind: the platform alarm itself (under genparty, ctx.storage.setAlarm is a timer).
    await runInDurableObject(namespace().getByName(name), (instance) => runtimeOf(instance).platformAlarm.set(at));
    await evict(getActor(namespace(), name));
    // The new code sees it as partyserver code did, and can still move or delete it.
    expect(await runInDurableObject(namespace().getByName(name), (_i, state) => state.storage.getAlarm())).toBe(at);
    await advanceClock(60_000, namespace().getByName(name));
    expect(await events(name)).toContain(`alarm:${name}`);
  });

  if (mode === "hibernating") {
    it("runs onStart again after a (simulated) hibernation, and hooks still see the connection", async () => {
      const name = room();
      const socket = await connect(`/parties/${party}/${name}?_pk=h`);
      await socket.next();
      await hibernate(getActor(namespace(), name));
      expect(await socket.ask("after")).toBe("sent: after");
      expect((await events(name)).filter((event) => event.startsWith("start:"))).toHaveLength(2);
    });
  }

  it("runs onStart on a cold start by alarm after eviction, with this.name known", async () => {
    const name = room();
    const socket = await connect(`/parties/${party}/${name}?_pk=e`);
    await socket.next();
    await socket.ask("alarm:1000");
    await evict(getActor(namespace(), name));
    await advanceClock(1_000);
    expect(await runAlarm(namespace().getByName(name))).toBe(true);
    const seen = await events(name);
    expect(seen.slice(-2)).toEqual([`start:${name}:null`, `alarm:${name}`]);
  });
});

describe("Server alarms", () => {
  it("run a user-defined alarm() after onStart, and super.alarm() reaches onAlarm", async () => {
    const name = uniqueName("user-alarm");
    const socket = await connect(`/parties/alarm-server/${name}?_pk=u`);
    await socket.next();
    await socket.ask("alarm:500");
    await evict(getActor(env.AlarmServer, name));
    await advanceClock(1_000, env.AlarmServer.getByName(name));
    const seen = await roomJson<string[]>(`/parties/alarm-server/${name}/events`);
    expect(seen.slice(-3)).toEqual([`start:${name}:null`, `user alarm:${name}:retry 0, due passed`, `alarm:${name}`]);
  });

  it("still set and ring after the room wiped its storage with ctx.storage.deleteAll()", async () => {
    const name = uniqueName("wipe");
    const socket = await connect(`/parties/chat-server/${name}?_pk=w`);
    await socket.next();
    expect(await socket.ask("alarm:60000")).toMatch(/^alarm set for \d+$/);
    await runInDurableObject(env.ChatServer.getByName(name), (_instance, state) => state.storage.deleteAll());
    // The alarm set before was wiped with the rest (genparty keeps it in storage).
    expect(await runInDurableObject(env.ChatServer.getByName(name), (_instance, state) => state.storage.getAlarm())).toBeNull();
    expect(await socket.ask("alarm:500")).toMatch(/^alarm set for \d+$/);
    await advanceClock(1_000, env.ChatServer.getByName(name));
    expect(await roomJson<string[]>(`/parties/chat-server/${name}/events`)).toContain(`alarm:${name}`);
  });
});

describe("Server subclasses", () => {
  it("are refused when a class field takes one of those names, as plain JavaScript allows", async () => {
    await runInDurableObject(env.ChatServer.getByName(uniqueName("reserved-field")), (_instance, state) => {
      class Helper extends ChatServerClass {
        constructor(ctx: DurableObjectState, e: Cloudflare.Env) {
          super(ctx, e);
          // What `now = () => 42` in the class body does.
          Object.defineProperty(this, "now", { value: () => 42, writable: true, configurable: true, enumerable: true });
        }
      }
      expect(() => new Helper(state, env)).toThrow(/Cannot redefine property: now/);
    });
  });

  it.each(["handleRequest", "init", "now"])("are refused when they define %s(), which the runtime calls itself, naming it", async (method) => {
    await runInDurableObject(env.ChatServer.getByName(uniqueName("reserved")), (_instance, state) => {
      // What a partyserver class with a helper of that name is (in plain JS, or TypeScript that compiled it anyway).
      class Helper extends ChatServerClass {}
      Object.defineProperty(Helper.prototype, method, { value: () => new Response("mine") });
      expect(() => new Helper(state, env)).toThrow(new RegExp(`^Helper defines ${method}\\(\\), a method genparty's Server runs itself .* Rename yours`));
    });
  });
});

describe("Server start-up", () => {
  it("answers 500 when onStart fails and tries again on the next request", async () => {
    const name = uniqueName("flaky");
    const first = await exports.default.fetch(`http://spec/parties/flaky-start-server/${name}`);
    expect(first.status).toBe(500);
    const second = await exports.default.fetch(`http://spec/parties/flaky-start-server/${name}`);
    expect(await second.text()).toBe("started after 2 attempts");
  });

  it("getServerByName returns after onStart resolved, with the props", async () => {
    const name = uniqueName("byname");
    const stub = await getServerByName(env.ChatServer, name, { props: { token: "s3cret", city: "Zürich" } });
    const seen = await runInDurableObject(stub, (_instance, state) => state.storage.get<string[]>("events"));
    expect(seen).toEqual([`start:${name}:{"token":"s3cret","city":"Zürich"}`]);
  });

  it("fetch returns a promise, as partyserver's, for an override to chain, even when onRequest answers at once", async () => {
    const name = uniqueName("chained");
    const stub = await getServerByName(env.ChatServer, name);
    const text = await runInDurableObject(stub, (server) => server.fetch(new Request(`http://spec/parties/chat-server/${name}/name`)).then((response) => response.text()));
    expect(text).toBe(name);
  });

  it("getServerByName of a started room doesn't wait for the hook running in it", async () => {
    const name = uniqueName("self-lookup");
    const socket = await connect(`/parties/chat-server/${name}?_pk=a`);
    expect(await socket.next()).toBe(`welcome a to ${name}`);
    socket.send("own stub");
    expect(await socket.next()).toBe("got my own stub");
  });

  it("lets two rooms look each other up from a hook and an RPC method", async () => {
    const [a, b] = [uniqueName("ring-a"), uniqueName("ring-b")];
    const socket = await connect(`/parties/chat-server/${a}?_pk=a`);
    expect(await socket.next()).toBe(`welcome a to ${a}`);
    socket.send(`ring:${b}`);
    expect(await socket.next()).toBe(`${b} rang back ${a}`);
  });
});

describe("The seed README's MyServer (KV-backed, new_classes)", () => {
  it("relays a message to every other connection", async () => {
    const name = uniqueName("readme");
    const a = await connect(`/parties/my-server/${name}?_pk=a`);
    const b = await connect(`/parties/my-server/${name}?_pk=b`);
    a.send("hello from a");
    expect(await b.next()).toBe("hello from a");
    b.send(new Uint8Array([7, 7]).buffer);
    // Binary frames stay binary on the way through (the test client reads them as a Blob).
    expect(await a.next()).toBe("[object Blob]");
  });
});

describe("Server names", () => {
  it("are readable in field initializers", async () => {
    const name = uniqueName("field");
    expect(await (await exports.default.fetch(`http://spec/parties/chat-server/${name}/constructed-as`)).text()).toBe(name);
  });

  it("answer 500 saying how to fix it when the object was reached without a name", async () => {
    const stub = env.ChatServer.get(env.ChatServer.newUniqueId());
    const response = await stub.fetch("http://spec/anything");
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/has no name: it was created with newUniqueId\(\) or idFromString\(\).*getByName/);
  });
});

describe.each(modes)("Close handshake (%s)", (_mode, party) => {
  it("does not echo a reserved code when the client closes without one", async () => {
    const name = uniqueName("nocode");
    const socket = await connect(`/parties/${party}/${name}?_pk=n`);
    await socket.next();
    socket.close();
    await socket.closed;
    await vi.waitFor(async () => expect(await roomJson<string[]>(`/parties/${party}/${name}/events`)).toContain("close:n:1005::true"));
  });

  it("completes a close the server starts, and a close() inside onClose is harmless", async () => {
    const name = uniqueName("server-close");
    const socket = await connect(`/parties/${party}/${name}?_pk=s`);
    await socket.next();
    socket.send("closeInOnClose");
    expect(await socket.closed).toMatchObject({ code: 4005, reason: "server closes" });
    const next = await connect(`/parties/${party}/${name}?_pk=t`);
    expect(await next.next()).toBe(`welcome t to ${name}`);
  });
});
