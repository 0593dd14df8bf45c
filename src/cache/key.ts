/**
 * Cache keys (RFC 9111 §2): the primary key is the target URI; a response with
 * Vary adds a secondary key made of the request's values for the named fields,
 * normalised as RFC 9111 §4.1 allows, so that requests meaning the same select
 * the same stored variant. Store ids are SHA-256 hashes of these, so any URL
 * maps to a safe file name.
 *
 * @module
 */

import { hash } from "node:crypto";
import type { FieldList } from "../http1/fields.ts";
import { DEFAULT_PORT, formatAuthority, type Scheme } from "../http1/target.ts";
import { Recent } from "../recent.ts";

/** The target URI as a cache key: scheme and host lower-case, default port left out, path as received. */
export function primaryKey(scheme: Scheme, host: string, port: number, path: string): string {
  return `${scheme}://${formatAuthority(host.toLowerCase(), port, DEFAULT_PORT[scheme])}${path}`;
}

/**
 * The request's values of the fields a response varies on, as one string: one
 * line per name, in order, each value normalised ({@linkcode selectingValue}).
 * A field the request lacks is told apart from one sent empty.
 */
export function secondaryKey(varyNames: readonly string[], fields: FieldList): string {
  let out = "";
  for (const name of varyNames) out += `${selectingLine(name, fields)}\n`;
  return out;
}

/**
 * Whether `secondary`, the secondary key of a response varying on `varyNames`,
 * has the line these request `fields` would give for every name but `except`.
 */
export function sameSecondaryBut(
  varyNames: readonly string[],
  secondary: string,
  fields: FieldList,
  except: string,
): boolean {
  const lines = secondary.split("\n");
  return varyNames.every((name, i) => name === except || lines[i] === selectingLine(name, fields));
}

function selectingLine(name: string, fields: FieldList): string {
  const value = fields.combined(name);
  return value === undefined ? name : `${name}=${selectingValue(name, value)}`;
}

/**
 * A selecting field's value with the differences that do not change its
 * meaning taken out (RFC 9111 §4.1): white space outside quoted strings
 * (none around `;` and `=`, one space after `,`, runs made one), and for
 * Accept-Language also case and the order of the ranges.
 */
export function selectingValue(name: string, value: string): string {
  return name === "accept-language"
    ? languagePreferences(value).map(({ range, q }) => q === 1 ? range : `${range};q=${q}`)
      .join(", ")
    : normaliseSpace(value);
}

/** A language range of Accept-Language with its weight. */
export interface LanguagePreference {
  /** Lower-case language range (`en-gb`, `*`). */
  range: string;
  /** Weight, 0 to 1 (1 when absent or invalid). */
  q: number;
}

/**
 * The ranges of an Accept-Language value (RFC 9110 §12.5.4), most wanted
 * first: by weight, then by name (the order of equal weights means nothing).
 */
export function languagePreferences(value: string): LanguagePreference[] {
  const out: LanguagePreference[] = [];
  for (const member of value.split(",")) {
    const [range = "", ...params] = member.split(";").map((p) => p.replace(/[ \t]+/g, ""));
    if (range === "") continue;
    const q = params.find((p) => /^q=/i.test(p))?.slice(2);
    out.push({
      range: range.toLowerCase(),
      q: q !== undefined && /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(q) ? Number(q) : 1,
    });
  }
  return out.sort((a, b) => b.q - a.q || (a.range < b.range ? -1 : a.range > b.range ? 1 : 0));
}

function normaliseSpace(value: string): string {
  let out = "";
  // Quoted strings are kept as they are; outside them, runs of white space
  // become one space, dropped next to `;` `=` and before `,`, one after `,`.
  for (const part of value.split(/("(?:[^"\\]|\\.)*")/)) {
    out += part.startsWith('"')
      ? part
      : part.replace(/[ \t]+/g, " ").replace(/ ?([;=,]) ?/g, "$1").replace(/,/g, ", ");
  }
  return out.trim();
}

/** The field names of a Vary value, lower-case, in order; `["*"]` when it contains `*`. */
export function varyNames(vary: string | undefined): string[] {
  if (vary === undefined) return [];
  const names = vary.split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
  return names.includes("*") ? ["*"] : [...new Set(names)];
}

// Ids of recent keys: a hit looks its key up instead of hashing it (hashing
// was 4.5% of the CPU profile of 1 KiB hits). Emptied when full.
const recentIds = new Recent<string, string>(8192);

/** Store id of a key: 64 hex digits. */
export function storeId(...parts: string[]): string {
  const joined = parts.join("\0");
  return recentIds.get(joined) ??
    recentIds.set(joined, hash("sha256", joined, "hex"));
}

/** Store id for a response to `fields` under `key`, varying on `vary`. */
export function variantId(key: string, vary: string[] | undefined, fields: FieldList): string {
  return vary === undefined || vary.length === 0
    ? storeId(key)
    : storeId(key, secondaryKey(vary, fields));
}
