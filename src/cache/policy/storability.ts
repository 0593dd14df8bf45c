/**
 * Whether a response may be stored (RFC 9111 §3), under what policy, and the
 * fields that are kept of it. The departures from the RFC that decide what is
 * stored are written beside the checks below.
 *
 * @module
 */

import { type FieldList, listTokens } from "../../http1/fields.ts";
import { HOP_BY_HOP } from "../../headers.ts";
import { parseContentRange } from "../range.ts";
import { semanticRequest, semanticResponse } from "./corrections.ts";
import { parseDirectives, requestDirectives } from "./directives.ts";
import { type CacheRequest, FOREVER_SECONDS } from "./inputs.ts";
import { newPolicy, type Policy } from "./semantics.ts";
import { HEURISTICALLY_CACHEABLE, UNDERSTOOD_STATUSES } from "./statuses.ts";

/**
 * Fields never stored with a response: connection-level ones, Age, and
 * cookies.
 *
 * Departure: Set-Cookie is never stored — a shared cache in front of several
 * jobs must not hand one client's session to another.
 */
const NOT_STORED: ReadonlySet<string> = new Set([...HOP_BY_HOP, "set-cookie", "age"]);

/**
 * Answers about the credentials a request presented, not about the resource:
 * a rule's `public` never shares them (one client's wrong password must not
 * answer another's request).
 */
const DENIALS: ReadonlySet<number> = new Set([401, 403]);

/**
 * Why a response is or is not stored. `credentialed`: the request carried
 * Authorization and only a rule, not the origin, let a cache share the
 * response (RFC 9111 §3.5); or its URL carried a signature that rules keep
 * out of the key, so any URL with the same path would find it.
 */
export type Storability =
  | { storable: true; policy: Policy; credentialed: boolean }
  | { storable: false; reason: string };

/**
 * Whether a response to `req` may be stored (RFC 9111 §3), and its policy.
 *
 * Departures, each allowed by the RFCs or safer:
 *
 * - A server error (5xx) is never stored, even with explicit freshness (§3
 *   would allow it): a stored good response must stay there for
 *   stale-if-error, which is what CI uses hoard for. 501, heuristically
 *   cacheable (RFC 9110 §15.6.2) and a lasting answer, is the one 5xx stored.
 * - `must-understand` (§5.2.2.3): with a status hoard does not understand,
 *   the response is not stored (with one it does, no-store is ignored:
 *   corrections.ts).
 * - Partial content (§3.3–3.4; the library does not understand 206): a 206
 *   with a `bytes a-b/N` Content-Range is stored where the whole response
 *   would be, as a part of it (what a part can do: parts.ts).
 * - A POST's answer with explicit freshness and a Content-Location naming its
 *   own target URL is stored as the answer to a GET of that URL (RFC 9110
 *   §9.3.3); the library would store it as a POST response, which no GET
 *   could use.
 * - Rules (src/rules.ts): an immutable artifact's 200 (`fresh: "forever"`)
 *   is stored whatever either side's Cache-Control says. `forever` and
 *   `public` let a response to a request with Authorization be stored, which
 *   §3.5 allows a shared cache only when the origin says `public`, `s-maxage`
 *   or `must-revalidate`; such an entry is marked `credentialed`, and so is
 *   one stored from a signed URL whose signature rules keep out of the key: a
 *   hoard with `tenancy: "shared"` serves it to a request only once the origin
 *   accepted that request's own credentials for it (src/request/check.ts).
 *   Rules may name status codes to store that the library does not
 *   understand (a registry's 401 challenge): they are stored and aged as a
 *   200 would be.
 */
export function storability(
  req: CacheRequest,
  status: number,
  fields: FieldList,
  now: number,
): Storability {
  if (req.method !== "GET" && !(req.method === "POST" && answersGet(req, fields))) {
    return { storable: false, reason: "method" };
  }
  if (requestDirectives(req.fields).noStore) return { storable: false, reason: "request no-store" };
  // Not a representation (304), or a server error: a stored good response must
  // stay there for stale-if-error, whatever freshness the error claims. 501
  // (heuristically cacheable, a lasting answer) is the one 5xx stored.
  if (status < 200 || status === 304 || (status >= 500 && !HEURISTICALLY_CACHEABLE.has(status))) {
    return { storable: false, reason: `status ${status}` };
  }
  if (mustUnderstand(fields) && !UNDERSTOOD_STATUSES.has(status)) {
    return { storable: false, reason: "must-understand" };
  }
  if (status === 206) {
    if (!req.fields.has("range") || fields.getAll("content-range").length !== 1) {
      return { storable: false, reason: "partial" };
    }
    if (/multipart\/byteranges/i.test(fields.get("content-type") ?? "")) {
      return { storable: false, reason: "multipart range" };
    }
    // Only a part whose place in the whole is known can answer other ranges.
    if (parseContentRange(fields.get("content-range")) === undefined) {
      return { storable: false, reason: "partial" };
    }
  }
  const vary = fields.combined("vary");
  if (vary !== undefined && /(^|,)\s*\*\s*(,|$)/.test(vary)) {
    return { storable: false, reason: "vary *" };
  }
  const res = semanticResponse(status, fields, now);
  const o = req.override;
  const authorized = req.fields.has("authorization");
  const originShares = authorized && sharesAuthorized(res.headers["cache-control"]);
  const forever = o?.forever === true && status === 200 && req.method === "GET";
  if (forever) {
    // An immutable artifact: its own Cache-Control does not matter.
    res.headers["cache-control"] = `public, max-age=${FOREVER_SECONDS}`;
    delete res.headers["expires"];
    delete res.headers["pragma"];
  } else if (o?.public === true && authorized && !originShares && !DENIALS.has(status)) {
    const cc = res.headers["cache-control"];
    res.headers["cache-control"] = cc === undefined || cc === "" ? "public" : `${cc}, public`;
  }
  if (o?.statuses?.includes(status)) res.status = 200;
  // A POST's answer is stored as the answer to a GET of its URL.
  const policy = newPolicy(semanticRequest({ ...req, method: "GET" }), res, now);
  if (!policy.storable()) {
    return { storable: false, reason: notStorableReason(req, status, fields) };
  }
  return {
    storable: true,
    policy,
    credentialed: (authorized && !originShares) || req.signed === true,
  };
}

/** The fields of a response as stored: in order, without hop-by-hop fields, Set-Cookie or Age. */
export function storedHeaders(fields: FieldList): [string, string][] {
  const named = listTokens(fields.combined("connection"));
  const out: [string, string][] = [];
  for (const [name, value] of fields) {
    const l = name.toLowerCase();
    if (!NOT_STORED.has(l) && !named.includes(l)) out.push([name, value]);
  }
  return out;
}

/**
 * Whether the origin's Cache-Control (lower-cased) lets a shared cache reuse
 * a response to a request with Authorization for others (RFC 9111 §3.5).
 */
function sharesAuthorized(cc: string | undefined): boolean {
  const d = parseDirectives(cc);
  return d.has("public") || d.has("s-maxage") || d.has("must-revalidate");
}

/**
 * Whether a response to a POST may answer later GETs of its URL (RFC 9110
 * §9.3.3): it has explicit freshness and a Content-Location that names the
 * URL the POST was sent to.
 */
function answersGet(req: CacheRequest, fields: FieldList): boolean {
  const location = fields.get("content-location");
  if (location === undefined || fields.getAll("content-location").length > 1) return false;
  const cc = parseDirectives(fields.combined("cache-control"));
  if (!cc.has("max-age") && !cc.has("s-maxage") && !fields.has("expires")) return false;
  try {
    return new URL(location, req.key).href === new URL(req.key).href;
  } catch {
    return false;
  }
}

/** Whether the response carries `must-understand` (RFC 9111 §5.2.2.3). */
function mustUnderstand(fields: FieldList): boolean {
  const cc = fields.combined("cache-control");
  // Rare: most responses are spared parsing their Cache-Control for it.
  return cc !== undefined && /must-understand/i.test(cc) &&
    parseDirectives(cc).has("must-understand");
}

function notStorableReason(req: CacheRequest, status: number, fields: FieldList): string {
  const cc = parseDirectives(fields.combined("cache-control"));
  if (cc.has("no-store") && !cc.has("must-understand")) return "no-store";
  if (cc.has("private")) return "private";
  if (req.fields.has("authorization")) return "authorization";
  return `status ${status}`;
}
