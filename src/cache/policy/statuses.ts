/**
 * The status codes the policy knows about (RFC 9110 §15).
 *
 * @module
 */

/**
 * The final status codes hoard understands (RFC 9110 §15): those it knows the
 * requirements of. Any other is handled as the x00 of its class (§15), is
 * stored only with explicit freshness, and never with `must-understand`.
 */
export const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  ...range(200, 206),
  ...range(300, 305),
  307,
  308,
  ...range(400, 417),
  421,
  422,
  426,
  ...range(500, 505),
]);

/** Heuristically cacheable status codes (RFC 9110 §15.1): stored without explicit freshness. */
export const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([
  200,
  203,
  204,
  206,
  300,
  301,
  308,
  404,
  405,
  410,
  414,
  501,
]);

/** The integers from `first` to `last`. */
function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
