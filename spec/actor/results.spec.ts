import { env } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it } from "vitest";
import { Actor, type ActorRef, type Call, type CallMsgOf, type CastResult, clearState, type From, getActor, noreply, reply, stop } from "../../lib/index.js";

describe("Result helpers", () => {
  it("build the tagged shapes the runtime reads", () => {
    expect(reply(1, { n: 1 })).toEqual({ kind: "reply", value: 1, state: { n: 1 } });
    expect(reply(1, { n: 1 }, { continue: "next" })).toEqual({ kind: "reply", value: 1, state: { n: 1 }, continue: "next" });
    expect(noreply()).toEqual({ kind: "noreply", state: undefined });
    expect(noreply({ n: 2 }, { continue: 3 })).toEqual({ kind: "noreply", state: { n: 2 }, continue: 3 });
    expect(stop("done", clearState, "bye")).toEqual({ kind: "stop", reason: "done", state: clearState, value: "bye" });
  });
});

type State = { n: number };
type Calls = Call<{ type: "get" }, number> | Call<{ type: "label" }, string>;
type Casts = { type: "add"; by: number };

/** Compiles only if the contract's types hold; `npm run typecheck` checks the @ts-expect-error lines. */
export class Typed extends Actor<Cloudflare.Env, State, Calls, Casts> {
  init(): State {
    return { n: 0 };
  }

  override handleCall(msg: Calls, _from: From, state: State) {
    return msg.type === "get" ? reply(state.n) : reply("label");
  }

  override handleCast(msg: Casts, state: State): CastResult<State> {
    if (msg.by < 0) {
      // @ts-expect-error a cast can't reply
      return reply(1);
    }
    if (msg.by > 100) {
      // @ts-expect-error a cast can't stop with a reply value
      return stop("too big", state, "value");
    }
    // @ts-expect-error the state must have the actor's shape
    if (msg.by === 42) return noreply({ count: 1 });
    return noreply({ n: state.n + msg.by });
  }
}

describe("Typed references", () => {
  it("infer each call's reply type and refuse messages the actor doesn't take", () => {
    const ref = getActor(env.COUNTER, "types-only");
    expectTypeOf(() => ref.call({ type: "get" })).returns.resolves.toEqualTypeOf<number>();
    expectTypeOf(() => ref.call({ type: "name" })).returns.resolves.toEqualTypeOf<string>();
    expectTypeOf(() => ref.call({ type: "add", by: 1 })).returns.resolves.toEqualTypeOf<number>();
    // @ts-expect-error not a call message of Counter
    void (() => ref.call({ type: "nope" }));
    // @ts-expect-error a cast message is not a call
    void (() => ref.call({ type: "log", entry: "x" }));
    // @ts-expect-error a call message is not a cast
    void (() => ref.cast({ type: "get" }));
    // A helper that forwards any call message compiles, and keeps its reply type.
    const forward = <M extends CallMsgOf<typeof ref extends ActorRef<infer A> ? A : never>>(msg: M) => ref.call(msg);
    expectTypeOf(() => forward({ type: "get" })).returns.resolves.toEqualTypeOf<number>();
    // A message spanning several call types is still one of them.
    const type = Math.random() < 0.5 ? ("get" as const) : ("name" as const);
    expectTypeOf(() => ref.call({ type })).returns.resolves.toEqualTypeOf<number | string>();
  });
});
