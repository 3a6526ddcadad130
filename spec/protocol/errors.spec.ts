import { describe, expect, it } from "vitest";
import { ActorStoppedError, CallTimeoutError, fromWire, RemoteError, toRemoteError, toWire } from "../../lib/protocol/errors.js";

describe("Wire errors", () => {
  it("come back as their own class, and any other name as a RemoteError carrying it", () => {
    const timeout = fromWire(toWire(new CallTimeoutError("late")));
    expect(timeout).toBeInstanceOf(CallTimeoutError);
    expect(timeout.message).toBe("late");
    expect(fromWire(toWire(new ActorStoppedError("gone")))).toBeInstanceOf(ActorStoppedError);
    const thrown = fromWire(toWire(new RangeError("n is negative")));
    expect(thrown).toBeInstanceOf(RemoteError);
    expect(thrown).toMatchObject({ remoteName: "RangeError", message: "n is negative" });
  });

  it("take a name that is an Object property (constructor, toString) as any other name", () => {
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      const error = fromWire({ name, code: "x", message: `a ${name}` });
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({ remoteName: name, message: `a ${name}` });
    }
  });

  it("are made of anything thrown, even what can't be read: a throwing getter, toString or proxy, a symbol", () => {
    class LazyError extends Error {
      override get message(): string {
        throw new TypeError("never loaded");
      }
    }
    const sealed = new Proxy({}, { getPrototypeOf: () => { throw new Error("no prototype"); } });
    const noText = { toString: () => { throw new Error("no text"); } };
    expect(toRemoteError(new LazyError())).toMatchObject({ remoteName: "Error", message: "(its message could not be read)" });
    expect(toRemoteError(sealed)).toMatchObject({ remoteName: "object", message: "[object Object]" });
    expect(toRemoteError(noText)).toMatchObject({ remoteName: "object", message: "(a object with no readable text)" });
    expect(toRemoteError(Symbol("s"))).toMatchObject({ remoteName: "symbol", message: "Symbol(s)" });
    expect(toRemoteError("plain")).toMatchObject({ remoteName: "string", message: "plain" });
  });
});
