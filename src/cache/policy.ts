/**
 * The cache policy (RFC 9111), in one place and pure: from (request, stored
 * response, now) to a decision. Built on `npm:http-cache-semantics`. It stays
 * one file, over the 400 lines other files keep to, so that every departure
 * below sits next to the arithmetic it changes (Varnish's cache_rfc2616.c).
 *
 * Deliberate departures from the RFCs (each allowed by them, or safer):
 *
 * - A server error (5xx) is never stored, even with explicit freshness (§3
 *   would allow it): a stored good response must stay there for
 *   stale-if-error, which is what CI uses hoard for. 501, heuristically
 *   cacheable (RFC 9110 §15.6.2) and a lasting answer, is the one 5xx stored.
 * - Set-Cookie is never stored: a shared cache in front of several jobs must
 *   not hand one client's session to another.
 * - `CDN-Cache-Control` (RFC 9213) is for CDNs: a forward proxy ignores it.
 * - A response whose Transfer-Encoding does not end in chunked is delimited
 *   by the close of the connection (RFC 9112 §6.3), as is one with neither
 *   Content-Length nor chunked: a cut body cannot be told from a whole one,
 *   so it is relayed, not stored (src/request/miss.ts).
 * - Rules (src/rules.ts) may override freshness: an immutable artifact's 200
 *   is stored and fresh forever whatever either side's Cache-Control says; a
 *   `ttl` replaces the origin's lifetime (storability rules still apply).
 *
 * Where hoard corrects the library or does what it leaves out:
 *
 * - Cache-Control and Pragma are matched in any letter case (the library is
 *   case-sensitive): values are lower-cased before it sees them.
 * - `Age` that is not a non-negative integer (`abc`, `-7200`, `1.5`) is
 *   ignored, as if it were absent (RFC 9111 §5.1; the library would read `1.5`
 *   as 1 and `-7200` as a negative age); values over 2^31 are 2^31 (§1.2.2);
 *   of a list, the first member counts (§5.1). A repeated max-age / s-maxage
 *   with different values is invalid freshness information and makes the
 *   response stale (§4.2.1).
 * - The age includes the apparent age, now − Date (§4.2.3); the library only
 *   adds `Age` and the time spent in the cache.
 * - Date, Expires and Last-Modified must be HTTP-dates (RFC 9110 §5.6.7): an
 *   Expires that is not one is in the past (§5.3); the library's `Date.parse`
 *   would read `2099` or an ISO date, and asctime dates in local time. Two
 *   Expires field lines are invalid too, even identical ones (§5.3): stale,
 *   unless max-age or s-maxage says otherwise.
 * - Explicit freshness makes any final status hoard understands storable (§3),
 *   400 included; the library knows only RFC 7234's codes. An unknown code
 *   (299, 499) is handled as the x00 of its class (RFC 9110 §15) and stored
 *   only with explicit freshness (or `public`): it is not one defined as
 *   heuristically cacheable (§4.2.2).
 * - `must-understand` (§5.2.2.3): with a status hoard understands, `no-store`
 *   is ignored; with one it does not, the response is not stored.
 * - The URL, not the request's Host field, identifies the stored response:
 *   the library would drop the validators when Host is spelled differently.
 * - A 304 updates the stored fields and renews freshness from all of them,
 *   Cache-Control it adds included (§3.2); the library only replaces fields
 *   the stored response already had.
 * - `must-revalidate` and `proxy-revalidate` only take effect once the response
 *   is stale (§5.2.2.2, §5.2.2.8); the library refuses every reuse with the
 *   former and treats the latter as max-age=0.
 * - Partial content (§3.3–3.4; the library does not understand 206): a 206
 *   with a `bytes a-b/N` Content-Range is stored where the whole response
 *   would be, as a part of it, and answers every range inside it (suffix and
 *   open ones resolved with N). A 200 of known length whose body the origin
 *   cut short is kept as the part that arrived, when it has a strong
 *   validator. A request wanting bytes from inside a part or right after it
 *   extends it: the origin is asked for the rest with Range and If-Range (the
 *   part's strong validator), and the two become one entry (src/request/partial.ts).
 *   Bytes before a part, or after a gap, are fetched like a miss and the
 *   answer replaces the part. A part never replaces a whole stored response
 *   (src/request/miss.ts): that one may still answer requests for all of it, or
 *   stand in for a failing origin.
 * - HEAD is answered from a stored GET (§4.3.5 allows it; the library does not).
 * - A client's If-Modified-Since is compared with the stored Last-Modified,
 *   else its Date, else the time it was stored (§4.3.2, RFC 9110 §13.1.3):
 *   a response without Last-Modified still gets 304 (src/cache/conditional.ts).
 * - Vary is matched after normalising (§4.1 allows it; the library compares
 *   values as sent): white space in any selecting field, and case and order in
 *   Accept-Language, make no new variant (src/cache/key.ts); a variant whose
 *   Content-Language is the one the request's Accept-Language wants most is
 *   selected too.
 * - A POST's answer with explicit freshness and a Content-Location naming its
 *   own target URL is stored as the answer to a GET of that URL (RFC 9110
 *   §9.3.3); the library would store it as a POST response, which no GET
 *   could use.
 * - Rules (src/rules.ts) may override freshness: an immutable artifact's 200
 *   is stored and fresh forever whatever either side's Cache-Control says; a
 *   `ttl` replaces the origin's lifetime (storability rules still apply).
 * - Rules may let a response to a request with Authorization be stored
 *   (`fresh: "forever"`, `public`), which RFC 9111 §3.5 allows a shared
 *   cache only when the origin says `public`, `s-maxage` or
 *   `must-revalidate`. Such an entry is marked `credentialed`, and so is one
 *   stored from a signed URL whose signature rules keep out of the key: a
 *   hoard with `tenancy: "shared"` serves it to a request only once the
 *   origin accepted that request's own credentials for it (src/request/check.ts).
 * - Rules may name status codes to store that the library does not
 *   understand (a registry's 401 challenge): they are stored and aged as a
 *   200 would be.
 *
 * @module
 */

import { FieldList, listTokens } from "../http1/fields.ts";
import { strongMatch, weakMatch } from "./conditional.ts";
import { languagePreferences, sameSecondaryBut } from "./key.ts";
import {
  chooseRange,
  formatContentRange,
  parseContentRange,
  type Part,
  type PartUse,
  usePart,
} from "./range.ts";
import { formatHttpDate, parseHttpDate } from "./http_date.ts";
import { HOP_BY_HOP } from "../headers.ts";
import {
  newPolicy,
  type Policy,
  type PolicyObject,
  restorePolicy,
  type SemanticsRequest,
  type SemanticsResponse,
} from "./semantics.ts";

/** Methods whose responses hoard stores and reuses. */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

/** Fields never stored with a response: connection-level ones and cookies. */
const NOT_STORED: ReadonlySet<string> = new Set([...HOP_BY_HOP, "set-cookie", "age"]);

/** Fields a 304 must not replace in the stored response (they describe the stored body). */
const KEPT_ON_UPDATE: ReadonlySet<string> = new Set([
  "content-length",
  "content-encoding",
  "transfer-encoding",
  "content-range",
]);

const MAX_AGE_VALUE = 2147483648; // 2^31, RFC 9111 §1.2.2

/**
 * The final status codes hoard understands (RFC 9110 §15): those it knows the
 * requirements of. Any other is handled as the x00 of its class (§15), is
 * stored only with explicit freshness, and never with `must-understand`.
 */
const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
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
const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([
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

/** A request as the policy needs it. */
export interface CacheRequest {
  /** Method (GET or HEAD reach the cache). */
  method: string;
  /** The primary cache key (target URI). */
  key: string;
  /** Request fields. */
  fields: FieldList;
  /** What rules say about storing and freshness, when one matched. */
  override?: RuleOverride;
  /**
   * The URL carried query parameters that rules keep out of the key — a
   * signature: credentials in the URL, like Authorization in a field.
   */
  signed?: boolean;
}

/** The rules' say on storing and freshness. */
export interface RuleOverride {
  /** A 200 is stored (also for a request with Authorization) and fresh forever. */
  forever: boolean;
  /** Lifetime in seconds, replacing the origin's. */
  ttl?: number;
  /** Stored also for a request with Authorization, as if the origin had said `public`. */
  public?: boolean;
  /** Status codes stored although HTTP alone would not store them. */
  statuses?: readonly number[];
}

/** The lifetime given to forever-fresh artifacts (ten years: any longer is the same). */
export /**
 * Answers about the credentials a request presented, not about the resource:
 * a rule's `public` never shares them (one client's wrong password must not
 * answer another's request).
 */
const DENIALS: ReadonlySet<number> = new Set([401, 403]);

const FOREVER_SECONDS = 315_360_000;

/** A stored response as the policy needs it. */
export interface StoredResponse {
  /** Status code. */
  status: number;
  /** Stored fields, in order. */
  headers: [string, string][];
  /** The library's serialised policy. */
  policy: PolicyObject;
}

/** Request cache directives (RFC 9111 §5.2.1), `Pragma: no-cache` included. */
export interface RequestDirectives {
  /** no-cache, or Pragma: no-cache without Cache-Control. */
  noCache: boolean;
  /** no-store: the response must not be stored (a stored one may still be used). */
  noStore: boolean;
  /** only-if-cached: answer from the cache or with 504. */
  onlyIfCached: boolean;
  /** max-age in seconds. */
  maxAge?: number;
  /** min-fresh in seconds. */
  minFresh?: number;
  /** max-stale in seconds; Infinity when given without a value. */
  maxStale?: number;
}

/** Reads the request's cache directives. */
export function requestDirectives(fields: FieldList): RequestDirectives {
  const cc = parseDirectives(fields.combined("cache-control"));
  const pragmaNoCache = !fields.has("cache-control") &&
    listTokens(fields.combined("pragma")).includes("no-cache");
  const seconds = (name: string): number | undefined => {
    const v = cc.get(name);
    if (v === undefined) return undefined;
    return /^\d+$/.test(v) ? Math.min(Number(v), MAX_AGE_VALUE) : 0;
  };
  return {
    noCache: cc.has("no-cache") || pragmaNoCache,
    noStore: cc.has("no-store"),
    onlyIfCached: cc.has("only-if-cached"),
    maxAge: seconds("max-age"),
    minFresh: seconds("min-fresh"),
    maxStale: cc.has("max-stale")
      ? (cc.get("max-stale") === "" ? Infinity : seconds("max-stale"))
      : undefined,
  };
}

/**
 * Why a response is or is not stored. `credentialed`: the request carried
 * Authorization and only a rule, not the origin, let a cache share the
 * response (RFC 9111 §3.5); or its URL carried a signature that rules keep
 * out of the key, so any URL with the same path would find it.
 */
export type Storability =
  | { storable: true; policy: Policy; credentialed: boolean }
  | { storable: false; reason: string };

/** Whether a response to `req` may be stored (RFC 9111 §3), and its policy. */
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
  const originShares = sharesAuthorized(res.headers["cache-control"]);
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

/** What to do with a request that found `stored` in the cache. */
export type Freshness =
  /**
   * Fresh (or stale but acceptable): serve it. `ttl` is the remaining freshness
   * in seconds; `refresh` says to revalidate it in the background meanwhile
   * (stale-while-revalidate).
   */
  | { kind: "hit"; age: number; ttl: number; refresh?: boolean }
  /** Must be checked with the origin first. */
  | { kind: "revalidate"; age: number; reason: "stale" | "request" };

/** Decides whether `stored` can answer `req` at `now` (RFC 9111 §4.2, §5.2.1). */
export function freshness(req: CacheRequest, stored: StoredResponse, now: number): Freshness {
  const policy = restorePolicy(stored.policy, now);
  const age = policy.age();
  const o = req.override;
  // An immutable artifact needs no revalidation, whatever the client asks.
  if (o?.forever && stored.status === 200) return { kind: "hit", age, ttl: FOREVER_SECONDS - age };
  const lifetime = o?.ttl ?? policy.maxAge();
  const d = requestDirectives(req.fields);
  if (d.noCache) return { kind: "revalidate", age, reason: "request" };
  if (d.maxAge !== undefined && age > d.maxAge) {
    return { kind: "revalidate", age, reason: "request" };
  }
  if (d.minFresh !== undefined && lifetime - age < d.minFresh) {
    return { kind: "revalidate", age, reason: "request" };
  }
  const ttl = lifetime - age;
  if (ttl > 0) return { kind: "hit", age, ttl };
  // Stale: usable only when the response allows serving it stale.
  if (!forbidsStale(stored.headers)) {
    // stale-while-revalidate (RFC 5861 §3): serve now, refresh in the background.
    const swr = directiveSeconds(stored.headers, "stale-while-revalidate");
    if (swr !== undefined && -ttl <= swr) return { kind: "hit", age, ttl, refresh: true };
    // A client may accept it with max-stale.
    if (d.maxStale !== undefined && -ttl <= d.maxStale) return { kind: "hit", age, ttl };
  }
  return { kind: "revalidate", age, reason: "stale" };
}

/**
 * Whether `stored` may stand in for a failed origin (unreachable, timed out,
 * or 5xx): RFC 5861 §4 stale-if-error, up to `maxStaleSeconds` past its
 * freshness (or longer if its own stale-if-error says so) — never when it
 * forbids serving it stale (RFC 9111 §4.2.4).
 */
export function staleIfError(
  req: CacheRequest,
  stored: StoredResponse,
  now: number,
  maxStaleSeconds: number,
): boolean {
  if (forbidsStale(stored.headers)) return false;
  const policy = restorePolicy(stored.policy, now);
  const staleFor = policy.age() - (req.override?.ttl ?? policy.maxAge());
  const own = directiveSeconds(stored.headers, "stale-if-error") ?? 0;
  return staleFor <= Math.max(maxStaleSeconds, own);
}

function directiveSeconds(headers: [string, string][], name: string): number | undefined {
  const v = parseDirectives(joined(headers, "cache-control")).get(name);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Whether a stored response must never be served stale (RFC 9111 §4.2.4):
 * must-revalidate, proxy-revalidate, no-cache or s-maxage.
 */
export function forbidsStale(headers: [string, string][]): boolean {
  const cc = parseDirectives(joined(headers, "cache-control"));
  return cc.has("must-revalidate") || cc.has("proxy-revalidate") || cc.has("no-cache") ||
    cc.has("s-maxage");
}

/** The current age of `stored`, in seconds (RFC 9111 §4.2.3). */
export function currentAge(stored: Pick<StoredResponse, "policy">, now: number): number {
  return restorePolicy(stored.policy, now).age();
}

/** How long `stored`, whose age is `age` seconds, has left to be fresh (negative once stale). */
export function timeToLive(
  stored: Pick<StoredResponse, "policy">,
  age: number,
  now: number,
): number {
  return restorePolicy(stored.policy, now).maxAge() - age;
}

/** The conditional fields for revalidating `stored` (If-None-Match / If-Modified-Since). */
export function revalidationFields(
  req: CacheRequest,
  stored: StoredResponse,
  now: number,
): [string, string][] {
  const h = restorePolicy(stored.policy, now).revalidationHeaders(semanticRequest(req));
  const out: [string, string][] = [];
  if (h["if-none-match"] !== undefined) out.push(["If-None-Match", h["if-none-match"]]);
  if (h["if-modified-since"] !== undefined) out.push(["If-Modified-Since", h["if-modified-since"]]);
  return out;
}

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
 * The stored fields updated with those of a 304 (RFC 9111 §3.2, §4.3.4): each
 * field the 304 carries replaces every stored line of that name, except the
 * fields that describe the stored body.
 */
export function mergeHeaders(stored: [string, string][], fresh: FieldList): [string, string][] {
  const update = storedHeaders(fresh).filter(([n]) => !KEPT_ON_UPDATE.has(n.toLowerCase()));
  const replaced = new Set(update.map(([n]) => n.toLowerCase()));
  const out: [string, string][] = [];
  const placed = new Set<string>();
  for (const [name, value] of stored) {
    const l = name.toLowerCase();
    if (!replaced.has(l)) {
      out.push([name, value]);
    } else if (!placed.has(l)) {
      placed.add(l);
      for (const f of update) if (f[0].toLowerCase() === l) out.push(f);
    }
  }
  for (const f of update) if (!placed.has(f[0].toLowerCase())) out.push(f);
  return out;
}

/**
 * The stored response after a 304 to hoard's revalidation (RFC 9111 §4.3.4):
 * its fields merged and its policy renewed from them at `now`. Undefined when
 * the 304 does not select it — only possible when the client sent validators
 * of its own, which the 304 may have answered instead.
 */
export function refreshed(
  req: CacheRequest,
  stored: StoredResponse,
  fresh: FieldList,
  clientValidators: boolean,
  now: number,
): { headers: [string, string][]; policy: Policy } | undefined {
  if (clientValidators && !selects(stored.headers, fresh)) return undefined;
  const headers = mergeHeaders(stored.headers, fresh);
  const fields = new FieldList();
  for (const [n, v] of headers) fields.add(n, v);
  const age = fresh.get("age");
  if (age !== undefined) fields.add("Age", age);
  return {
    headers,
    policy: newPolicy(semanticRequest(req), semanticResponse(stored.status, fields, now), now),
  };
}

/** `stored` as a 304 to hoard's revalidation leaves it ({@linkcode refreshed}), stored anew at `now`. */
export function renewedEntry<T extends StoredResponse & { storedAt: number }>(
  req: CacheRequest,
  stored: T,
  fresh: FieldList,
  clientValidators: boolean,
  now: number,
): T | undefined {
  const renewed = refreshed(req, stored, fresh, clientValidators, now);
  return renewed === undefined
    ? undefined
    : { ...stored, headers: renewed.headers, policy: renewed.policy.toObject(), storedAt: now };
}

/** Whether a 304's validators select the stored response (RFC 9111 §4.3.4). */
function selects(stored: [string, string][], fresh: FieldList): boolean {
  const storedTag = joined(stored, "etag"), freshTag = fresh.get("etag");
  if (freshTag !== undefined) {
    if (storedTag === undefined) return false;
    return freshTag.trim().startsWith("W/")
      ? weakMatch(storedTag, freshTag)
      : storedTag.trim() === freshTag.trim();
  }
  const storedLm = joined(stored, "last-modified"), freshLm = fresh.get("last-modified");
  if (freshLm !== undefined) return storedLm === freshLm;
  return storedTag === undefined && storedLm === undefined;
}

/** The request in the library's form, with hoard's corrections. */
export function semanticRequest(req: CacheRequest): SemanticsRequest {
  const headers = semanticHeaders(req.fields);
  // The stored response is found by URL; Host must not make the library think otherwise.
  const authority = req.key.slice(req.key.indexOf("//") + 2);
  const slash = authority.indexOf("/");
  headers["host"] = slash === -1 ? authority : authority.slice(0, slash);
  return { method: req.method === "HEAD" ? "GET" : req.method, url: req.key, headers };
}

function semanticResponse(status: number, fields: FieldList, now: number): SemanticsResponse {
  const h = semanticHeaders(fields);
  delete h["set-cookie"];
  if (h["cache-control"] !== undefined) {
    h["cache-control"] = correctResponseCacheControl(h["cache-control"], status);
  }
  const date = h["date"] === undefined ? undefined : parseHttpDate(h["date"]);
  if (date === undefined) delete h["date"];
  else h["date"] = formatHttpDate(date);
  if (h["expires"] !== undefined) {
    // Two Expires lines make the value invalid, even when they agree (§5.3, §4.2.1).
    const lines = fields.getAll("expires");
    const expires = lines.length === 1 ? parseHttpDate(lines[0]!) : undefined;
    h["expires"] = formatHttpDate(expires ?? 0);
  }
  if (h["last-modified"] !== undefined) {
    const lm = parseHttpDate(h["last-modified"]);
    if (lm === undefined) delete h["last-modified"];
    else h["last-modified"] = formatHttpDate(lm);
  }
  // corrected_initial_age = max(apparent_age, Age) (RFC 9111 §4.2.3); an
  // Age that is not delta-seconds is ignored (§5.1).
  let age = 0;
  const first = h["age"]?.split(",")[0]?.trim();
  if (first !== undefined && /^\d+$/.test(first)) age = Math.min(Number(first), MAX_AGE_VALUE);
  if (date !== undefined) age = Math.max(age, Math.floor(Math.max(0, now - date) / 1000));
  if (age > 0) h["age"] = String(age);
  else delete h["age"];
  return { status: semanticStatus(status), headers: h };
}

/**
 * The status the library sees. It understands only the codes of RFC 7234's
 * day, and would store no other even with explicit freshness (RFC 9111 §3
 * allows any final status then): it sees 200 for a heuristically cacheable
 * status (206 included: its freshness is that of the full response) and 307
 * for any other — stored only with explicit freshness or `public`.
 */
function semanticStatus(status: number): number {
  return HEURISTICALLY_CACHEABLE.has(status) ? 200 : 307;
}

function semanticHeaders(fields: FieldList): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of fields) {
    const l = name.toLowerCase();
    out[l] = l in out ? `${out[l]}, ${value}` : value;
  }
  for (const l of ["cache-control", "pragma"]) {
    if (out[l] !== undefined) out[l] = out[l].toLowerCase();
  }
  return out;
}

// proxy-revalidate is applied by hoard (only once stale), so the library does
// not see it; a repeated max-age or s-maxage with differing values is invalid
// and becomes max-age=0 (stale, still storable and revalidatable). With
// must-understand and a status hoard understands, no-store is ignored
// (RFC 9111 §5.2.2.3): it is there for caches that do not.
function correctResponseCacheControl(cc: string, status: number): string {
  let parts = cc.split(",").map((p) => p.trim()).filter((p) =>
    p !== "" && p !== "proxy-revalidate"
  );
  if (parts.includes("must-understand") && UNDERSTOOD_STATUSES.has(status)) {
    parts = parts.filter((p) => p !== "no-store");
  }
  for (const d of ["max-age", "s-maxage"]) {
    const values = new Set(
      parts.filter((p) => p.split("=")[0]!.trim() === d).map((p) => p.split("=")[1]?.trim()),
    );
    if (values.size > 1) {
      return [
        ...parts.filter((p) => !p.startsWith("max-age") && !p.startsWith("s-maxage")),
        "max-age=0",
      ].join(", ");
    }
  }
  return parts.join(", ");
}

function notStorableReason(req: CacheRequest, status: number, fields: FieldList): string {
  const cc = parseDirectives(fields.combined("cache-control"));
  if (cc.has("no-store") && !cc.has("must-understand")) return "no-store";
  if (cc.has("private")) return "private";
  if (req.fields.has("authorization")) return "authorization";
  return `status ${status}`;
}

/** Directive name (lower-case) to value ("" when it has none); a later repeat does not override. */
function parseDirectives(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined) return out;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === "" || out.has(name)) continue;
    out.set(name, eq === -1 ? "" : part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  return out;
}

/** Whether the response carries `must-understand` (RFC 9111 §5.2.2.3). */
function mustUnderstand(fields: FieldList): boolean {
  return parseDirectives(fields.combined("cache-control")).has("must-understand");
}

/** The integers from `first` to `last`. */
function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

function joined(headers: [string, string][], lower: string): string | undefined {
  const values = headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(", ");
}
