/**
 * The globs rules match URLs with, and the cache key's path without the query
 * parameters rules leave out of it (signatures).
 *
 * @module
 */

import { Recent } from "./recent.ts";

/**
 * `path` without the query parameters named by `patterns` (case-insensitive
 * globs); the order and spelling of the others is kept.
 */
export function keyPath(path: string, patterns: readonly string[]): string {
  const q = path.indexOf("?");
  if (q === -1 || patterns.length === 0) return path;
  const dropped = queryNames(patterns);
  // The same URLs come again and again (every hit): the key paths of recent
  // short ones are remembered. Long ones are mostly signed, and each unique.
  if (path.length > RECENT_PATH_CHARS) return withoutNames(path, q, dropped);
  let recent = recentKeyPaths.get(dropped);
  if (recent === undefined) recentKeyPaths.set(dropped, recent = new Recent(RECENT_PATHS));
  return recent.get(path) ?? recent.set(path, withoutNames(path, q, dropped));
}

const recentKeyPaths = new Map<RegExp, Recent<string, string>>();
const RECENT_PATHS = 4096;
const RECENT_PATH_CHARS = 512;

function withoutNames(path: string, q: number, dropped: RegExp): string {
  const kept = path.slice(q + 1).split("&").filter((pair) => {
    const name = safeDecode(pair.split("=", 1)[0]!).toLowerCase();
    return !dropped.test(name);
  });
  return kept.length === 0 ? path.slice(0, q) : `${path.slice(0, q)}?${kept.join("&")}`;
}

// Query name patterns compiled once per list: compiling them for every request
// with a query cost a quarter of the 1 KiB hit rate (57k -> 42k req/s). Lists
// of shared decisions are found by identity, others by their text.
const queryNamesOf = new WeakMap<readonly string[], RegExp>();
const queryNamesByText = new Map<string, RegExp>();

function queryNames(patterns: readonly string[]): RegExp {
  let re = queryNamesOf.get(patterns);
  if (re === undefined) {
    const text = patterns.join("\n");
    re = queryNamesByText.get(text) ??
      new RegExp(patterns.map((p) => glob(p.toLowerCase(), "").source).join("|"));
    queryNamesByText.set(text, re);
    queryNamesOf.set(patterns, re);
  }
  return re;
}

/** A glob as an anchored regular expression: `**` any run, `*` any run without `stop`. */
export function glob(pattern: string, stop: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        // "/**/" also matches a single "/": the directories in between may be none.
        if (pattern[i + 2] === "/" && pattern[i - 1] === "/") {
          re += "(?:.*/)?";
          i += 2;
        } else {
          re += ".*";
          i++;
        }
      } else {
        re += stop === "" ? ".*" : `[^${stop === "/" ? "/" : "."}]*`;
      }
    } else {
      re += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${re}$`, stop === "." ? "i" : "");
}

function safeDecode(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
