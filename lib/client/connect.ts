import { PartySocket, type PartySocketOptions } from "partysocket";
import type { AnyActor, CallMsgOf, CastMsgOf } from "../actor/ref.js";
import type { CallOptions, ReplyFor } from "../actor/types.js";
import { encodeFrame, isProtocolFrame, parseServerFrame } from "../protocol/frames.js";
import { ClientCalls } from "./pending-calls.js";

/** Accepts the actor class (`connect<typeof Counter>`) or its instance type (`connect<Counter>`). */
type ActorOf<T> = T extends abstract new (...args: never[]) => infer I ? (I extends AnyActor ? I : never) : T extends AnyActor ? T : never;

export interface ConnectOptions extends Omit<PartySocketOptions, "room"> {
  /** The room (actor name). */
  room: string;
}

export interface ClientEvents {
  /** Frames that are not protocol frames (what the actor sends with `connection.send`). */
  message: (data: string | ArrayBuffer | Blob) => void;
  /** `push` frames, decoded. */
  push: (msg: unknown) => void;
  open: () => void;
  close: (event: { code: number; reason: string }) => void;
  /** Protocol errors the server sent without a call id. */
  error: (error: Error) => void;
}

export interface CallerOptions extends CallOptions {
  /** Aborting rejects the call with the signal's reason (an AbortError by default) and tells the handler through `from.signal`. */
  signal?: AbortSignal;
}

/** A connection to one actor, typed from its class: `call` waits for a reply, `cast` doesn't. */
export interface ActorClient<A extends AnyActor> {
  /** The connection id (`_pk`), kept across reconnects. */
  readonly id: string;
  /** The underlying partysocket: reconnects, buffers while offline. */
  readonly socket: PartySocket;
  call<M extends CallMsgOf<A>>(msg: M, options?: CallerOptions): Promise<ReplyFor<CallMsgOf<A>, M>>;
  cast(msg: CastMsgOf<A>): void;
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): () => void;
  /** Closes for good; pending calls reject. */
  close(code?: number, reason?: string): void;
}

/**
 * Connects to an actor from a browser or Node (pass `WebSocket` from `ws` there).
 *
 * @example
 * const counter = connect<typeof Counter>({ host: location.host, party: "counter", room: "room-1" });
 * const n = await counter.call({ type: "get" }, { timeout: 2_000 }); // number
 * counter.cast({ type: "add", by: 1 });
 *
 * A call sent while offline is sent once the socket opens; calls unanswered when the socket drops
 * are sent again after partysocket reconnects, with the same ids, and the server answers each once.
 */
export function connect<T>(options: ConnectOptions): ActorClient<ActorOf<T>> {
  const socket = new PartySocket(options);
  const room = () => `${options.party ?? "main"}/${options.room}`;
  const calls = new ClientCalls((frame) => socket.send(frame), room);
  const listeners: { [E in keyof ClientEvents]: Set<ClientEvents[E]> } = {
    message: new Set(),
    push: new Set(),
    open: new Set(),
    close: new Set(),
    error: new Set(),
  };
  let opened = false;
  socket.addEventListener("open", () => {
    // partysocket flushed what was queued while offline; calls sent on a socket that dropped go again.
    if (opened) calls.resend();
    opened = true;
    for (const listener of listeners.open) listener();
  });
  socket.addEventListener("close", (event) => {
    for (const listener of listeners.close) listener({ code: event.code, reason: event.reason });
  });
  socket.addEventListener("message", (event) => {
    const data = event.data as string | ArrayBuffer | Blob;
    if (isProtocolFrame(data)) {
      const frame = parseServerFrame(data);
      if (frame?.t === "push") for (const listener of listeners.push) listener(frame.msg);
      else if (frame && !calls.receive(frame) && frame.t === "error") for (const listener of listeners.error) listener(new Error(frame.err.message));
      return;
    }
    for (const listener of listeners.message) listener(data);
  });
  return {
    get id() {
      return socket.id;
    },
    socket,
    call: (msg, callOptions = {}) => calls.call(msg, callOptions) as never,
    cast: (msg) => socket.send(encodeFrame({ gp: 1, t: "cast", msg })),
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    close(code, reason) {
      socket.close(code, reason);
      calls.rejectAll(new Error(`The connection to ${room()} was closed.`));
    },
  };
}
