/**
 * Cache keys (RFC 9111 §2): the primary key is the target URI; a response with
 * Vary adds a secondary key made of the request's values for the named fields.
 * Store ids are SHA-256 hashes of these, so any URL maps to a safe file name.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { FieldList } from "../http1/fields.ts";
import { DEFAULT_PORT, formatAuthority, type Scheme } from "../http1/target.ts";

/** The target URI as a cache key: scheme and host lower-case, default port left out, path as received. */
export function primaryKey(scheme: Scheme, host: string, port: number, path: string): string {
  return `${scheme}://${formatAuthority(host.toLowerCase(), port, DEFAULT_PORT[scheme])}${path}`;
}

/**
 * The request's values of the fields a response varies on, as one string.
 * A field the request lacks is told apart from one sent empty.
 */
export function secondaryKey(varyNames: readonly string[], fields: FieldList): string {
  let out = "";
  for (const name of varyNames) {
    const value = fields.combined(name);
    out += value === undefined ? `${name}\n` : `${name}=${value}\n`;
  }
  return out;
}

/** The field names of a Vary value, lower-case, in order; `["*"]` when it contains `*`. */
export function varyNames(vary: string | undefined): string[] {
  if (vary === undefined) return [];
  const names = vary.split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
  return names.includes("*") ? ["*"] : [...new Set(names)];
}

// Ids of recent keys: a hit looks its key up instead of hashing it (hashing
// was 4.5% of the CPU profile of 1 KiB hits). Emptied when full.
const recentIds = new Map<string, string>();
const RECENT_IDS = 8192;

/** Store id of a key: 64 hex digits. */
export function storeId(...parts: string[]): string {
  const joined = parts.join("\0");
  let id = recentIds.get(joined);
  if (id === undefined) {
    id = createHash("sha256").update(joined).digest("hex");
    if (recentIds.size >= RECENT_IDS) recentIds.clear();
    recentIds.set(joined, id);
  }
  return id;
}
