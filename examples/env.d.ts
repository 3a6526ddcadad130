// Bindings of the examples worker (wrangler.toml at the repo root). Interfaces merge with the
// spec worker's, so names here must not reuse a spec binding with a different type.
declare global {
  namespace Cloudflare {
    interface Env {
      COUNTER_EXAMPLE: DurableObjectNamespace<import("./counter/counter.js").Counter>;
      CHAT: DurableObjectNamespace<import("./chat/chat.js").ChatRoom>;
      // The spec worker binds this same class under this name (it tests the example itself).
      MyServer: DurableObjectNamespace<import("./partyserver-readme/index.js").MyServer>;
      // Not "TicTacToe": the spec worker binds its own tic-tac-toe fixture under that name.
      TIC_TAC_TOE: DurableObjectNamespace<import("./tic-tac-toe/game.js").TicTacToeRoom>;
    }
  }
}
export {};
