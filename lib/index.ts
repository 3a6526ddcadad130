export * from "./actor/index.js";
export * from "./protocol/errors.js";
export * from "./connections/index.js";
