import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Connection } from "../../lib/index.js";
import { TicTacToe, type ticTacToe } from "../fixtures/machines.js";
import { uniqueName } from "../helpers.js";
import { connect } from "../sockets.js";
import type { SnapshotFrom } from "xstate";

/** The same room, projecting only the connection's own mark (a view most changes leave alone). */
class MarkOnly extends TicTacToe {
  override project(snapshot: SnapshotFrom<typeof ticTacToe>, connection?: Connection) {
    const { players } = snapshot.context;
    return { you: connection === undefined ? null : players.x === connection.id ? "x" : players.o === connection.id ? "o" : null };
  }
}

describe("scratch: pushes after a wake", () => {
  it("sends nothing to a connection whose view two changes after the wake both leave alone", async () => {
    const room = uniqueName("ttt-dup");
    const a = await connect(`/parties/tic-tac-toe/${room}?_pk=a`);
    const b = await connect(`/parties/tic-tac-toe/${room}?_pk=b`);
    await Promise.all([a.next(), b.next()]);
    await runInDurableObject(env.TicTacToe.getByName(room), async (_asleep, state) => {
      // A wake: a new instance on the same storage and sockets.
      const woken = new MarkOnly(state, env);
      await woken.call({ type: "join", player: "a" }); // a's view changes; b's doesn't
      await woken.call({ type: "join", player: "zzz" }); // nobody's view changes
    });
    expect(JSON.parse(await a.next())).toMatchObject({ t: "push", msg: { state: { you: "x" } } });
    // b's view ({ you: null }) never changed: it should get no push.
    const extra = await b.next(500).catch(() => "none");
    expect(extra).toBe("none");
  });
});
