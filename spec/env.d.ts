declare global {
  namespace Cloudflare {
    /** The spec worker's module: types `exports` from `cloudflare:workers` (its own entry points). */
    interface GlobalProps {
      mainModule: typeof import("./fixtures/worker.js");
    }
    interface Env {
      COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      KV_COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      TINY: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      ROOM: DurableObjectNamespace<import("./fixtures/room.js").Room>;
      MEMORY_ROOM: DurableObjectNamespace<import("./fixtures/room.js").Room>;
      TUNED_ROOM: DurableObjectNamespace<import("./fixtures/room.js").Room>;
      ChatServer: DurableObjectNamespace<import("./fixtures/party.js").ChatServer>;
      MEMORY_CHAT: DurableObjectNamespace<import("./fixtures/party.js").ChatServer>;
      AlarmServer: DurableObjectNamespace<import("./fixtures/party.js").ChatServer>;
      FlakyStartServer: DurableObjectNamespace<import("./fixtures/party.js").FlakyStartServer>;
      TicTacToe: DurableObjectNamespace<import("./fixtures/machines.js").TicTacToe>;
      WORKFLOW: DurableObjectNamespace<import("./fixtures/machines.js").Workflow>;
      STRICT_WORKFLOW: DurableObjectNamespace<import("./fixtures/machines.js").StrictWorkflow>;
      SLOPPY_WORKFLOW: DurableObjectNamespace<import("./fixtures/machines.js").SloppyWorkflow>;
      GATED_MACHINE: DurableObjectNamespace<import("./fixtures/machines.js").GatedMachine>;
      JOBS: DurableObjectNamespace<import("./fixtures/machines.js").Jobs>;
      FROZEN_JOBS: DurableObjectNamespace<import("./fixtures/machines.js").FrozenJobs>;
      PINGER: DurableObjectNamespace<import("./fixtures/machines.js").Pinger>;
      FLAKY: DurableObjectNamespace<import("./fixtures/flaky.js").FlakyObject>;
      MyServer: DurableObjectNamespace<import("./fixtures/party.js").MyServer>;
      LEDGER: DurableObjectNamespace<import("./fixtures/ledger.js").Ledger>;
      MUTABLE_LEDGER: DurableObjectNamespace<import("./fixtures/ledger.js").Ledger>;
    }
  }
}
export {};
