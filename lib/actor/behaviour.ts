import type { Connection } from "../connections/connection.js";
import type { CastOrigin, From, Info } from "./types.js";

/** The callbacks the runtime drives: the actor's handlers, untyped at this level. */
export interface Behaviour {
  init(): unknown;
  handleStart(state: unknown, props: unknown): unknown;
  handleCall(msg: unknown, from: From, state: unknown): unknown;
  handleRequest(request: Request, from: From, state: unknown): unknown;
  handleCast(msg: unknown, state: unknown, origin: CastOrigin): unknown;
  handleInfo(info: Info, state: unknown): unknown;
  handleContinue(msg: unknown, state: unknown): unknown;
  getConnectionTags(connection: Connection, context: { request: Request }): unknown;
  getSubprotocol(offered: readonly string[], request: Request): string | undefined;
}

export interface RuntimeOptions {
  readonly className: string;
  readonly mailboxLimit: number;
  readonly hibernate: boolean;
  readonly immutableState: boolean;
}
