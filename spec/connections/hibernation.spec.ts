import { describe, expect, it } from "vitest";
import { uniqueName } from "../helpers.js";
import { connect, roomJson } from "../sockets.js";

/**
 * The one spec that waits for real: workerd hibernates an idle object after ~10 s and offers no
 * switch for it. It proves that `hibernate()` from genparty/testing, used everywhere else, shows
 * the same thing a real wake does.
 */
describe("Real hibernation", () => {
  it("wakes a new instance with sockets, ids, tags, state and actor state intact", { timeout: 60_000 }, async () => {
    const name = uniqueName("sleepy");
    const path = `/room/${name}`;
    const socket = await connect(`${path}?_pk=h&tags=blue&joined=x`);
    await socket.next();
    socket.send("record:before sleep");
    expect(await socket.ask("echo:sync")).toBe("sync");
    const bornBefore = await roomJson<number>(`${path}/born`);

    // Idle, with no request to the object; then a frame must wake a new instance.
    let woke = false;
    for (let waited = 0; waited < 40_000 && !woke; waited += 13_000) {
      await new Promise((resolve) => setTimeout(resolve, 13_000));
      expect(JSON.parse(await socket.ask("meta"))).toEqual({ id: "h", tags: ["h", "blue"], uri: `http://spec${path}?_pk=h&tags=blue&joined=x`, server: name });
      woke = (await roomJson<number>(`${path}/born`)) !== bornBefore;
    }
    expect(woke).toBe(true);
    expect(JSON.parse(await socket.ask("getstate"))).toEqual({ joined: "x" });
    expect(JSON.parse(await socket.ask("list:blue"))).toEqual(["h"]);
    expect(await roomJson(`${path}/events`)).toEqual(["connect:h", "message:h:before sleep"]);
  });
});
