import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { getServerByName, type RoutingRetryEvent, routePartykitRequest } from "../../lib/index.js";
import { uniqueName } from "../helpers.js";

/**
 * The platform raises `retryable` errors (a transient Durable Object failure) on its own schedule, and
 * no spec can make it. This namespace wraps the real one and injects them: the first `failures`
 * stubs it hands out throw the given error, later ones are the real thing.
 */
function flakyNamespace<T extends Rpc.DurableObjectBranded>(real: DurableObjectNamespace<T>, failures: number, error: () => Error) {
  let handedOut = 0;
  const failing = (stub: DurableObjectStub<T>) =>
    new Proxy(stub, {
      get: (target, key) => (key === "fetch" || key === "__genpartyStart" ? () => Promise.reject(error()) : Reflect.get(target, key)),
    });
  return {
    idFromName: (name: string) => real.idFromName(name),
    jurisdiction: () => real,
    getByName: (name: string) => (++handedOut <= failures ? failing(real.getByName(name)) : real.getByName(name)),
  } as unknown as DurableObjectNamespace<T>;
}

const transient = () => Object.assign(new Error("transient failure"), { retryable: true });
const overloaded = () => Object.assign(new Error("Durable Object is overloaded"), { retryable: true, overloaded: true });

describe("Routing retries", () => {
  it("retries a retryable error of a method it was told is safe, replaying the body, running the hook once, and reporting each retry", async () => {
    const events: RoutingRetryEvent[] = [];
    const hook = vi.fn(() => undefined);
    const name = uniqueName("retry");
    const response = await routePartykitRequest(
      new Request(`http://spec/parties/flaky/${name}?failures=0`, { method: "POST", body: "the body" }),
      { FLAKY: flakyNamespace(env.FLAKY, 2, transient) },
      { onBeforeRequest: hook, routingRetry: { baseDelayMs: 1, methods: ["get", "post"], onRetry: (event) => void events.push(event) } },
    );
    expect(await response?.text()).toBe("ok after 1 attempts; body: the body");
    expect(hook).toHaveBeenCalledTimes(1);
    expect(events.map(({ attempt, maxAttempts, name: room, className }) => ({ attempt, maxAttempts, room, className }))).toEqual([
      { attempt: 1, maxAttempts: 3, room: name, className: "FLAKY" },
      { attempt: 2, maxAttempts: 3, room: name, className: "FLAKY" },
    ]);
  });

  it("never retries a request that may not be safe to run twice, unless its method is listed", async () => {
    const onRetry = vi.fn();
    for (const method of ["POST", "PATCH"]) {
      const request = new Request(`http://spec/parties/flaky/${uniqueName("unsafe")}?failures=0`, { method, body: "once" });
      await expect(routePartykitRequest(request, { FLAKY: flakyNamespace(env.FLAKY, 1, transient) }, { routingRetry: { baseDelayMs: 1, onRetry } })).rejects.toThrow("transient failure");
    }
    expect(onRetry).not.toHaveBeenCalled();
    // The idempotent methods are retried by default.
    for (const method of ["PUT", "DELETE"]) {
      const request = new Request(`http://spec/parties/flaky/${uniqueName("idempotent")}?failures=0`, { method, body: method === "PUT" ? "twice is fine" : null });
      const response = await routePartykitRequest(request, { FLAKY: flakyNamespace(env.FLAKY, 1, transient) }, { routingRetry: { baseDelayMs: 1, onRetry } });
      expect(response?.status).toBe(200);
    }
    expect(onRetry).toHaveBeenCalledTimes(2);
  });

  it("throws the last error after maxAttempts", async () => {
    const attempt = routePartykitRequest(new Request(`http://spec/parties/flaky/${uniqueName("give-up")}`), { FLAKY: flakyNamespace(env.FLAKY, 5, transient) }, {
      routingRetry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    await expect(attempt).rejects.toThrow("transient failure");
  });

  it("never retries an overloaded object or an error not marked retryable", async () => {
    const onRetry = vi.fn();
    for (const error of [overloaded, () => new Error("plain")]) {
      await expect(
        routePartykitRequest(new Request(`http://spec/parties/flaky/${uniqueName("no-retry")}`), { FLAKY: flakyNamespace(env.FLAKY, 1, error) }, { routingRetry: { onRetry } }),
      ).rejects.toThrow();
    }
    expect(onRetry).not.toHaveBeenCalled();
  });

  it("keeps retrying when onRetry throws, and can be turned off", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const response = await routePartykitRequest(new Request(`http://spec/parties/flaky/${uniqueName("hook-throws")}?failures=0`), { FLAKY: flakyNamespace(env.FLAKY, 1, transient) }, {
      routingRetry: {
        baseDelayMs: 1,
        onRetry: () => {
          throw new Error("hook broke");
        },
      },
    });
    expect(response?.status).toBe(200);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/onRetry threw/), expect.any(Error));
    warn.mockRestore();
    await expect(
      routePartykitRequest(new Request(`http://spec/parties/flaky/${uniqueName("off")}`), { FLAKY: flakyNamespace(env.FLAKY, 1, transient) }, { routingRetry: false }),
    ).rejects.toThrow("transient failure");
  });

  it("refuses bad options, naming the path", async () => {
    await expect(routePartykitRequest(new Request("http://spec/parties/flaky/x"), env, { routingRetry: { maxAttempts: 0 } })).rejects.toThrow(
      "routingRetry.maxAttempts must be a number >= 1, got 0.",
    );
    const methods = "POST" as unknown as string[];
    await expect(routePartykitRequest(new Request("http://spec/parties/flaky/x"), env, { routingRetry: { methods } })).rejects.toThrow(
      'routingRetry.methods must be an array of HTTP method names like ["GET", "POST"], got "POST".',
    );
  });

  it("applies to getServerByName", async () => {
    const name = uniqueName("byname-retry");
    const stub = await getServerByName(flakyNamespace(env.ChatServer, 1, transient), name, { routingRetry: { baseDelayMs: 1 } });
    expect(await (await stub.fetch("http://spec/name")).text()).toBe(name);
  });
});
