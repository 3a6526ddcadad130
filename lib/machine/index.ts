export { DELAY_KEY_PREFIX, type SavedDelay } from "./durable-clock.js";
export { InterruptedActorError, MachineDefinitionError, MachineVersionError, UnknownEventError } from "./errors.js";
export { MachineServer } from "./machine-server.js";
export type { MachineState } from "./snapshot.js";
