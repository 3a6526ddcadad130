// Bindings of the benchmark worker (bench/wrangler.toml). Interfaces merge with the spec and
// examples workers' Env, so every name here starts with BENCH_ to stay clear of theirs.
declare global {
  namespace Cloudflare {
    interface Env {
      BENCH_RAW: DurableObjectNamespace<import("./worker.js").RawRoom>;
      BENCH_RAW_PERSISTED: DurableObjectNamespace<import("./worker.js").RawRoomPersisted>;
      BENCH_PARTY: DurableObjectNamespace<import("./worker.js").PartyRoom>;
      BENCH_PARTY_PERSISTED: DurableObjectNamespace<import("./worker.js").PartyRoomPersisted>;
      BENCH_GP_SERVER: DurableObjectNamespace<import("./worker.js").GpServerRoom>;
      BENCH_GP_SERVER_PERSISTED: DurableObjectNamespace<import("./worker.js").GpServerRoomPersisted>;
      BENCH_GP_ACTOR: DurableObjectNamespace<import("./worker.js").GpActorRoom>;
      BENCH_GP_ACTOR_PERSISTED: DurableObjectNamespace<import("./worker.js").GpActorRoomPersisted>;
      BENCH_RAW_MEM: DurableObjectNamespace<import("./worker.js").RawMemRoom>;
      BENCH_PARTY_MEM: DurableObjectNamespace<import("./worker.js").PartyMemRoom>;
      BENCH_GP_SERVER_MEM: DurableObjectNamespace<import("./worker.js").GpServerMemRoom>;
      BENCH_GP_MACHINE: DurableObjectNamespace<import("./worker.js").GpMachineRoom>;
    }
  }
}
export {};
