/**
 * FIFO per sender, as GenServer promises it. Durable Object RPC mostly delivers one stub's calls
 * in order, but not always (fetch and RPC interleave, workerd#6561; the vitest pool swaps
 * neighbours), so each `ActorRef` numbers what it sends and the receiver puts it back in order.
 * A gap is waited for at most {@link REORDER_WAIT_MS}; then the runtime moves on, so a message
 * lost in transit can't stall a sender for good.
 */
export const REORDER_WAIT_MS = 250;
/** Senders remembered; the oldest is forgotten beyond this (most refs live for one request). */
const MAX_SENDERS = 1_000;

export interface SendOrder {
  /** Random id of the sending `ActorRef`. */
  readonly sender: string;
  /** 1, 2, 3, … per sender. */
  readonly seq: number;
  /**
   * The sender's oldest message not yet known to have arrived: everything before it did (at this
   * instance or an earlier one). A receiver that starts fresh (woken, evicted) begins there instead
   * of waiting for messages 1…seq-1 that went to its predecessor. Absent (an order made by hand over
   * RPC), it is 1, as before `base` existed.
   */
  readonly base?: number;
}

interface Sender {
  next: number;
  /** Messages waiting for an earlier one; made on the first gap (most senders never have one). */
  held: Map<number, () => void> | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class SenderOrder {
  readonly #senders = new Map<string, Sender>();

  /** Messages waiting for an earlier one of their sender: each keeps a timer, so the object is busy. */
  get held(): number {
    let count = 0;
    for (const sender of this.#senders.values()) count += sender.held?.size ?? 0;
    return count;
  }

  /** Forgets every sender, as a new instance starts without them (for `genparty/testing`). */
  forget(): void {
    for (const sender of this.#senders.values()) if (sender.timer) clearTimeout(sender.timer);
    this.#senders.clear();
  }

  /**
   * True when a message can be handled right now (it is then counted as delivered): no order, or
   * the sender's next one with nothing held. The common case, decided without a callback.
   */
  passes(order: SendOrder | undefined): boolean {
    if (!order) return true;
    const base = baseOf(order);
    let sender = this.#senders.get(order.sender);
    if (!sender) {
      sender = { next: Math.max(base, 1), held: undefined, timer: undefined };
      this.#remember(order.sender, sender);
    }
    if (sender.held !== undefined && sender.held.size > 0) return false;
    if (base > sender.next) sender.next = base;
    if (order.seq < sender.next) return true;
    if (order.seq !== sender.next) return false;
    sender.next++;
    return true;
  }

  /** Runs `deliver` once every earlier message of the same sender was delivered (or waited for long enough). */
  arrive(order: SendOrder | undefined, deliver: () => void): void {
    if (this.passes(order)) return deliver();
    const sender = this.#senders.get(order!.sender)!;
    const held = (sender.held ??= new Map());
    held.set(order!.seq, deliver);
    const base = baseOf(order!);
    if (base > sender.next) this.#skipTo(sender, held, base);
    this.#flush(sender, held);
    if (!sender.timer) this.#waitForGap(sender, held);
  }

  /** Gives the gap before what is held REORDER_WAIT_MS to close, then skips it; each later gap gets its own wait. */
  #waitForGap(sender: Sender, held: Map<number, () => void>): void {
    if (held.size === 0) return;
    sender.timer = setTimeout(() => {
      sender.timer = undefined;
      sender.next = Math.min(...held.keys());
      this.#flush(sender, held);
      this.#waitForGap(sender, held);
    }, REORDER_WAIT_MS);
  }

  /** The sender says everything before `base` arrived: what is held from before it goes now, in order. */
  #skipTo(sender: Sender, held: Map<number, () => void>, base: number): void {
    for (const seq of [...held.keys()].sort((a, b) => a - b)) {
      if (seq >= base) break;
      const deliver = held.get(seq)!;
      held.delete(seq);
      deliver();
    }
    sender.next = base;
  }

  #flush(sender: Sender, held: Map<number, () => void>): void {
    for (let deliver = held.get(sender.next); deliver; deliver = held.get(sender.next)) {
      held.delete(sender.next);
      sender.next++;
      deliver();
    }
    if (held.size === 0 && sender.timer) {
      clearTimeout(sender.timer);
      sender.timer = undefined;
    }
  }

  #remember(id: string, sender: Sender): void {
    this.#senders.set(id, sender);
    if (this.#senders.size <= MAX_SENDERS) return;
    for (const [oldId, old] of this.#senders) {
      if ((old.held !== undefined && old.held.size > 0) || oldId === id) continue;
      this.#senders.delete(oldId);
      return;
    }
  }
}

function baseOf(order: SendOrder): number {
  return order.base !== undefined && Number.isFinite(order.base) ? order.base : 1;
}

/**
 * Sender ids: random per isolate, then a counter (a UUID per ref cost more than the rest of making
 * one). Made on first use: Workers refuse random values in global scope.
 */
let senderPrefix: string | undefined;
let senders = 0;

/**
 * The sending side: numbers messages and tracks which have arrived, so each message can say where
 * a fresh receiver should start ({@link SendOrder.base}).
 */
export class SendSequence {
  readonly #sender = `${(senderPrefix ??= crypto.randomUUID())}.${++senders}`;
  #seq = 0;
  /** Every message up to this one is known to have arrived. */
  #arrived = 0;
  /** Messages known to have arrived past a gap, waiting for the gap to close. */
  readonly #arrivedAhead = new Set<number>();

  get sender(): string {
    return this.#sender;
  }

  next(): Required<SendOrder> {
    return { sender: this.#sender, seq: ++this.#seq, base: this.#arrived + 1 };
  }

  /** The receiver has message `seq` (its call or cast RPC returned). */
  arrived(seq: number): void {
    if (seq !== this.#arrived + 1) {
      if (seq > this.#arrived) this.#arrivedAhead.add(seq);
      return;
    }
    this.#arrived = seq;
    while (this.#arrivedAhead.delete(this.#arrived + 1)) this.#arrived++;
  }
}
