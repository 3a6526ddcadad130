export * from "./actor/index.js";
export * from "./protocol/errors.js";
export * from "./connections/index.js";
export * from "./routing/index.js";
export * from "./hooks/index.js";
