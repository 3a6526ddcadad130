import { selfCall } from "./runtime-errors.js";
import type { actorTypes } from "./actor.js";
import { type CallAnswer, fromAnswer } from "./answer.js";
import { type SendOrder, SendSequence } from "./sender-order.js";
import type { CallOptions, ReplyFor } from "./types.js";

/** Any genparty actor class instance, as far as references need to know. */
export interface AnyActor extends Rpc.DurableObjectBranded {
  readonly [actorTypes]?: { readonly state: unknown; readonly call: unknown; readonly cast: unknown };
}

type Types<A extends AnyActor> = NonNullable<A[typeof actorTypes]>;
export type CallMsgOf<A extends AnyActor> = Types<A>["call"];
export type CastMsgOf<A extends AnyActor> = Types<A>["cast"];
export type StateOf<A extends AnyActor> = Types<A>["state"];

export interface ActorRefOptions {
  locationHint?: DurableObjectLocationHint;
  jurisdiction?: DurableObjectJurisdiction;
}

interface RefInternals extends ActorRefOptions {
  /** The actor whose turns make the calls (for refs made with `this.getActor`): its running turn's call chain, and its label for the error that names a cycle. */
  caller?: { outgoingChain(): readonly string[]; readonly label: string };
}

/** What the ref needs of the stub; the generated RPC types of a generic actor are too deep to use here. */
interface RpcActor {
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  __genpartyCall(msg: unknown, timeout: number | undefined, chain: readonly string[] | undefined, sender: string, seq: number, base: number): Promise<CallAnswer>;
  cast(msg: unknown, order: SendOrder): Promise<void>;
}

/**
 * A typed handle on a named actor, like GenServer's `{:via, …}` names: `call` waits for a reply
 * (typed from the message), `cast` does not. Errors arrive as their own classes
 * (`CallTimeoutError`, `MailboxFullError`, `RemoteError`, …) despite DO RPC dropping classes.
 *
 * @example
 * const counter = getActor(env.COUNTER, "room-1");
 * await counter.cast({ type: "add", by: 1 });
 * const n = await counter.call({ type: "get" }, { timeout: 1_000 });
 */
export class ActorRef<A extends AnyActor> {
  readonly name: string;
  #id: DurableObjectId | undefined;
  readonly #namespace: DurableObjectNamespace<A>;
  readonly #options: RefInternals;
  #stub: DurableObjectStub<A> | undefined;
  /** Numbers this ref's messages so the actor handles them in send order (see sender-order.ts). */
  #sequence = new SendSequence();

  constructor(namespace: DurableObjectNamespace<A>, name: string, options: RefInternals = {}) {
    checkName(name);
    this.name = name;
    this.#namespace = options.jurisdiction ? namespace.jurisdiction(options.jurisdiction) : namespace;
    this.#options = options;
  }

  /** The Durable Object id (made on first use: a ref made per request often never needs it). */
  get id(): DurableObjectId {
    this.#id ??= this.#namespace.idFromName(this.name);
    return this.#id;
  }

  /** The Durable Object stub. Replaced after a call fails at the transport level (a broken stub stays broken). */
  get stub(): DurableObjectStub<A> {
    this.#stub ??= this.#namespace.getByName(this.name, this.#options.locationHint ? { locationHint: this.#options.locationHint } : undefined);
    return this.#stub;
  }

  call<M extends CallMsgOf<A>>(msg: M, options: CallOptions = {}): Promise<ReplyFor<CallMsgOf<A>, M>> {
    const { timeout } = options;
    if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
      return Promise.reject(new RangeError(`A call timeout must be a positive number of ms, got ${timeout}`));
    }
    const chain = this.#options.caller?.outgoingChain();
    if (chain !== undefined && chain.includes(this.id.toString())) {
      return Promise.reject(selfCall(this.name, this.id.toString(), chain, this.#options.caller?.label));
    }
    // Called directly, not through #rpc: this is the hot path, one promise chain and no closures per call.
    const stub = this.stub as unknown as RpcActor;
    const sequence = this.#sequence;
    const { sender, seq, base } = sequence.next();
    let sent: Promise<CallAnswer>;
    try {
      sent = stub.__genpartyCall(msg, timeout, chain !== undefined && chain.length > 0 ? chain : undefined, sender, seq, base);
    } catch (error) {
      return Promise.reject(this.#transportFailed(stub, error));
    }
    return sent.then(
      (answer) => {
        sequence.arrived(seq);
        return fromAnswer(answer);
      },
      (error: unknown) => {
        throw this.#transportFailed(stub, error);
      },
    ) as Promise<ReplyFor<CallMsgOf<A>, M>>;
  }

  /** Queues a cast; resolves once the actor has it, not when it ran. */
  cast(msg: CastMsgOf<A>): Promise<void> {
    // As `call`: no closure per cast.
    const stub = this.stub as unknown as RpcActor;
    const sequence = this.#sequence;
    const order = sequence.next();
    const seq = order.seq;
    let sent: Promise<void>;
    try {
      sent = stub.cast(msg, order);
    } catch (error) {
      return Promise.reject(this.#transportFailed(stub, error));
    }
    return sent.then(
      () => sequence.arrived(seq),
      (error: unknown) => {
        throw this.#transportFailed(stub, error);
      },
    );
  }

  /** Sends an HTTP request to the actor's `handleRequest` (or a WebSocket upgrade). */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    return this.#rpc((stub) => stub.fetch(input, init));
  }

  /** Forgets the current stub; the next call gets a new one (after an eviction, the old stub is dead). */
  reconnect(): void {
    this.#stub = undefined;
    // A new instance knows nothing of this sender: start a new sequence rather than leave a gap it would wait on.
    this.#sequence = new SendSequence();
  }

  async #rpc<T>(send: (stub: RpcActor) => Promise<T>): Promise<T> {
    const stub = this.stub as unknown as RpcActor;
    try {
      return await send(stub);
    } catch (error) {
      throw this.#transportFailed(stub, error);
    }
  }

  /** A call that failed in transit: a broken stub stays broken, so the next call takes a new one. */
  #transportFailed(stub: RpcActor, error: unknown): unknown {
    if ((this.#stub as unknown as RpcActor) === stub) this.reconnect();
    return error;
  }
}

/** A typed handle on the actor named `name` in `namespace`. */
export function getActor<A extends AnyActor>(namespace: DurableObjectNamespace<A>, name: string, options: ActorRefOptions = {}): ActorRef<A> {
  return new ActorRef(namespace, name, options);
}

/**
 * Longest name accepted, in characters (Unicode code points, so an emoji counts once) after URL
 * decoding. At most 4 bytes of UTF-8 each, they fit the 1,024 bytes of name the platform keeps.
 */
export const MAX_NAME_LENGTH = 256;

/**
 * What is wrong with a non-empty name, to follow "An actor name" or "A room name", or undefined.
 * `counted` says how its length was taken ("after URL decoding"). Characters are counted one by
 * one only when it could matter. A lone surrogate (half of an emoji, cut by `slice`) is refused:
 * the platform keys the object by it but tells the object a name with U+FFFD in its place, so
 * that name would reach another object.
 */
export function nameProblem(name: string, counted = ""): string | undefined {
  const length = name.length <= MAX_NAME_LENGTH ? name.length : [...name].length;
  if (length > MAX_NAME_LENGTH) return `is at most ${MAX_NAME_LENGTH} characters${counted}; got ${length} ("${name.slice(0, 24)}…")`;
  if (!(name as string & { isWellFormed(): boolean }).isWellFormed()) {
    return `must be well-formed Unicode; "${name.slice(0, 24)}" has half of a surrogate pair (cut from an emoji?)`;
  }
  return undefined;
}

function checkName(name: string): void {
  if (typeof name !== "string" || name.length === 0) throw new TypeError("An actor name must be a non-empty string.");
  const problem = nameProblem(name);
  if (problem) throw new TypeError(`An actor name ${problem}.`);
}
