/**
 * The config file (`--config hoard.json` or `hoard.jsonc`): rules and presets,
 * validated with errors that name the file and the bad key.
 *
 * ```jsonc
 * {
 *   // Built-in presets, both on by default.
 *   "presets": { "artifacts": true, "signedUrls": true },
 *   "rules": [
 *     { "name": "release assets", "match": { "host": "*.example.org", "path": "/releases/**" }, "fresh": "forever" },
 *     { "match": { "path": "/api/**" }, "cache": false },
 *     { "match": { "path": "/index/**" }, "ttl": 120 },
 *     { "match": { "host": "storage.example.net" }, "ignoreQuery": ["token", "X-Sig-*"] },
 *     { "match": { "host": "pypi.example.org", "path": "/simple/**" }, "ttl": 300, "public": true }
 *   ]
 * }
 * ```
 *
 * @module
 */

import { errorLine } from "./errors.ts";
import type { Presets, Rule } from "./rules.ts";

/** What a config file holds. */
export interface Config {
  /** User rules, applied after the presets. */
  rules: Rule[];
  /** Which presets are on. */
  presets: Presets;
}

/** A config file that cannot be used; the message names the file and the key. */
export class ConfigError extends Error {
  /** @param message one line: `file: key: what is wrong`. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Reads and validates a config file. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(`${path}: cannot read: ${errorLine(err)}`);
  }
  return parseConfig(text, path);
}

/** Validates config text (JSON, or JSONC with comments and trailing commas). */
export function parseConfig(text: string, file: string): Config {
  let data: unknown;
  try {
    data = JSON.parse(stripJsonc(text));
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON: ${errorLine(err)}`);
  }
  const bad = (key: string, what: string): never => {
    throw new ConfigError(`${file}: ${key}: ${what}`);
  };
  const top = object(data, "(top level)", bad);
  keysOnly(top, ["rules", "presets"], "", bad);
  const presets: Presets = {};
  if (top["presets"] !== undefined) {
    const p = object(top["presets"], "presets", bad);
    keysOnly(p, ["artifacts", "signedUrls"], "presets.", bad);
    for (const k of ["artifacts", "signedUrls"] as const) {
      if (p[k] !== undefined && typeof p[k] !== "boolean") {
        bad(`presets.${k}`, "expected true or false");
      }
      if (p[k] !== undefined) presets[k] = p[k] as boolean;
    }
  }
  const rules: Rule[] = [];
  if (top["rules"] !== undefined) {
    if (!Array.isArray(top["rules"])) bad("rules", "expected a list of rules");
    (top["rules"] as unknown[]).forEach((r, i) => rules.push(parseRule(r, `rules[${i}]`, bad)));
  }
  return { rules, presets };
}

type Bad = (key: string, what: string) => never;

function parseRule(value: unknown, at: string, bad: Bad): Rule {
  const r = object(value, at, bad);
  keysOnly(
    r,
    ["name", "match", "fresh", "ttl", "cache", "ignoreQuery", "public", "statuses"],
    `${at}.`,
    bad,
  );
  const rule: Rule = { match: {} };
  if (r["name"] !== undefined) {
    if (typeof r["name"] !== "string") bad(`${at}.name`, "expected a string");
    rule.name = r["name"] as string;
  }
  if (r["match"] === undefined) bad(`${at}.match`, "missing: say which requests the rule is for");
  const m = object(r["match"], `${at}.match`, bad);
  keysOnly(m, ["host", "path", "header"], `${at}.match.`, bad);
  if (m["host"] !== undefined) {
    if (typeof m["host"] !== "string" || m["host"] === "") {
      bad(`${at}.match.host`, "expected a host name or glob");
    }
    rule.match.host = m["host"] as string;
  }
  if (m["path"] !== undefined) {
    if (typeof m["path"] !== "string" || !m["path"].startsWith("/")) {
      bad(`${at}.match.path`, 'expected a path glob starting with "/"');
    }
    rule.match.path = m["path"] as string;
  }
  if (m["header"] !== undefined) {
    const h = object(m["header"], `${at}.match.header`, bad);
    for (const [k, v] of Object.entries(h)) {
      if (typeof v !== "string") bad(`${at}.match.header.${k}`, "expected a value glob (string)");
    }
    rule.match.header = h as Record<string, string>;
  }
  if (r["fresh"] !== undefined) {
    if (r["fresh"] !== "forever") bad(`${at}.fresh`, 'expected "forever"');
    rule.fresh = "forever";
  }
  if (r["ttl"] !== undefined) {
    const ttl = r["ttl"];
    if (typeof ttl !== "number" || !(ttl > 0) || !Number.isFinite(ttl)) {
      bad(`${at}.ttl`, `expected a number of seconds above 0, got ${JSON.stringify(ttl)}`);
    }
    rule.ttl = ttl as number;
  }
  if (r["cache"] !== undefined) {
    if (typeof r["cache"] !== "boolean") bad(`${at}.cache`, "expected true or false");
    rule.cache = r["cache"] as boolean;
  }
  if (r["ignoreQuery"] !== undefined) {
    const q = r["ignoreQuery"];
    if (!Array.isArray(q) || q.some((x) => typeof x !== "string" || x === "")) {
      bad(`${at}.ignoreQuery`, "expected a list of query parameter names or globs");
    }
    rule.ignoreQuery = q as string[];
  }
  if (r["public"] !== undefined) {
    if (typeof r["public"] !== "boolean") bad(`${at}.public`, "expected true or false");
    rule.public = r["public"] as boolean;
  }
  if (r["statuses"] !== undefined) {
    const s = r["statuses"];
    if (!Array.isArray(s) || s.some((x) => !Number.isInteger(x) || x < 200 || x > 599)) {
      bad(`${at}.statuses`, "expected a list of final status codes (200 to 599)");
    }
    rule.statuses = s as number[];
  }
  if (
    rule.fresh === undefined && rule.ttl === undefined && rule.cache === undefined &&
    rule.ignoreQuery === undefined && rule.public === undefined && rule.statuses === undefined
  ) {
    bad(at, "does nothing: give fresh, ttl, cache, ignoreQuery, public or statuses");
  }
  if (rule.fresh !== undefined && rule.ttl !== undefined) {
    bad(`${at}.ttl`, 'cannot go with "fresh": "forever"');
  }
  return rule;
}

function object(value: unknown, at: string, bad: Bad): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    bad(at, "expected an object");
  }
  return value as Record<string, unknown>;
}

function keysOnly(o: Record<string, unknown>, allowed: string[], prefix: string, bad: Bad): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      bad(`${prefix}${k}`, `unknown key (expected one of ${allowed.join(", ")})`);
    }
  }
}

/** JSONC to JSON: comments and trailing commas removed, strings left alone. */
export function stripJsonc(text: string): string {
  return dropTrailingCommas(dropComments(text));
}

/** Calls `each` for every character outside strings; strings are copied as they are. */
function outsideStrings(text: string, each: (i: number, out: string[]) => number): string {
  const out: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out.push(text.slice(i, j + 1));
      i = j;
    } else {
      i = each(i, out);
    }
  }
  return out.join("");
}

function dropComments(text: string): string {
  return outsideStrings(text, (i, out) => {
    if (text.startsWith("//", i)) {
      const nl = text.indexOf("\n", i);
      out.push("\n");
      return nl === -1 ? text.length : nl;
    }
    if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      out.push(" ");
      return end === -1 ? text.length : end + 1;
    }
    out.push(text[i]!);
    return i;
  });
}

function dropTrailingCommas(text: string): string {
  return outsideStrings(text, (i, out) => {
    if (text[i] === "," && /^\s*[}\]]/.test(text.slice(i + 1, i + 1 + 256))) return i;
    out.push(text[i]!);
    return i;
  });
}
