/**
 * Finding what is stored for a request: the entry under its key, or, when
 * the response varies, the variant its fields select through the vary index
 * — and what the policy says about it now.
 *
 * @module
 */

import type { FieldList } from "../http1/fields.ts";
import { secondaryKey, storeId } from "./key.ts";
import type { Meta, ResponseMeta, VaryMeta } from "./meta.ts";
import { type Freshness, freshness } from "./policy/freshness.ts";
import type { CacheRequest } from "./policy/inputs.ts";
import { selectsByLanguage } from "./policy/variants.ts";

/** What the store holds for a request. */
export type Found =
  /** Nothing usable: `id` is where a response to it would be stored. */
  | { kind: "none"; id: string; vary: boolean }
  /** A stored response and what the policy says about it now. */
  | { kind: "entry"; entry: ResponseMeta; freshness: Freshness };

/**
 * Finds what is stored for `req` through `meta` (following a vary index to
 * the variant matching the request) and asks the policy about it. A stored
 * part of a response (a 206) is found like the whole one: the caller asks
 * the policy whether it holds the bytes wanted. `used` hears of a vary index
 * used on the way.
 */
export async function lookUp(
  req: CacheRequest,
  now: number,
  meta: (id: string) => Promise<Meta | undefined>,
  used: (id: string) => void,
): Promise<Found> {
  const primary = storeId(req.key);
  const top = await meta(primary);
  let id = primary, vary = false;
  let entry: ResponseMeta | undefined;
  if (top?.kind === "vary") {
    vary = true;
    // The index is used with each of its variants: LRU eviction and
    // `prune --unused-for` must not drop it while they are in use.
    used(primary);
    id = storeId(req.key, secondaryKey(top.vary, req.fields));
    const v = await meta(id);
    entry = v?.kind === "response" ? v : undefined;
    if (entry === undefined && top.vary.includes("accept-language")) {
      entry = await variantByLanguage(top, req.fields, meta);
    }
  } else {
    entry = top;
  }
  if (entry === undefined) return { kind: "none", id, vary };
  return { kind: "entry", entry, freshness: freshness(req, entry, now) };
}

/** The newest variant of `index` that answers `fields` by its Content-Language. */
async function variantByLanguage(
  index: VaryMeta,
  fields: FieldList,
  meta: (id: string) => Promise<Meta | undefined>,
): Promise<ResponseMeta | undefined> {
  for (const id of index.variants.toReversed()) {
    const v = await meta(id);
    if (v?.kind === "response" && selectsByLanguage(v, fields)) return v;
  }
  return undefined;
}
