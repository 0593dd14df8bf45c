/**
 * Stored parts (RFC 9111 §3.3–3.4): what a stored 206 can do for a request,
 * and when the bytes of two responses may be combined into one entry.
 *
 * Departure (the library does not understand 206): a 206 with a
 * `bytes a-b/N` Content-Range is stored where the whole response would be,
 * as a part of it (storability.ts), and answers every range inside it (suffix
 * and open ones resolved with N). A 200 of known length whose body the origin
 * cut short is kept as the part that arrived, when it has a strong validator.
 * A request wanting bytes from inside a part or right after it extends it: the
 * origin is asked for the rest with Range and If-Range (the part's strong
 * validator), and the two become one entry (src/request/partial.ts). Bytes
 * before a part, or after a gap, are fetched like a miss and the answer
 * replaces the part. A part never replaces a whole stored response
 * (src/request/lead.ts): that one may still answer requests for all of it, or
 * stand in for a failing origin.
 *
 * @module
 */

import type { FieldList } from "../../http1/fields.ts";
import { strongMatch } from "../conditional.ts";
import { parseHttpDate } from "../http_date.ts";
import {
  chooseRange,
  formatContentRange,
  parseContentRange,
  type Part,
  type PartUse,
  usePart,
} from "../range.ts";
import { joined } from "./directives.ts";
import type { CacheRequest, StoredResponse } from "./inputs.ts";

/** What a stored part can do for a request, and the If-Range to extend it with. */
export type StoredPartUse =
  | Exclude<PartUse, { kind: "extend" }>
  | Extract<PartUse, { kind: "extend" }> & {
    /** The stored strong validator, for If-Range. */
    ifRange: string;
  };

/** Request fields that make a request conditional on its own terms (RFC 9110 §13.1). */
const PRECONDITIONS = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];

/**
 * What a stored 206 can do for `req` (RFC 9111 §3.4): answer it when every
 * byte asked for is inside; be extended from the origin when the bytes asked
 * for start inside it or right after it — for a GET without preconditions of
 * its own, and only with a strong validator to send as If-Range, so that the
 * bytes appended belong to the same representation.
 */
export function partUse(req: CacheRequest, stored: StoredResponse): StoredPartUse {
  const part = parseContentRange(joined(stored.headers, "content-range"));
  if (part === undefined) return { kind: "outside" };
  const get = req.method === "GET";
  const choice = get
    ? chooseRange(
      req.fields.get("range"),
      req.fields.get("if-range"),
      part.length,
      joined(stored.headers, "etag"),
      joined(stored.headers, "last-modified"),
    )
    : { kind: "full" as const };
  const use = usePart(part, choice);
  if (use.kind !== "extend") return use;
  const ifRange = strongValidator(stored.headers);
  if (!get || ifRange === undefined || PRECONDITIONS.some((n) => req.fields.has(n))) {
    return { kind: "outside" };
  }
  return { ...use, ifRange };
}

/**
 * The stored response's strong validator (RFC 9110 §8.8.1): a strong ETag,
 * else a Last-Modified at least a second before its Date (§8.8.2.2).
 */
export function strongValidator(headers: [string, string][]): string | undefined {
  const etag = joined(headers, "etag");
  if (etag !== undefined) return etag.trim().startsWith("W/") ? undefined : etag.trim();
  const lm = joined(headers, "last-modified"), date = joined(headers, "date");
  const modified = lm === undefined ? undefined : parseHttpDate(lm);
  const at = date === undefined ? undefined : parseHttpDate(date);
  return modified !== undefined && at !== undefined && at - modified >= 1000 ? lm : undefined;
}

/**
 * Whether a new response carries the strong validator `validator` of the
 * stored one, so that their bytes may be combined (RFC 9111 §3.4).
 */
export function sameRepresentation(validator: string, fresh: FieldList): boolean {
  const etag = fresh.get("etag");
  if (validator.startsWith('"')) return etag !== undefined && strongMatch(validator, etag);
  return etag === undefined && fresh.get("last-modified") === validator;
}

/**
 * The stored fields of `part` of the representation `headers` describe: its
 * Content-Range (none for the whole) and Content-Length.
 */
export function partHeaders(headers: [string, string][], part: Part): [string, string][] {
  const out = headers.filter(([n]) => !/^content-(range|length)$/i.test(n));
  if (part.start > 0 || part.end < part.length - 1) {
    out.push(["Content-Range", formatContentRange(part)]);
  }
  out.push(["Content-Length", String(part.end - part.start + 1)]);
  return out;
}
