import { describe, expect, it } from "vitest";
import { failedAnswer, fromAnswer, toAnswer } from "../../lib/actor/answer.js";
import { CallTimeoutError, MailboxFullError } from "../../lib/index.js";

/** What crossing DO RPC does to a value: a structured clone. */
const acrossRpc = (value: unknown) => structuredClone(value);

describe("Call answers across RPC", () => {
  it.each([
    ["a number", 1],
    ["undefined", undefined],
    ["null", null],
    ["an object", { n: 1, list: [1, 2] }],
    ["an array", [1, "two"]],
    ["an object that looks like an answer", { "genparty.error": { name: "MailboxFullError", message: "not an error" } }],
    ["an object holding the value key", { "genparty.value": 5 }],
  ])("delivers %s exactly as replied", (_what, value) => {
    expect(fromAnswer(acrossRpc(toAnswer({ ok: true, value })))).toEqual(value);
  });

  it("rebuilds an error as its class, from the outcome or from a throw", () => {
    const timedOut = new CallTimeoutError("Counter:a did not reply within 5 ms");
    expect(() => fromAnswer(acrossRpc(toAnswer({ ok: false, error: timedOut })))).toThrow(CallTimeoutError);
    expect(() => fromAnswer(acrossRpc(failedAnswer(new MailboxFullError("full"))))).toThrow(MailboxFullError);
  });
});
