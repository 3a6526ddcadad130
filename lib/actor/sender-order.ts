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
}

interface Sender {
  next: number;
  readonly held: Map<number, () => void>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class SenderOrder {
  readonly #senders = new Map<string, Sender>();

  /** Forgets every sender, as a new instance starts without them (for `genparty/testing`). */
  forget(): void {
    for (const sender of this.#senders.values()) if (sender.timer) clearTimeout(sender.timer);
    this.#senders.clear();
  }

  /** Runs `deliver` once every earlier message of the same sender was delivered (or waited for long enough). */
  arrive(order: SendOrder | undefined, deliver: () => void): void {
    if (!order) return deliver();
    let sender = this.#senders.get(order.sender);
    if (!sender) {
      sender = { next: 1, held: new Map(), timer: undefined };
      this.#remember(order.sender, sender);
    }
    if (order.seq < sender.next) return deliver();
    sender.held.set(order.seq, deliver);
    this.#flush(sender);
    if (sender.held.size > 0 && !sender.timer) {
      const waiting = sender;
      waiting.timer = setTimeout(() => {
        waiting.timer = undefined;
        waiting.next = Math.min(...waiting.held.keys());
        this.#flush(waiting);
      }, REORDER_WAIT_MS);
    }
  }

  #flush(sender: Sender): void {
    for (let deliver = sender.held.get(sender.next); deliver; deliver = sender.held.get(sender.next)) {
      sender.held.delete(sender.next);
      sender.next++;
      deliver();
    }
    if (sender.held.size === 0 && sender.timer) {
      clearTimeout(sender.timer);
      sender.timer = undefined;
    }
  }

  #remember(id: string, sender: Sender): void {
    this.#senders.set(id, sender);
    if (this.#senders.size <= MAX_SENDERS) return;
    for (const [oldId, old] of this.#senders) {
      if (old.held.size > 0) continue;
      this.#senders.delete(oldId);
      return;
    }
  }
}
