import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { getActor, getServerByName } from "../../lib/index.js";
import { advanceClock, hibernate, resetClock } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect } from "../sockets.js";

/**
 * An Error whose `message` is a getter that throws (say it formats details that were never set):
 * logging it throws too, as `console.error` reads `message`. The runtime logs what a handler threw
 * before answering for the failed turn, so that log line must not be able to fail the answer.
 */
class LazyError extends Error {
  override get message(): string {
    throw new TypeError("LazyError: details were never loaded");
  }
}

type Patchable = Record<string, unknown>;

/** Wraps a handler of the live instance (as a subclass would override it). */
async function wrap(stub: unknown, name: string, wrapper: (original: (...args: unknown[]) => unknown, instance: Patchable) => (...args: unknown[]) => unknown) {
  await runInDurableObject(stub as never, (raw) => {
    const instance = raw as unknown as Patchable;
    const original = (instance[name] as (...args: unknown[]) => unknown).bind(instance);
    instance[name] = wrapper(original, instance);
  });
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<"still open">((resolve) => setTimeout(() => resolve("still open"), ms))]);

describe("A handler throws an error that can't be logged", () => {
  afterEach(() => resetClock());

  it("answers a call with a RemoteError that says the message couldn't be read", async () => {
    const counter = getActor(env.COUNTER, uniqueName("lazy-call"));
    await wrap(counter.stub, "handleCall", () => () => {
      throw new LazyError();
    });
    await expect(counter.call({ type: "get" })).rejects.toMatchObject({ remoteName: "Error", message: "(its message could not be read)" });
  });

  it("closes the socket with 1011 when handleInfo(connect) throws it", async () => {
    const name = uniqueName("lazy-connect");
    const counter = getActor(env.COUNTER, name);
    expect(await counter.call({ type: "add", by: 1 })).toBe(1);
    await wrap(counter.stub, "handleInfo", (original) => (info, state) => {
      if ((info as { type: string }).type === "connect") throw new LazyError();
      return original(info, state);
    });
    const socket = await connect(`/counter/${name}?_pk=x`);
    expect(await within(socket.closed, 2_000)).toMatchObject({ code: 1011 });
    expect(await counter.call({ type: "get" })).toBe(1);
  });

  it("closes the socket with 1011 when getConnectionTags throws it", async () => {
    const name = uniqueName("lazy-tags");
    const counter = getActor(env.COUNTER, name);
    expect(await counter.call({ type: "add", by: 1 })).toBe(1);
    await wrap(counter.stub, "getConnectionTags", () => () => {
      throw new LazyError();
    });
    const socket = await connect(`/counter/${name}?_pk=x`);
    expect(await within(socket.closed, 2_000)).toMatchObject({ code: 1011 });
  });

  it("puts a throwing timeout off with backoff instead of redelivering it at once", async () => {
    const counter = getActor(env.COUNTER, uniqueName("lazy-timer"));
    await counter.call({ type: "timer", ms: 10, key: "k", label: "x" });
    await wrap(counter.stub, "handleInfo", (original, instance) => (info, state) => {
      if ((info as { type: string }).type === "timeout") {
        instance.deliveries = ((instance.deliveries as number | undefined) ?? 0) + 1;
        throw new LazyError();
      }
      return original(info, state);
    });
    await advanceClock(20, counter);
    const deliveries = await runInDurableObject(counter.stub as never, (raw) => (raw as unknown as Patchable).deliveries);
    expect(deliveries).toBe(1);
  });

  it("rejects getServerByName when handleStart throws it", async () => {
    const name = uniqueName("lazy-start");
    const counter = getActor(env.COUNTER, name);
    expect(await counter.call({ type: "add", by: 1 })).toBe(1);
    await hibernate(counter);
    await runInDurableObject(counter.stub as never, (raw) => {
      const instance = raw as unknown as Patchable;
      instance.handleStart = () => {
        throw new LazyError();
      };
    });
    await expect(getServerByName(env.COUNTER, name, { props: { a: 1 } })).rejects.toThrow();
  });
});

