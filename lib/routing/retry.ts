/** What `onRetry` hears before each new attempt. */
export interface RoutingRetryEvent {
  readonly error: unknown;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** How long until the next attempt. */
  readonly delayMs: number;
  readonly name: string;
  readonly className?: string;
}

export interface RoutingRetryOptions {
  /** Attempts in all, the first included. @default 3 */
  maxAttempts?: number;
  /** @default 100 */
  baseDelayMs?: number;
  /** @default 800 */
  maxDelayMs?: number;
  /** Called before each retry; a throw here is logged and retrying goes on. */
  onRetry?: (event: RoutingRetryEvent) => void | Promise<void>;
  /**
   * HTTP methods whose routed requests are retried. A request that failed with a `retryable` error
   * may have run already, so by default only the idempotent methods are (WebSocket upgrades are
   * GETs); add `"POST"` or `"PATCH"` when those handlers are safe to run twice. `getServerByName`'s
   * start is always retried. @default ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]
   */
  methods?: readonly string[];
}

// Frozen, as NO_RETRY: checkRetryOptions hands these very objects to every request it is asked about.
export const DEFAULT_ROUTING_RETRY = Object.freeze({ maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 800, methods: Object.freeze(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"] as const) });

/** Options `checkRetryOptions` passed, defaults filled in. */
export type CheckedRetryOptions = Required<Omit<RoutingRetryOptions, "onRetry">> & Pick<RoutingRetryOptions, "onRetry">;

const NO_RETRY: CheckedRetryOptions = Object.freeze({ ...DEFAULT_ROUTING_RETRY, maxAttempts: 1 });

/** Checks options where they are given, naming the path, rather than failing on first use. */
export function checkRetryOptions(retry: RoutingRetryOptions | false | undefined): CheckedRetryOptions {
  // Most callers give none: every routed request asks, so the defaults are not copied each time.
  if (retry === undefined) return DEFAULT_ROUTING_RETRY;
  if (retry === false) return NO_RETRY;
  const options = { ...DEFAULT_ROUTING_RETRY, ...retry };
  if (!Array.isArray(options.methods) || !options.methods.every((method) => typeof method === "string")) {
    throw new TypeError(`routingRetry.methods must be an array of HTTP method names like ["GET", "POST"], got ${JSON.stringify(options.methods)}.`);
  }
  checkAtLeast(options, "maxAttempts", 1);
  checkAtLeast(options, "baseDelayMs", 0);
  checkAtLeast(options, "maxDelayMs", 0);
  return options;
}

// A function of the module, not a closure per call: this runs on every routed request that passes
// options, and a bundle built with keepNames (wrangler's default) names each closure with a defineProperty.
function checkAtLeast(options: CheckedRetryOptions, key: "maxAttempts" | "baseDelayMs" | "maxDelayMs", min: number): void {
  const value = options[key];
  if (!Number.isFinite(value) || value < min) throw new RangeError(`routingRetry.${key} must be a number >= ${min}, got ${value}.`);
}

/**
 * Whether the platform says trying again may work: a transient Durable Object error (`retryable`),
 * but never an overloaded object, which a retry would only load more.
 */
export function isRetryable(error: unknown): boolean {
  const flags = error as { retryable?: unknown; overloaded?: unknown } | null;
  return flags?.retryable === true && flags.overloaded !== true;
}

const methodSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** Whether a routed request with this method is retried: one of the (checked) options' `methods`, in any case. */
export function retriesMethod(methods: readonly string[], method: string): boolean {
  // Asked on every routed request, of the same few arrays: each is made a set of upper-case names once.
  let wanted = methodSets.get(methods);
  if (!wanted) methodSets.set(methods, (wanted = new Set(methods.map((allowed) => allowed.toUpperCase()))));
  return wanted.has(method) || wanted.has(method.toUpperCase());
}

/** Runs `attempt` until it succeeds, a non-retryable error comes, or attempts run out (then the last error is thrown). */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, options: CheckedRetryOptions, about: { name: string; className?: string }): Promise<T> {
  try {
    return await attempt(1);
  } catch (error) {
    return retryAfter(error, attempt, options, about);
  }
}

/** Goes on after a first attempt failed with `firstError`: retries while it is retryable and attempts remain. */
export async function retryAfter<T>(firstError: unknown, attempt: (n: number) => Promise<T>, options: CheckedRetryOptions, about: { name: string; className?: string }): Promise<T> {
  let error = firstError;
  for (let n = 1; ; n++) {
    if (n >= options.maxAttempts || !isRetryable(error)) throw error;
    // Full jitter: retries of many callers spread out instead of arriving together.
    const delayMs = Math.floor(Math.random() * Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (n - 1)));
    try {
      await options.onRetry?.({ error, attempt: n, maxAttempts: options.maxAttempts, delayMs, ...about });
    } catch (hookError) {
      console.warn("routingRetry.onRetry threw; retrying anyway:", hookError);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      return await attempt(n + 1);
    } catch (next) {
      error = next;
    }
  }
}
