/**
 * Selecting a stored variant by what its selecting fields mean (RFC 9111
 * §4.1), beyond the normalised Vary values of the secondary key.
 *
 * Departure: Vary is matched after normalising (§4.1 allows it; the library
 * compares values as sent): white space in any selecting field, and case and
 * order in Accept-Language, make no new variant (src/cache/key.ts); and a
 * variant whose Content-Language is the one the request's Accept-Language
 * wants most is selected too (below).
 *
 * @module
 */

import { type FieldList, listTokens } from "../../http1/fields.ts";
import { languagePreferences, sameSecondaryBut } from "../key.ts";
import { joined } from "./directives.ts";

/**
 * Whether a stored variant answers a request that differs from the one it was
 * stored for only in Accept-Language, because its Content-Language is the one
 * that Accept-Language wants most (RFC 9111 §4.1 allows selecting by what a
 * field means): the origin would have chosen the same.
 */
export function selectsByLanguage(
  stored: { vary?: string[]; secondary?: string; headers: [string, string][] },
  fields: FieldList,
): boolean {
  const accept = fields.combined("accept-language");
  const { vary, secondary } = stored;
  if (accept === undefined || vary === undefined || secondary === undefined) return false;
  if (!vary.includes("accept-language")) return false;
  if (!sameSecondaryBut(vary, secondary, fields, "accept-language")) return false;
  const prefs = languagePreferences(accept);
  const best = prefs[0]?.q ?? 0;
  // `*` at the top means no one language is wanted most.
  const wanted = prefs.filter((p) => p.q === best && p.q > 0 && p.range !== "*");
  // Basic filtering (RFC 4647 §3.3.1): `en` wants `en` and `en-gb`.
  return listTokens(joined(stored.headers, "content-language")).some((tag) =>
    wanted.some(({ range }) => tag === range || tag.startsWith(`${range}-`))
  );
}
