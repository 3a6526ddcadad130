import { describe, expect, it } from "vitest";
import { BadFrame, encodeFrame, isProtocolFrame, MAX_PROTOCOL_FRAME_BYTES, parseClientFrame, parseServerFrame } from "../../lib/protocol/frames.js";

describe("Protocol frames", () => {
  it("are told apart from other frames by their first bytes", () => {
    expect(isProtocolFrame(encodeFrame({ gp: 1, t: "cast", msg: 1 }))).toBe(true);
    expect(isProtocolFrame(`{"type":"say"}`)).toBe(false);
    expect(isProtocolFrame("hello")).toBe(false);
    expect(isProtocolFrame(new ArrayBuffer(4))).toBe(false);
  });

  it("round-trip through JSON", () => {
    const call = { gp: 1, t: "call", id: "7", msg: { type: "add", by: 2 } } as const;
    expect(parseClientFrame(encodeFrame(call))).toEqual(call);
    const acking = { ...call, ack: ["5", "6"] };
    expect(parseClientFrame(encodeFrame(acking))).toEqual(acking);
    expect(parseServerFrame(encodeFrame({ gp: 1, t: "reply", id: "7", ok: 3 }))).toEqual({ gp: 1, t: "reply", id: "7", ok: 3 });
    expect(parseServerFrame("not json")).toBeUndefined();
  });

  it.each([
    [`{"gp":1,"t":"call","id":"5"`, "5", /not valid JSON/],
    [`{"gp":2,"t":"call","id":"6","msg":1}`, "6", /Protocol version 2 is not spoken here/],
    [`{"gp":1,"t":"shout","msg":1}`, undefined, /Unknown frame type "shout"/],
    // A bad frame's own tag, sent by a client, is no way to make one.
    [`{"gp":1,"t":"bad","problem":"none","msg":1}`, undefined, /Unknown frame type "bad"/],
    [`{"gp":1,"t":"call","msg":1}`, undefined, /A call needs an "id"/],
    [`{"gp":1,"t":"call","id":"8"}`, "8", /A call needs a "msg"/],
    [`{"gp":1,"t":"cast"}`, undefined, /A cast needs a "msg"/],
    [`{"gp":1,"t":"call","id":"9","msg":1,"ack":"8"}`, "9", /A call's "ack" must be an array of at most 256 call ids/],
    [`{"gp":1,"t":"call","id":"9","msg":1,"ack":[8]}`, "9", /A call's "ack" must be an array/],
    [`{"gp":1,"t":"call","id":"9","msg":1,"ack":${JSON.stringify(Array.from({ length: 257 }, (_, i) => `${i}`))}}`, "9", /at most 256 call ids/],
  ])("explain what is wrong with %s", (frame, id, problem) => {
    const parsed = parseClientFrame(frame);
    expect(parsed).toBeInstanceOf(BadFrame);
    expect((parsed as BadFrame).id).toBe(id);
    expect((parsed as BadFrame).problem).toMatch(problem);
  });

  it("measure the limit in bytes, not characters", () => {
    const text = "é".repeat(MAX_PROTOCOL_FRAME_BYTES / 2);
    expect(parseClientFrame(`{"gp":1,"t":"cast","msg":"${text}"}`)).toMatchObject({ problem: expect.stringMatching(/bytes or more; protocol frames are at most 1048576 bytes/) });
    expect(parseClientFrame(`{"gp":1,"t":"cast","msg":"${"é".repeat(1000)}"}`)).toMatchObject({ t: "cast" });
  });

  it("refuse an oversize frame, keeping its id", () => {
    const parsed = parseClientFrame(`{"gp":1,"t":"call","id":"big","msg":"${"x".repeat(MAX_PROTOCOL_FRAME_BYTES)}"}`);
    expect(parsed).toBeInstanceOf(BadFrame);
    expect(parsed).toMatchObject({ id: "big", problem: expect.stringMatching(/at most 1048576/) });
  });
});
