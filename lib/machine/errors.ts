import { GenpartyError } from "../protocol/errors.js";

/** An event the machine doesn't know, or one without a string `type`. The room goes on. */
export class UnknownEventError extends GenpartyError {
  override readonly name = "UnknownEventError";
  readonly code = "unknown_event";
}

/** The saved snapshot was made by another version of the machine and there is no `static migrate` for it. */
export class MachineVersionError extends GenpartyError {
  override readonly name = "MachineVersionError";
  readonly code = "machine_version";
}

/** The machine can't be made durable as written (inline child logic). */
export class MachineDefinitionError extends GenpartyError {
  override readonly name = "MachineDefinitionError";
  readonly code = "machine_definition";
}

/** Sent to the machine (as `xstate.error.actor.<id>`) for an invoked promise or callback that an eviction interrupted. */
export class InterruptedActorError extends GenpartyError {
  override readonly name = "InterruptedActorError";
  readonly code = "actor_interrupted";
}
