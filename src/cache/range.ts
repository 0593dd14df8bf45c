/**
 * Range requests against what is stored (RFC 9110 §14): one byte range is
 * served as 206; several, or a Range that cannot be parsed, get the whole
 * response (a server may ignore Range); a range past the end is 416. A stored
 * part of a response (a 206, or a body cut short) serves every range inside
 * it, and one that runs up to a range can be extended to it (RFC 9111 §3.4).
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

/** The bytes a stored part holds: `start` to `end` (inclusive) of a representation of `length` bytes. */
export interface Part {
  /** First byte position. */
  start: number;
  /** Last byte position. */
  end: number;
  /** Length of the whole representation. */
  length: number;
}

/**
 * The part a Content-Range value names (RFC 9110 §14.4): `bytes a-b/N` only;
 * an unknown complete length (`*`), an unsatisfied range or anything else is
 * undefined.
 */
export function parseContentRange(value: string | undefined): Part | undefined {
  const m = /^bytes[ \t]+(\d{1,15})-(\d{1,15})\/(\d{1,15})$/i.exec(value?.trim() ?? "");
  if (m === null) return undefined;
  const [start, end, length] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < length ? { start, end, length } : undefined;
}

/** The Content-Range value of a part. */
export function formatContentRange(part: Part): string {
  return `bytes ${part.start}-${part.end}/${part.length}`;
}

/** What a stored part can do for a request that chose `choice` (against the part's length). */
export type PartUse =
  /** It holds every byte asked for (or the range is unsatisfiable: 416). */
  | { kind: "inside" }
  /**
   * It runs up to the bytes asked for, `start` to `to`: bytes `from` to `to`
   * come from the origin and are appended to it. `whole`: the request asked
   * for the whole representation (a 200), not a range.
   */
  | { kind: "extend"; from: number; to: number; start: number; whole: boolean }
  /** Bytes before it, or after a gap, are wanted: only the origin has them. */
  | { kind: "outside" };

/** What `part` can do for a request whose Range resolved to `choice`. */
export function usePart(part: Part, choice: RangeChoice): PartUse {
  if (choice.kind === "unsatisfiable") return { kind: "inside" };
  const whole = choice.kind === "full";
  const [start, end] = whole ? [0, part.length - 1] : [choice.start, choice.end];
  if (part.start <= start && end <= part.end) return { kind: "inside" };
  if (part.start <= start && start <= part.end + 1) {
    return { kind: "extend", from: part.end + 1, to: end, start, whole };
  }
  return { kind: "outside" };
}
