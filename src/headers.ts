/**
 * Which fields cross the proxy, and what hoard adds on the way (RFC 9110 §7.6).
 *
 * @module
 */

import { FieldList, listTokens } from "./http1/fields.ts";

/**
 * Fields that describe one connection rather than the message, so a proxy
 * removes them in both directions (RFC 9110 §7.6.1), together with every field
 * the Connection field names. Proxy-Connection is not standard but clients
 * still send it; Proxy-Authorization and Proxy-Authenticate are for this hop
 * only (RFC 9110 §11.7).
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** hoard's entry in Via (RFC 9110 §7.6.3): protocol version and a pseudonym. */
export const VIA_ENTRY = "1.1 hoard";

/**
 * The end-to-end fields of a message: hop-by-hop fields and those named by
 * Connection removed, plus any extra names in `drop`.
 */
export function endToEndFields(fields: FieldList, drop?: ReadonlySet<string>): FieldList {
  const named = listTokens(fields.combined("connection"));
  return fields.filter((name) =>
    !HOP_BY_HOP.has(name) && (named.length === 0 || !named.includes(name)) && !drop?.has(name)
  );
}

/** Adds hoard to the Via chain, after the entries of earlier hops. */
export function appendVia(fields: FieldList): void {
  const via = fields.combined("via");
  fields.set("Via", via === undefined ? VIA_ENTRY : `${via}, ${VIA_ENTRY}`);
}

let dateSecond = 0;
let dateValue = "";

/** The current time as an HTTP-date (RFC 9110 §5.6.7), computed at most once a second. */
export function httpDate(now: number = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/** A new field list of `pairs`, in order. */
export function fieldsOf(...pairs: [string, string][]): FieldList {
  const f = new FieldList();
  for (const [n, v] of pairs) f.add(n, v);
  return f;
}

/** Largest Age value sent (RFC 9111 §1.2.2). */
const MAX_AGE_VALUE = 2147483648;

/** The Age field's value for an age of `seconds` (RFC 9111 §5.1): whole seconds, capped. */
export function ageValue(seconds: number): string {
  return String(Math.min(Math.floor(seconds), MAX_AGE_VALUE));
}
