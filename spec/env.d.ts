declare global {
  namespace Cloudflare {
    interface Env {
      COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      KV_COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      TINY: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
    }
  }
}
export {};
