// Bindings of the examples worker (wrangler.toml at the repo root). Interfaces merge with the
// spec worker's, so names here must not reuse a spec binding with a different type.
declare global {
  namespace Cloudflare {
    interface Env {
      COUNTER_EXAMPLE: DurableObjectNamespace<import("./counter/counter.js").Counter>;
    }
  }
}
export {};
