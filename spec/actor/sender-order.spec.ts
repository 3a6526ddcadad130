import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { REORDER_WAIT_MS, SenderOrder } from "../../lib/actor/sender-order.js";

describe("SenderOrder", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("delivers a sender's messages in its order when they arrive swapped", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    for (const seq of [2, 1, 4, 3, 5]) order.arrive({ sender: "a", seq }, () => delivered.push(seq));
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
  });

  it("keeps senders independent", () => {
    const order = new SenderOrder();
    const delivered: string[] = [];
    order.arrive({ sender: "a", seq: 2 }, () => delivered.push("a2"));
    order.arrive({ sender: "b", seq: 1 }, () => delivered.push("b1"));
    order.arrive({ sender: "a", seq: 1 }, () => delivered.push("a1"));
    expect(delivered).toEqual(["b1", "a1", "a2"]);
  });

  it("stops waiting for a lost message after REORDER_WAIT_MS", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 1 }, () => delivered.push(1));
    order.arrive({ sender: "a", seq: 3 }, () => delivered.push(3));
    order.arrive({ sender: "a", seq: 4 }, () => delivered.push(4));
    vi.advanceTimersByTime(REORDER_WAIT_MS - 1);
    expect(delivered).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual([1, 3, 4]);
    // The lost one, arriving very late, is still delivered rather than dropped.
    order.arrive({ sender: "a", seq: 2 }, () => delivered.push(2));
    expect(delivered).toEqual([1, 3, 4, 2]);
  });

  it("delivers messages without an order at once", () => {
    const order = new SenderOrder();
    const delivered: string[] = [];
    order.arrive({ sender: "a", seq: 2 }, () => delivered.push("a2"));
    order.arrive(undefined, () => delivered.push("raw"));
    expect(delivered).toEqual(["raw"]);
  });
});
