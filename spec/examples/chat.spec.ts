import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type ChatMessage, HISTORY_LIMIT, MAX_DISPLAY_NAME_LENGTH, MAX_TEXT_LENGTH, type RoomFrame } from "../../examples/chat/chat.js";
import { getActor } from "../../lib/index.js";
import { evict, hibernate } from "../../lib/testing/index.js";
import { uniqueName } from "../helpers.js";
import { connect, roomJson, type TestSocket } from "../sockets.js";

/** Joins as the page does: `_pk` is the tab's session id, `name` the one typed in, if any. */
const join = (room: string, pk: string, name?: string) =>
  connect(`/parties/chat/${room}?_pk=${pk}${name === undefined ? "" : `&name=${encodeURIComponent(name)}`}`);

/** The socket's next frame, which must be of this type. */
async function next<T extends RoomFrame["type"]>(socket: TestSocket, type: T): Promise<Extract<RoomFrame, { type: T }>> {
  const frame = JSON.parse(await socket.next()) as RoomFrame;
  expect(frame).toMatchObject({ type });
  return frame as Extract<RoomFrame, { type: T }>;
}

/** Joins and reads the welcome, as a tab that is in the room. */
async function joined(room: string, pk: string, name: string): Promise<TestSocket> {
  const socket = await join(room, pk, name);
  await next(socket, "welcome");
  return socket;
}

const say = (socket: TestSocket, text: string) => socket.send(JSON.stringify({ type: "say", text }));
const lines = (history: readonly ChatMessage[]) => history.map((message) => `${message.name}: ${message.text}`);
const chatJson = (room: string) => roomJson<{ who: string[]; history: ChatMessage[] }>(`/parties/chat/${room}`);

describe("The chat page", () => {
  it("opens its socket at /parties/chat/:room, with the server's length limits on its inputs", async () => {
    const html = await (await exports.default.fetch("http://examples/chat/caf%C3%A9%20%3Cb%3E")).text();
    expect(html).toContain(`const socketPath = "/parties/chat/caf%C3%A9%20%3Cb%3E";`);
    // The room name is shown as text, never as markup.
    expect(html).toContain("<code>café &#60;b&#62;</code>");
    expect(html).toContain(`id="name" maxlength="${MAX_DISPLAY_NAME_LENGTH}"`);
    expect(html).toContain(`id="text" maxlength="${MAX_TEXT_LENGTH}"`);
  });
});

describe("A chat room", () => {
  it("welcomes, relays a message to everyone with the sender's name and the server's time, and says who comes and goes", async () => {
    const room = uniqueName("chat");
    const ada = await join(room, "ada-tab", "Ada");
    expect(await next(ada, "welcome")).toEqual({ type: "welcome", name: "Ada", history: [], who: ["Ada"] });
    const bob = await join(room, "bob-tab", "Bob");
    expect(await next(bob, "welcome")).toEqual({ type: "welcome", name: "Bob", history: [], who: ["Ada", "Bob"] });
    expect(await next(ada, "joined")).toEqual({ type: "joined", name: "Bob", who: ["Ada", "Bob"] });

    const before = Date.now();
    say(ada, "hello");
    // The sender gets its own message too, stamped by the server, and marked as its own (two tabs may share a name).
    for (const socket of [ada, bob]) {
      const frame = await next(socket, "message");
      expect(frame.message).toMatchObject({ name: "Ada", text: "hello" });
      expect(frame.message.at).toBeGreaterThanOrEqual(before);
      expect(frame.mine).toBe(socket === ada ? true : undefined);
    }
    expect(await bob.ask(JSON.stringify({ type: "who" }))).toBe(JSON.stringify({ type: "who", who: ["Ada", "Bob"] }));

    bob.close(1000, "tab closed");
    expect(await next(ada, "left")).toEqual({ type: "left", name: "Bob", who: ["Ada"] });
    expect(await chatJson(room)).toMatchObject({ who: ["Ada"], history: [{ name: "Ada", text: "hello" }] });
  });

  it("welcomes a newcomer with the history, keeping only the last 50 messages", async () => {
    const room = uniqueName("history");
    const ada = await joined(room, "ada", "Ada");
    // One at a time, as the page sends them: the test pool may reorder frames sent back to back.
    for (let i = 1; i <= HISTORY_LIMIT + 2; i++) {
      say(ada, `#${i}`);
      await next(ada, "message");
    }
    const { history } = await next(await join(room, "bob", "Bob"), "welcome");
    expect(lines(history)).toEqual(Array.from({ length: HISTORY_LIMIT }, (_, i) => `Ada: #${i + 3}`));
  });

  it("replaces a tab's old socket when it reconnects under a new name, as the page's Rename does", async () => {
    const room = uniqueName("rename");
    const ada = await joined(room, "ada-tab", "Ada");
    const bob = await joined(room, "bob-tab", "Bob");
    const renamed = await join(room, "ada-tab", "Ada Lovelace");
    expect(await next(renamed, "welcome")).toMatchObject({ name: "Ada Lovelace", who: ["Ada Lovelace", "Bob"] });
    // The page checks for this reason so that it doesn't reconnect the socket it replaced.
    expect((await ada.closed).reason).toMatch(/^Replaced/);
    // Said as a rename: not "Ada left" and "Ada Lovelace joined".
    expect(await next(bob, "renamed")).toEqual({ type: "renamed", from: "Ada", to: "Ada Lovelace", who: ["Ada Lovelace", "Bob"] });
  });

  it("still says a client left that closed with the reason 'replaced': a close reason is the client's to choose", async () => {
    const room = uniqueName("forged");
    const ada = await joined(room, "ada-tab", "Ada");
    const bob = await joined(room, "bob-tab", "Bob");
    await next(ada, "joined");
    bob.close(1000, "replaced");
    expect(await next(ada, "left")).toEqual({ type: "left", name: "Bob", who: ["Ada"] });
  });

  it("tells the others nothing but who is here when a tab reconnects under the same name", async () => {
    const room = uniqueName("reconnect");
    await joined(room, "ada-tab", "Ada");
    const bob = await joined(room, "bob-tab", "Bob");
    const again = await join(room, "ada-tab", "Ada");
    expect(await next(again, "welcome")).toMatchObject({ name: "Ada" });
    expect(JSON.parse(await bob.next())).toEqual({ type: "who", who: ["Ada", "Bob"] });
  });

  it("answers GET with { who, history } and any other method with 405", async () => {
    const room = uniqueName("http");
    expect(await chatJson(room)).toEqual({ who: [], history: [] });
    const post = await exports.default.fetch(`http://examples/parties/chat/${room}`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
  });
});

describe("A chat room's input checks", () => {
  it.each([
    ["a frame that isn't JSON", "hi", 'Not JSON. Send {"type":"say","text":"hi"} or {"type":"who"}.'],
    ["an unknown type", JSON.stringify({ type: "shout", text: "hi" }), 'Unknown message. Send {"type":"say","text":"hi"} or {"type":"who"}.'],
    ["JSON that isn't an object", "42", 'Unknown message. Send {"type":"say","text":"hi"} or {"type":"who"}.'],
    ["a say without text", JSON.stringify({ type: "say", text: 7 }), 'A say needs "text", a string.'],
    ["a say of only blanks and hidden characters", JSON.stringify({ type: "say", text: " \u200B\t\u202E " }), "Say something: the text is empty."],
    ["a say over 500 characters", JSON.stringify({ type: "say", text: "x".repeat(MAX_TEXT_LENGTH + 1) }), `A message is at most ${MAX_TEXT_LENGTH} characters; this one has 501.`],
    ["a frame over 4096 characters", JSON.stringify({ type: "say", text: "x".repeat(4_096) }), "A frame is at most 4096 characters."],
    ["a binary frame", new Uint8Array([1, 2]).buffer, 'Send text frames of JSON, e.g. {"type":"say","text":"hi"}.'],
  ])("answers %s with an error frame, keeping the connection and storing nothing", async (_case, frame, error) => {
    const room = uniqueName("bad");
    const ada = await joined(room, "ada", "Ada");
    ada.send(frame);
    expect(await next(ada, "error")).toEqual({ type: "error", error });
    expect(await ada.ask(JSON.stringify({ type: "who" }))).toBe(JSON.stringify({ type: "who", who: ["Ada"] }));
    expect((await chatJson(room)).history).toEqual([]);
  });

  it("takes a message of exactly 500 characters, cleaned of hidden characters, newlines kept", async () => {
    const room = uniqueName("clean");
    const ada = await joined(room, "ada", "Ada");
    say(ada, `  two\u202E\tlines\u200B\nhere\r `);
    expect((await next(ada, "message")).message.text).toBe("two lines\nhere");
    say(ada, "y".repeat(MAX_TEXT_LENGTH));
    expect((await next(ada, "message")).message.text).toHaveLength(MAX_TEXT_LENGTH);
  });

  it("cleans the name a client asks for, and names a client that asks for none", async () => {
    const room = uniqueName("names");
    const spoof = await join(room, "spoof", ` \u202Eeve\u0000  the\tgreat  ${"!".repeat(30)}`);
    expect((await next(spoof, "welcome")).name).toBe(`eve the great ${"!".repeat(MAX_DISPLAY_NAME_LENGTH - 14)}`);
    const emoji = await join(room, "emoji", "👩‍💻".repeat(30));
    // Code points, not UTF-16 units, and joiners kept: 24 code points are 8 whole 👩‍💻.
    expect((await next(emoji, "welcome")).name).toBe("👩‍💻".repeat(8));
    const guest = await join(room, "guest");
    expect((await next(guest, "welcome")).name).toMatch(/^guest-[0-9a-f]{4}$/);
  });
});

describe("A chat room's state", () => {
  it("keeps the names and the history across a hibernation, the sockets staying open", async () => {
    const room = uniqueName("hibernate");
    const ada = await joined(room, "ada", "Ada");
    const bob = await joined(room, "bob", "Bob");
    await next(ada, "joined");
    say(ada, "before");
    await next(ada, "message");
    await next(bob, "message");
    await hibernate(getActor(env.CHAT, room));
    say(bob, "after");
    expect((await next(ada, "message")).message).toMatchObject({ name: "Bob", text: "after" });
    expect(await ada.ask(JSON.stringify({ type: "who" }))).toBe(JSON.stringify({ type: "who", who: ["Ada", "Bob"] }));
    expect(lines((await chatJson(room)).history)).toEqual(["Ada: before", "Bob: after"]);
    await hibernate(getActor(env.CHAT, room));
    // The name comes back from the socket's own state, not from memory the nap dropped.
    bob.close(1000, "bye");
    expect(await next(ada, "left")).toEqual({ type: "left", name: "Bob", who: ["Ada"] });
  });

  it("keeps the chat history across an eviction, and the page's reconnect gets it", async () => {
    const room = uniqueName("evict");
    const ada = await joined(room, "ada", "Ada");
    say(ada, "still here?");
    await next(ada, "message");
    await evict(getActor(env.CHAT, room));
    // An evicted object's sockets drop (1006); the page reconnects with the same _pk and name.
    expect((await ada.closed).code).toBe(1006);
    const again = await join(room, "ada", "Ada");
    expect(lines((await next(again, "welcome")).history)).toEqual(["Ada: still here?"]);
    say(again, "yes");
    await next(again, "message");
    expect(lines((await chatJson(room)).history)).toEqual(["Ada: still here?", "Ada: yes"]);
  });
});
