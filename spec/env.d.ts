declare global {
  namespace Cloudflare {
    interface Env {
      COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").Counter>;
      KV_COUNTER: DurableObjectNamespace<import("./fixtures/counter.js").KvCounter>;
      TINY: DurableObjectNamespace<import("./fixtures/counter.js").TinyMailbox>;
    }
  }
}
export {};
