import type { AnyActor } from "../actor/ref.js";
import type { CallEnvelope } from "../actor/actor.js";
import { nameProblem } from "../actor/ref.js";
import { fromWire } from "../protocol/errors.js";
import { checkRetryOptions, type RoutingRetryOptions, withRetry } from "./retry.js";

export interface ServerByNameOptions<Props = unknown> {
  locationHint?: DurableObjectLocationHint;
  jurisdiction?: DurableObjectJurisdiction;
  /** Handed to `onStart(props)` over RPC, never in a header. */
  props?: Props;
  /** Retries a transient Durable Object error while starting the object. `false` turns it off. */
  routingRetry?: RoutingRetryOptions | false;
}

/** A name that can't address a room. */
export class InvalidNameError extends Error {
  override readonly name = "InvalidNameError";
}

export function checkRoomName(name: string): string {
  if (name.length === 0) throw new InvalidNameError("A room name must not be empty.");
  // A URL path reads these as "here" and "up": no client could reach the room.
  if (name === "." || name === "..") throw new InvalidNameError(`A room name can't be "${name}": a URL can't hold it as a path segment, so no client could connect to that room.`);
  const problem = nameProblem(name, " after URL decoding");
  if (problem) throw new InvalidNameError(`A room name ${problem}.`);
  return name;
}

/** What routing calls on a genparty object before forwarding: start it (running `onStart`) with these props. */
interface Startable {
  __genpartyStart(props: unknown): Promise<CallEnvelope>;
}

/** Starts the object behind `stub`; a failed start (e.g. `onStart` threw) is thrown here as its class. */
export async function startObject(stub: unknown, props: unknown): Promise<void> {
  let started: CallEnvelope;
  try {
    started = await (stub as Startable).__genpartyStart(props);
  } catch (error) {
    // A plain Durable Object (not yet moved to genparty, say): partyserver sent it props in a header it read itself.
    if (error instanceof TypeError && error.message.includes("__genpartyStart")) {
      throw new TypeError(
        props === undefined
          ? `getServerByName starts a genparty Actor or Server; this object's class is neither (${error.message}). Get its stub with namespace.getByName(name), or move the class to genparty.`
          : `props can only be handed to a genparty Actor or Server; this object's class is neither (${error.message}). Route to it without props, or move the class to genparty.`,
      );
    }
    throw error;
  }
  if (!started.ok) throw fromWire(started.error);
}

/**
 * The stub of the object named `name`, started: it returns once the object's `onStart` (or the
 * actor's `handleStart`) has run, with `props` if given. Works for `Actor` and `Server` classes.
 *
 * Its class is inferred from `namespace`; written out, it is the first type argument
 * (`getServerByName<Room>(…)`), or the second after an ignored one, as partyserver's calls write
 * it (`getServerByName<Env, Room, Props>(…)`). Not `<Env>` alone: written out, the class is needed.
 */
export async function getServerByName<A = AnyActor, T extends AnyActor = Extract<A, AnyActor>, Props = unknown>(
  namespace: DurableObjectNamespace<T>,
  name: string,
  options: ServerByNameOptions<Props> = {},
): Promise<DurableObjectStub<T>> {
  checkRoomName(name);
  return withRetry(
    async () => {
      const stub = stubFor(namespace, name, options);
      await startObject(stub, options.props);
      return stub;
    },
    checkRetryOptions(options.routingRetry),
    { name },
  );
}

export function stubFor<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  name: string,
  options: { locationHint?: DurableObjectLocationHint; jurisdiction?: DurableObjectJurisdiction },
): DurableObjectStub<T> {
  const scoped = options.jurisdiction ? namespace.jurisdiction(options.jurisdiction) : namespace;
  const stubOptions = options.locationHint ? { locationHint: options.locationHint } : undefined;
  // A wrapper or test double of a namespace may have only idFromName and get, all partyserver calls.
  if (typeof scoped.getByName !== "function") return scoped.get(scoped.idFromName(name), stubOptions);
  return scoped.getByName(name, stubOptions);
}
