import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CallAnswer } from "../../lib/actor/answer.js";
import { REORDER_WAIT_MS, type SendOrder } from "../../lib/actor/sender-order.js";
import { getActor, getServerByName } from "../../lib/index.js";
import { advanceClock, evict, hibernate, resetClock, runAlarm } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect, roomJson } from "../sockets.js";

afterEach(() => resetClock());

describe("genparty/testing", () => {
  it("hibernate drops the runtime's memory and reloads state from storage", async () => {
    const counter = getActor(env.COUNTER, uniqueName("hib"));
    await counter.call({ type: "add", by: 1 });
    // Change storage behind the runtime's back: only a reload can see it.
    await runInDurableObject(counter.stub, (_i, state) => {
      state.storage.sql.exec(`UPDATE _genparty_meta SET value = ? WHERE key = 'state'`, JSON.stringify({ n: 41, log: [], waiting: [] }));
    });
    expect(await counter.call({ type: "get" })).toBe(1);
    await hibernate(counter);
    expect(await counter.call({ type: "add", by: 1 })).toBe(42);
  });

  it("hibernate refuses a busy actor, as the platform never hibernates one", async () => {
    const counter = getActor(env.COUNTER, uniqueName("hib-busy"));
    const waiting = counter.call({ type: "wait" });
    await counter.call({ type: "get" });
    await expect(hibernate(counter)).rejects.toThrow(/can't hibernate now: 0 queued, 1 calls awaiting replies/);
    await counter.call({ type: "release", value: "ok" });
    expect(await waiting).toBe("ok");
  });

  it("hibernate refuses while messages wait for an earlier one of their sender, and they still arrive", async () => {
    const counter = getActor(env.COUNTER, uniqueName("hib-held"));
    expect(await counter.call({ type: "get" })).toBe(0);
    // ActorRef's RPC methods, called by hand to choose the arrival order.
    const stub = counter.stub as unknown as {
      __genpartyCall(msg: unknown, timeout: number, chain: undefined, sender: string, seq: number, base: number): Promise<CallAnswer>;
      cast(msg: unknown, order: SendOrder): Promise<void>;
    };
    const sender = `held-${crypto.randomUUID()}`;
    // 2 and 3 arrive first and wait for 1 (at most REORDER_WAIT_MS): the object is busy meanwhile.
    await stub.cast({ type: "add", by: 5 }, { sender, seq: 2, base: 1 });
    const held = stub.__genpartyCall({ type: "add", by: 1 }, 1_000, undefined, sender, 3, 1);
    // The call isn't awaited and `hibernate` goes its own way in, so it can get there first: asked
    // again until both wait (a refusal changes nothing, and 2 keeps the object busy), well within
    // the REORDER_WAIT_MS after which the two would run without 1.
    await vi.waitFor(() => expect(hibernate(counter)).rejects.toThrow(/can't hibernate now: 0 queued, 0 calls awaiting replies, 2 waiting for an earlier message of their sender/), {
      timeout: REORDER_WAIT_MS / 2,
      interval: 5,
    });
    expect(await stub.__genpartyCall({ type: "get" }, 1_000, undefined, sender, 1, 1)).toBe(0);
    expect(await held).toBe(6);
    await hibernate(counter);
    expect(await counter.call({ type: "get" })).toBe(6);
  });

  it("hibernate starts the actor again without the props of its last start, as a wake does", async () => {
    const name = uniqueName("hib-props");
    await getServerByName(env.ChatServer, name, { props: { token: "t" } });
    const socket = await connect(`/parties/chat-server/${name}?_pk=a`);
    await socket.next();
    await hibernate(getActor(env.ChatServer, name));
    // The frame wakes the room: nobody hands props to this start.
    expect(await socket.ask("after")).toBe("sent: after");
    const starts = (await roomJson<string[]>(`/parties/chat-server/${name}/events`)).filter((event) => event.startsWith("start:"));
    expect(starts).toEqual([`start:${name}:{"token":"t"}`, `start:${name}:null`]);
  });

  it("evict refuses a raw stub it evicted before, instead of reporting an eviction it didn't make", async () => {
    const name = uniqueName("evict-twice");
    await getActor(env.COUNTER, name).call({ type: "add", by: 1 });
    const stub = env.COUNTER.getByName(name);
    await evict(stub);
    await expect(evict(stub)).rejects.toThrow(/this stub is dead, evicted earlier, so it reaches no instance\. Get a new one/);
    await evict(env.COUNTER.getByName(name));
  });

  it("evict goes through an ActorRef whose stub an eviction made elsewhere broke", async () => {
    const name = uniqueName("evict-ref");
    const ref = getActor(env.COUNTER, name);
    await ref.call({ type: "add", by: 1 });
    await evict(env.COUNTER.getByName(name));
    // The instance built since, marked; the ref's own stub is still the broken one.
    await runInDurableObject(env.COUNTER.getByName(name), (instance) => void ((instance as unknown as { marker?: string }).marker = "before"));
    await evict(ref);
    expect(await runInDurableObject(env.COUNTER.getByName(name), (instance) => (instance as unknown as { marker?: string }).marker)).toBeUndefined();
    expect(await ref.call({ type: "get" })).toBe(1);
  });

  it("evict makes the next message construct a new instance and keeps storage", async () => {
    const counter = getActor(env.COUNTER, uniqueName("evict"));
    await counter.call({ type: "add", by: 3 });
    const marker = await runInDurableObject(counter.stub, (instance) => {
      (instance as unknown as { marker: string }).marker = "old instance";
      return (instance as unknown as { marker: string }).marker;
    });
    expect(marker).toBe("old instance");
    await evict(counter);
    const after = await runInDurableObject(counter.stub, (instance) => (instance as unknown as { marker?: string }).marker);
    expect(after).toBeUndefined();
    expect(await counter.call({ type: "get" })).toBe(3);
  });

  it("advanceClock fires due timers without sleeping; runAlarm reports whether an alarm was set", async () => {
    const counter = getActor(env.COUNTER, uniqueName("clock"));
    expect(await runAlarm(counter)).toBe(false);
    await counter.call({ type: "timer", ms: 3_600_000, key: "hour", label: "an hour later" });
    const started = Date.now();
    await advanceClock(3_600_000, counter);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await counter.call({ type: "state" })).log).toContain(`timeout:hour:an hour later@${counter.name}`);
  });

  it("advanceClock refuses to go back in time", async () => {
    await expect(advanceClock(-1)).rejects.toThrow(/non-negative/);
  });
});
