import { InvalidConnectionError } from "./errors.js";

/** The platform's limits on hibernatable WebSocket tags: a count, and a length in UTF-8 bytes. */
export const MAX_TAGS = 10;
export const MAX_TAG_LENGTH = 256;

const encoder = new TextEncoder();

/** Whether a tag is 1 to MAX_TAG_LENGTH bytes of UTF-8 (a character may take up to 4). */
function fits(tag: string): boolean {
  return tag.length > 0 && (tag.length * 3 <= MAX_TAG_LENGTH || encoder.encode(tag).byteLength <= MAX_TAG_LENGTH);
}

/** The connection's tags: its id first (lookups by id rely on it), then the user's, without repeats. */
export function connectionTags(id: string, userTags: readonly unknown[]): string[] {
  const tags = [id];
  for (const tag of userTags) {
    if (typeof tag !== "string" || !fits(tag)) {
      throw new InvalidConnectionError(
        `Connection tags must be strings of 1 to ${MAX_TAG_LENGTH} bytes of UTF-8; got ${typeof tag === "string" ? `"${tag.slice(0, 40)}" (${encoder.encode(tag).byteLength} bytes)` : typeof tag}.`,
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
  if (!fits(id)) {
    throw new InvalidConnectionError(`A connection id (the _pk query parameter) must be 1 to ${MAX_TAG_LENGTH} bytes of UTF-8; got ${encoder.encode(id).byteLength}.`);
  }
  return id;
}
