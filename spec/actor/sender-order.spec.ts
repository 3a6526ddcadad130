import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { REORDER_WAIT_MS, SenderOrder, SendSequence } from "../../lib/actor/sender-order.js";

describe("SenderOrder", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("delivers a sender's messages in its order when they arrive swapped", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    for (const seq of [2, 1, 4, 3, 5]) order.arrive({ sender: "a", seq, base: 1 }, () => delivered.push(seq));
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
  });

  it("keeps senders independent", () => {
    const order = new SenderOrder();
    const delivered: string[] = [];
    order.arrive({ sender: "a", seq: 2, base: 1 }, () => delivered.push("a2"));
    order.arrive({ sender: "b", seq: 1, base: 1 }, () => delivered.push("b1"));
    order.arrive({ sender: "a", seq: 1, base: 1 }, () => delivered.push("a1"));
    expect(delivered).toEqual(["b1", "a1", "a2"]);
  });

  it("stops waiting for a lost message after REORDER_WAIT_MS", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 1, base: 1 }, () => delivered.push(1));
    order.arrive({ sender: "a", seq: 3, base: 1 }, () => delivered.push(3));
    order.arrive({ sender: "a", seq: 4, base: 1 }, () => delivered.push(4));
    vi.advanceTimersByTime(REORDER_WAIT_MS - 1);
    expect(delivered).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual([1, 3, 4]);
    // The lost one, arriving very late, is still delivered rather than dropped.
    order.arrive({ sender: "a", seq: 2, base: 1 }, () => delivered.push(2));
    expect(delivered).toEqual([1, 3, 4, 2]);
  });

  it("waits for each lost message in turn, never holding a later one for good", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 1, base: 1 }, () => delivered.push(1));
    order.arrive({ sender: "a", seq: 3, base: 1 }, () => delivered.push(3)); // 2 lost
    order.arrive({ sender: "a", seq: 5, base: 1 }, () => delivered.push(5)); // 4 lost
    vi.advanceTimersByTime(REORDER_WAIT_MS);
    expect(delivered).toEqual([1, 3]);
    vi.advanceTimersByTime(REORDER_WAIT_MS);
    expect(delivered).toEqual([1, 3, 5]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("delivers messages without an order at once", () => {
    const order = new SenderOrder();
    const delivered: string[] = [];
    order.arrive({ sender: "a", seq: 2, base: 1 }, () => delivered.push("a2"));
    order.arrive(undefined, () => delivered.push("raw"));
    expect(delivered).toEqual(["raw"]);
  });

  it("starts a receiver it has never heard from at the sender's base, not at 1", () => {
    // A woken or restarted actor: messages 1–56 went to its predecessor, and the sender knows they arrived.
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 57, base: 57 }, () => delivered.push(57));
    order.arrive({ sender: "a", seq: 58, base: 58 }, () => delivered.push(58));
    expect(delivered).toEqual([57, 58]);
  });

  it("treats an order without a base as starting at 1", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 2 }, () => delivered.push(2));
    order.arrive({ sender: "a", seq: 1 }, () => delivered.push(1));
    expect(delivered).toEqual([1, 2]);
  });

  it("still waits for a gap the sender has not seen arrive", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 58, base: 57 }, () => delivered.push(58));
    expect(delivered).toEqual([]);
    order.arrive({ sender: "a", seq: 57, base: 57 }, () => delivered.push(57));
    expect(delivered).toEqual([57, 58]);
  });

  it("releases what it holds once the sender says the gap before it arrived elsewhere", () => {
    const order = new SenderOrder();
    const delivered: number[] = [];
    order.arrive({ sender: "a", seq: 1, base: 1 }, () => delivered.push(1));
    order.arrive({ sender: "a", seq: 3, base: 2 }, () => delivered.push(3));
    expect(delivered).toEqual([1]);
    order.arrive({ sender: "a", seq: 4, base: 3 }, () => delivered.push(4));
    expect(delivered).toEqual([1, 3, 4]);
  });
});

describe("SendSequence", () => {
  it("gives as base the oldest message not yet known to have arrived", () => {
    const sequence = new SendSequence();
    expect(sequence.next()).toMatchObject({ seq: 1, base: 1 });
    expect(sequence.next()).toMatchObject({ seq: 2, base: 1 });
    sequence.arrived(2);
    expect(sequence.next()).toMatchObject({ seq: 3, base: 1 });
    sequence.arrived(1);
    expect(sequence.next()).toMatchObject({ seq: 4, base: 3 });
    sequence.arrived(3);
    sequence.arrived(4);
    expect(sequence.next()).toMatchObject({ seq: 5, base: 5 });
  });
});
