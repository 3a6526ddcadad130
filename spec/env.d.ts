declare global {
  namespace Cloudflare {
    interface Env {
      COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      KV_COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      TINY: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      ROOM: DurableObjectNamespace<import("./fixtures/room.js").Room>;
      MEMORY_ROOM: DurableObjectNamespace<import("./fixtures/room.js").Room>;
      TUNED_ROOM: DurableObjectNamespace<import("./fixtures/room.js").Room>;
    }
  }
}
export {};
