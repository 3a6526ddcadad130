import { type Connection, type ConnectionContext, Server, type WSMessage } from "../../lib/index.js";

/** Messages kept in storage and sent to each client that joins. */
export const HISTORY_LIMIT = 50;
/** Longest message, in UTF-16 code units (what the page's `maxlength` counts). */
export const MAX_TEXT_LENGTH = 500;
/** Longest display name, in code points. */
export const MAX_DISPLAY_NAME_LENGTH = 24;
/** Longer frames are refused before parsing: no valid message comes near it. */
const MAX_FRAME_LENGTH = 4_096;
const HISTORY_KEY = "history";

export interface ChatMessage {
  readonly name: string;
  readonly text: string;
  /** Epoch ms, from the server's clock. */
  readonly at: number;
}

/** What each connection keeps with its socket, so it survives hibernation. */
export interface Presence {
  readonly name: string;
}

/** What a client may send, as JSON text frames. */
export type ClientFrame = { type: "say"; text: string } | { type: "who" };

/**
 * What the room sends, as JSON text frames. Names only, never connection ids: an id is the
 * `_pk` a client reconnects with, and whoever knows it can take that client's place.
 */
export type RoomFrame =
  | { type: "welcome"; name: string; history: readonly ChatMessage[]; who: readonly string[] }
  /** `mine`: on the sender's own copy only (two tabs may share a name). */
  | { type: "message"; message: ChatMessage; mine?: true }
  | { type: "joined"; name: string; who: readonly string[] }
  /** A client came back on a new socket (a reload, a reconnect) under another name. */
  | { type: "renamed"; from: string; to: string; who: readonly string[] }
  | { type: "left"; name: string; who: readonly string[] }
  | { type: "who"; who: readonly string[] }
  | { type: "error"; error: string };

/**
 * A chat room: one Durable Object per room name, written with the PartyServer hooks. Sockets
 * hibernate (genparty's default), so an idle room leaves memory while its clients stay
 * connected; the history lives in storage and each name in its connection's state, so both
 * survive that.
 *
 * @example
 * // worker: the room's WebSocket is /parties/chat/:room (binding CHAT → "chat")
 * const routed = await routePartykitRequest(request, env);
 *
 * // browser
 * const socket = new WebSocket(`/parties/chat/lobby?_pk=${id}&name=Ada`);
 * socket.send(JSON.stringify({ type: "say", text: "hello" }));
 *
 * `GET /parties/chat/:room` answers `{ who, history }` as JSON.
 */
export class ChatRoom extends Server {
  /** Loaded on every start, so also after a wake from hibernation; written through on each message. */
  #history: readonly ChatMessage[] = [];
  /**
   * Names of sockets just replaced by a new one with the same id (a reload, a reconnect, a rename).
   * The replaced close and the new connect run back to back, so the instance can't sleep between.
   */
  readonly #returning = new Map<string, string>();

  override async onStart() {
    this.#history = (await this.ctx.storage.get<ChatMessage[]>(HISTORY_KEY)) ?? [];
  }

  override onConnect(connection: Connection, ctx: ConnectionContext) {
    const name = displayName(new URL(ctx.request.url).searchParams.get("name"));
    connection.setState({ name });
    const who = this.#who();
    send(connection, { type: "welcome", name, history: this.#history, who });
    const before = this.#returning.get(connection.id);
    this.#returning.delete(connection.id);
    // The same client back: no "left" and "joined" for a reload, and a rename said as such.
    if (before === undefined) this.#broadcast({ type: "joined", name, who }, [connection.id]);
    else if (before !== name) this.#broadcast({ type: "renamed", from: before, to: name, who }, [connection.id]);
    else this.#broadcast({ type: "who", who }, [connection.id]);
  }

  override async onMessage(connection: Connection, message: WSMessage) {
    const frame = parseFrame(message);
    if (typeof frame === "string") return send(connection, { type: "error", error: frame });
    switch (frame.type) {
      case "who":
        return send(connection, { type: "who", who: this.#who() });
      case "say": {
        const said: ChatMessage = { name: nameOf(connection), text: frame.text, at: Date.now() };
        const history = [...this.#history, said].slice(-HISTORY_LIMIT);
        // Stored before anyone sees it: if the write fails, the hook throws and nothing is sent.
        await this.ctx.storage.put(HISTORY_KEY, history);
        this.#history = history;
        // The sender too, so every client shows the room's order and the server's timestamp.
        this.#broadcast({ type: "message", message: said }, [connection.id]);
        return send(connection, { type: "message", message: said, mine: true });
      }
      default:
        return frame satisfies never;
    }
  }

  override onClose(connection: Connection, _code: number, _reason: string, _wasClean: boolean, replaced?: boolean) {
    // A newer socket with this id replaced this one (a reload, a rename): its onConnect comes next.
    if (replaced) return void this.#returning.set(connection.id, nameOf(connection));
    // Closing sockets are never listed by getConnections, so it is already out of `who`.
    this.#broadcast({ type: "left", name: nameOf(connection), who: this.#who() });
  }

  override onRequest(request: Request) {
    if (request.method !== "GET") return new Response("GET only: it answers { who, history }.", { status: 405, headers: { allow: "GET" } });
    return Response.json({ who: this.#who(), history: this.#history });
  }

  #who(): string[] {
    return this.getConnections()
      .map(nameOf)
      .sort((a, b) => a.localeCompare(b));
  }

  #broadcast(frame: RoomFrame, exclude: string[] = []): void {
    this.broadcast(JSON.stringify(frame), exclude);
  }
}

function send(connection: Connection, frame: RoomFrame): void {
  connection.send(JSON.stringify(frame));
}

/**
 * The name set in onConnect. Hooks take `Connection` (state `unknown`): genparty's `Connection<T>`
 * is invariant in `T`, so a hook can't be declared with `Connection<Presence>` as in partyserver.
 */
function nameOf(connection: Connection): string {
  return (connection.state as Presence | null)?.name ?? "someone";
}

/** The frame as a client message, or why it isn't one (sent back; the connection stays open). */
function parseFrame(message: WSMessage): ClientFrame | string {
  if (typeof message !== "string") return 'Send text frames of JSON, e.g. {"type":"say","text":"hi"}.';
  if (message.length > MAX_FRAME_LENGTH) return `A frame is at most ${MAX_FRAME_LENGTH} characters.`;
  let data: unknown;
  try {
    data = JSON.parse(message);
  } catch {
    return 'Not JSON. Send {"type":"say","text":"hi"} or {"type":"who"}.';
  }
  const { type, text } = (typeof data === "object" && data !== null ? data : {}) as { type?: unknown; text?: unknown };
  if (type === "who") return { type };
  if (type !== "say") return 'Unknown message. Send {"type":"say","text":"hi"} or {"type":"who"}.';
  if (typeof text !== "string") return 'A say needs "text", a string.';
  const cleaned = clean(text, true);
  if (cleaned.length === 0) return "Say something: the text is empty.";
  if (cleaned.length > MAX_TEXT_LENGTH) return `A message is at most ${MAX_TEXT_LENGTH} characters; this one has ${cleaned.length}.`;
  return { type, text: cleaned };
}

/** The `?name=` a client asked for, made safe to show, or a guest name. */
function displayName(requested: string | null): string {
  const name = [...clean(requested ?? "", false).replace(/ {2,}/g, " ")].slice(0, MAX_DISPLAY_NAME_LENGTH).join("").trim();
  return name || `guest-${crypto.randomUUID().slice(0, 4)}`;
}

/**
 * Controls, and the invisible characters that reorder or hide text (bidi overrides, zero-width
 * space) so one line could pass for another. Joiners stay: emoji sequences are built with them.
 */
const HIDDEN = /[\p{Cc}\u061C\u200B\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/gu;
const HIDDEN_BUT_NEWLINE = /(?!\n)[\p{Cc}\u061C\u200B\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/gu;

/** Whitespace as plain spaces (newlines kept when `multiline`), hidden characters dropped, trimmed. */
function clean(text: string, multiline: boolean): string {
  return text
    .normalize("NFC")
    .replace(multiline ? /[^\S\n]/g : /\s/g, " ")
    .replace(multiline ? HIDDEN_BUT_NEWLINE : HIDDEN, "")
    .trim();
}
