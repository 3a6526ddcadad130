import type { AnyStateMachine } from "xstate";
import { MachineDefinitionError } from "./errors.js";

/** What a machine room keeps as its actor state: the persisted snapshot, its version, and pending delays. */
export interface MachineState {
  /** The machine version that wrote `snapshot` (`static version`). */
  version: number;
  /** xstate's persisted snapshot; null until the machine first starts. */
  snapshot: unknown;
  delays: Record<string, { due: number; event: { type: string } }>;
  /**
   * Connections the machine heard `connect` (or of which it heard nothing yet) and no `disconnect`
   * for, kept when it names `disconnect`: a restart drops sockets without a close, and this is
   * how the room still tells the machine they left.
   */
  present?: string[];
  /** When the grace period a restart started ends (its timer is set): a wake meanwhile doesn't start another. */
  disconnectAt?: number;
}

interface StateNodeLike {
  readonly id: string;
  readonly config: { invoke?: unknown };
  readonly states?: Record<string, StateNodeLike>;
}

/**
 * Inline child logic (`invoke: { src: fromPromise(…) }`) has no name xstate can persist and find
 * again on restore; refuse it up front, naming the state, instead of failing on the first save.
 */
export function checkMachine(machine: AnyStateMachine, className: string): void {
  const visit = (node: StateNodeLike) => {
    for (const invoke of [node.config.invoke ?? []].flat() as Array<{ src?: unknown }>) {
      if (typeof invoke.src !== "string") {
        throw new MachineDefinitionError(
          `${className}.machine: state "${node.id}" invokes inline logic, which can't be saved and restored. Name it in setup({ actors: { myActor: fromPromise(…) } }) and invoke it by name: invoke: { src: "myActor" }.`,
        );
      }
    }
    for (const child of Object.values(node.states ?? {})) visit(child);
  };
  visit(machine.root as unknown as StateNodeLike);
}

/** Children that were running when the snapshot was saved and whose work can't resume after a restart. */
export function interruptedChildren(snapshot: unknown, machine: AnyStateMachine): string[] {
  const children = (snapshot as { children?: Record<string, { src?: unknown; snapshot?: { status?: string } }> } | null)?.children ?? {};
  const actors = (machine.implementations.actors ?? {}) as Record<string, unknown>;
  return Object.entries(children)
    .filter(([, child]) => child.snapshot?.status === "active" && typeof child.src === "string" && !isMachine(actors[child.src]))
    .map(([id]) => id);
}

/** The snapshot without the given children, so restoring doesn't start their work a second time. */
export function withoutChildren(snapshot: unknown, ids: readonly string[]): unknown {
  if (ids.length === 0) return snapshot;
  const copy = { ...(snapshot as Record<string, unknown>) };
  const children = { ...(copy.children as Record<string, unknown>) };
  for (const id of ids) delete children[id];
  copy.children = children;
  return copy;
}

function isMachine(logic: unknown): boolean {
  return typeof logic === "object" && logic !== null && "root" in logic;
}

/**
 * The snapshot with every Error in it (in context, say, from `assign({ error: ({ event }) => event.error })`,
 * xstate's own pattern) as plain data, `{ name, message }` and its own fields, so it can be saved.
 * Copies only the path to each Error; returns the snapshot itself when it holds none.
 */
export function plainErrors(value: unknown, depth = 0): unknown {
  // As deep as the state check walks (a cycle among them): the check names what is left.
  if (depth > 100) return value;
  if (value instanceof Error) return plainErrors({ ...value, name: value.name, message: value.message }, depth);
  if (typeof value !== "object" || value === null) return value;
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const [key, item] of Object.entries(value)) {
    const plain = plainErrors(item, depth + 1);
    if (plain === item) continue;
    copy ??= Array.isArray(value) ? [...value] : { ...value };
    (copy as Record<string, unknown>)[key] = plain;
  }
  return copy ?? value;
}
