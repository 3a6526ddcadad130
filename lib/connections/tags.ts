import { InvalidConnectionError } from "./errors.js";

/** The platform's limits on hibernatable WebSocket tags. */
export const MAX_TAGS = 10;
export const MAX_TAG_LENGTH = 256;

/** The connection's tags: its id first (lookups by id rely on it), then the user's, without repeats. */
export function connectionTags(id: string, userTags: readonly unknown[]): string[] {
  const tags = [id];
  for (const tag of userTags) {
    if (typeof tag !== "string" || tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
      throw new InvalidConnectionError(
        `Connection tags must be strings of 1 to ${MAX_TAG_LENGTH} characters; got ${typeof tag === "string" ? `"${tag.slice(0, 40)}" (${tag.length} characters)` : typeof tag}.`,
      );
    }
    if (!tags.includes(tag)) tags.push(tag);
  }
  if (tags.length > MAX_TAGS) {
    throw new InvalidConnectionError(`A connection has at most ${MAX_TAGS} tags, its id included; got ${tags.length}: ${tags.join(", ")}.`);
  }
  return tags;
}

/** A connection id from `?_pk=`: partysocket sends one and reuses it on reconnect. */
export function checkConnectionId(id: string): string {
  if (id.length === 0 || id.length > MAX_TAG_LENGTH) {
    throw new InvalidConnectionError(`A connection id (the _pk query parameter) must be 1 to ${MAX_TAG_LENGTH} characters; got ${id.length}.`);
  }
  return id;
}
