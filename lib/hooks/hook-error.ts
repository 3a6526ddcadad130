/** A lifecycle hook threw; `cause` is what it threw. Logged with the hook's name, never sent to a client. */
export class HookError extends Error {
  override readonly name = "HookError";

  constructor(
    readonly hook: string,
    cause: unknown,
  ) {
    super(`${hook} threw: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`, { cause });
  }
}
