export * from "./actor/index.js";
export * from "./protocol/errors.js";
