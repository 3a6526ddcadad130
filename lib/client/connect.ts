import { PartySocket, type PartySocketOptions } from "partysocket";
import type { AnyActor, CallMsgOf, CastMsgOf } from "../actor/ref.js";
import type { actorTypes } from "../actor/actor.js";
import type { CallOptions, Json, ReplyFor } from "../actor/types.js";
import { encodeFrame, isProtocolFrame, parseServerFrame, REPLACED_REASON } from "../protocol/frames.js";
import { ClientCalls } from "./pending-calls.js";

/**
 * What `connect()` without a type argument talks to: any JSON message, replies typed `unknown`
 * (a plain JavaScript client, or a page that can't import the actor's types).
 */
export interface UntypedActor extends AnyActor {
  readonly [actorTypes]?: { readonly state: unknown; readonly call: Json; readonly cast: Json };
}

/**
 * Accepts the actor class (`connect<typeof Counter>`) or its instance type (`connect<Counter>`);
 * no type argument (`T` is then `unknown`) gives the untyped client.
 */
type ActorOf<T> = unknown extends T
  ? UntypedActor
  : T extends abstract new (...args: never[]) => infer I
    ? I extends AnyActor
      ? I
      : never
    : T extends AnyActor
      ? T
      : never;

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
  /** The underlying partysocket (reconnects). Frames sent on it directly are its own: partysocket buffers them while offline. */
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
 * A call or cast made while offline is sent once the socket opens, in the order they were made; a
 * call given up meanwhile (timeout, signal) is never sent. Calls unanswered when the socket drops
 * are sent again after partysocket reconnects, with the same ids, and the server answers each once.
 */
export function connect<T>(options: ConnectOptions): ActorClient<ActorOf<T>> {
  const room = () => `${options.party ?? "main"}/${options.room}`;
  /** Set by `close()`: calls are refused for good. */
  let closed: Error | undefined;
  /** Why the last close left the socket closed (partysocket won't reconnect): calls are refused until `socket.reconnect()`. */
  let stopped: Error | undefined;
  const refusal = () => closed ?? (socket.shouldReconnect ? undefined : stopped);
  const socket = new PartySocket({
    ...options,
    // Another client took this connection id: reconnecting would take it back, and the two would
    // knock each other off for good. This one stops instead.
    shouldReconnectOnClose: (event) => !isReplaced(event) && (options.shouldReconnectOnClose?.(event) ?? true),
  });
  const calls = new ClientCalls({ send: (frame) => socket.send(frame), isOpen: () => socket.readyState === OPEN, room });
  const listeners: { [E in keyof ClientEvents]: Set<ClientEvents[E]> } = {
    message: new Set(),
    push: new Set(),
    open: new Set(),
    close: new Set(),
    error: new Set(),
  };
  socket.addEventListener("open", () => {
    calls.opened();
    emit(listeners.open);
  });
  socket.addEventListener("close", (event) => {
    // Calls sent or queued would wait for a socket that never comes: they fail now.
    if (!closed && !socket.shouldReconnect) {
      stopped = isReplaced(event)
        ? new Error(`Another client connected to ${room()} with this one's id (${socket.id}), so this one stopped. Give each client its own id; put who the user is in \`query\`.`)
        : new Error(
            `The connection to ${room()} closed (code ${event.code}${event.reason ? `, "${event.reason}"` : ""}) and won't reconnect: shouldReconnectOnClose said not to, or socket.close() was called. socket.reconnect() connects again.`,
          );
      calls.rejectAll(stopped);
    }
    emit(listeners.close, { code: event.code, reason: event.reason });
  });
  socket.addEventListener("message", (event) => {
    const data = event.data as string | ArrayBuffer | Blob;
    // Text that only starts like a protocol frame (the app's own `{"gp": …}`) is the app's message.
    const frame = isProtocolFrame(data) ? parseServerFrame(data) : undefined;
    if (!frame) return emit(listeners.message, data);
    if (frame.t === "push") emit(listeners.push, frame.msg);
    else if (frame.t === "stopped") calls.stopped(String(frame.reason), Array.isArray(frame.keep) ? frame.keep : []);
    else if (!calls.receive(frame) && frame.t === "error") emit(listeners.error, new Error(frame.err.message));
  });
  return {
    get id() {
      return socket.id;
    },
    socket,
    call: (msg, callOptions = {}) => {
      const refused = refusal();
      return (refused ? Promise.reject(refused) : calls.call(msg, callOptions)) as never;
    },
    cast(msg) {
      const refused = refusal();
      if (refused) throw refused;
      calls.cast(encodeFrame({ gp: 1, t: "cast", msg }));
    },
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    close(code, reason) {
      closed ??= new Error(`The connection to ${room()} was closed.`);
      // Before the socket goes: handlers still running hear of it through from.signal.
      calls.rejectAll(closed);
      socket.close(code, reason);
    },
  };
}

const OPEN = 1;

/** The server closes an older socket this way when a newer one connects with the same id. */
function isReplaced(event: { code: number; reason: string }): boolean {
  return event.code === 1000 && event.reason === REPLACED_REASON;
}

/** Calls every listener, even when one throws: that error is reported as uncaught, as an EventTarget does. */
function emit<A extends unknown[]>(listeners: Set<(...args: A) => void>, ...args: A): void {
  for (const listener of listeners) {
    try {
      listener(...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
