import { describeThrown } from "../protocol/errors.js";

/** A lifecycle hook threw; `cause` is what it threw. Logged with the hook's name, never sent to a client. */
export class HookError extends Error {
  override readonly name = "HookError";

  constructor(
    readonly hook: string,
    cause: unknown,
  ) {
    const { name, message, isError } = describeThrown(cause);
    super(`${hook} threw: ${isError ? `${name}: ${message}` : message}`, { cause });
  }
}
