/**
 * Range requests against a stored complete response (RFC 9110 §14): one
 * byte range is served as 206; several, or a Range that cannot be parsed, get
 * the whole response (a server may ignore Range); a range past the end is 416.
 *
 * @module
 */

import { strongMatch } from "./conditional.ts";

/** Which bytes of a stored body to send. */
export type RangeChoice =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * Chooses from `range` (the request's Range) for a body of `size` bytes.
 * `ifRange` is the request's If-Range; `etag` and `lastModified` the stored
 * validators it is compared with (strong comparison, RFC 9110 §13.1.5).
 */
export function chooseRange(
  range: string | undefined,
  ifRange: string | undefined,
  size: number,
  etag: string | undefined,
  lastModified: string | undefined,
): RangeChoice {
  if (range === undefined) return { kind: "full" };
  if (ifRange !== undefined) {
    const v = ifRange.trim();
    const current = v.startsWith('"') || v.startsWith("W/")
      ? etag !== undefined && strongMatch(v, etag)
      : v === lastModified;
    if (!current) return { kind: "full" };
  }
  const m = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(range.trim());
  if (m === null) return { kind: "full" };
  const [, first = "", last = ""] = m;
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}
