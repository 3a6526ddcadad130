export { HookError } from "./hook-error.js";
export { type ConnectionContext, Server } from "./server.js";
