import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type ActorRef, getActor } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import type { Counter } from "../fixtures/counter.js";
import { backends, counterOn, uniqueName } from "../helpers.js";

describe.each(backends)("Names on %s", (_backend, namespace) => {
  it("knows its name in calls, HTTP requests and after hibernation", async () => {
    const counter = counterOn(namespace, "named");
    expect(await counter.call({ type: "name" })).toBe(counter.name);
    const response = await counter.stub.fetch("http://do/name");
    expect(await response.text()).toBe(counter.name);
    await hibernate(counter);
    expect(await counter.call({ type: "name" })).toBe(counter.name);
  });

  it("knows its name on a cold start reached by id alone, as an alarm after a restart is", async () => {
    const counter = counterOn(namespace, "cold");
    await counter.call({ type: "get" });
    await evict(counter);
    // An id rebuilt from its string carries no name: the runtime must have stored it.
    const byId = namespace().get(namespace().idFromString(counter.id.toString()));
    expect(await byId.call({ type: "name" })).toBe(counter.name);
  });

  it("tells how to fix an object that was never reached by name", async () => {
    const stub = namespace().get(namespace().newUniqueId());
    const error = await stub.call({ type: "name" }).catch((e: unknown) => e);
    expect(String((error as Error).message)).toMatch(/has no name: it was created with newUniqueId\(\) or idFromString\(\).*getByName/);
  });
});

describe("Raw stubs", () => {
  it("work without getActor: stub.call and stub.cast, with the error class named in the message", async () => {
    const stub = env.COUNTER.getByName(uniqueName("raw"));
    await stub.cast({ type: "add", by: 2 });
    expect(await stub.call({ type: "add", by: 1 })).toBe(3);
    const error = await stub.call({ type: "throw" }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/RemoteError.*n must stay small/);
  });
});

describe("getActor", () => {
  it("refuses empty and over-long names with a message", () => {
    expect(() => getActor(env.COUNTER, "")).toThrow(/non-empty string/);
    expect(() => getActor(env.COUNTER, "x".repeat(257))).toThrow(/at most 256 characters; got 257/);
    expect(getActor(env.COUNTER, "x".repeat(256)).name).toHaveLength(256);
    // Characters, not UTF-16 units: 256 emoji (512 units, 1,024 bytes of UTF-8) is the longest name.
    expect(getActor(env.COUNTER, "😀".repeat(256)).name).toHaveLength(512);
    expect(() => getActor(env.COUNTER, "😀".repeat(257))).toThrow(/at most 256 characters; got 257/);
  });

  it("refuses a name with half of a surrogate pair, which the object would be told as another name", () => {
    // "😀".slice(0, 1): the platform keys the object by it but names it with U+FFFD.
    expect(() => getActor(env.COUNTER, `room-${"😀".slice(0, 1)}`)).toThrow(/well-formed Unicode; "room-.*" has half of a surrogate pair/);
    expect(getActor(env.COUNTER, "room-😀").name).toBe("room-😀");
  });

  it("gets a new stub after an eviction broke the old one", async () => {
    const counter = getActor(env.COUNTER, uniqueName("restub"));
    await counter.call({ type: "add", by: 1 });
    const before = await breakStub(counter);
    await expect(counter.call({ type: "get" })).rejects.toThrow();
    expect(await counter.call({ type: "get" })).toBe(1);
    expect(counter.stub).not.toBe(before);
  });

  it("gets a new stub for a cast after an eviction broke the old one", async () => {
    const counter = getActor(env.COUNTER, uniqueName("restub-cast"));
    await counter.cast({ type: "add", by: 1 });
    const before = await breakStub(counter);
    await expect(counter.cast({ type: "add", by: 10 })).rejects.toThrow();
    expect(counter.stub).not.toBe(before);
    await counter.cast({ type: "add", by: 2 });
    expect(await counter.call({ type: "get" })).toBe(3);
  });
});

/** Ends the object behind `ref`'s stub as an eviction does, which leaves that stub broken; returns it. */
async function breakStub(ref: ActorRef<Counter>): Promise<ActorRef<Counter>["stub"]> {
  const stub = ref.stub;
  await runInDurableObject(stub, async (_instance, state) => {
    await state.storage.sync();
    state.abort("gone");
  }).catch(() => undefined);
  return stub;
}
