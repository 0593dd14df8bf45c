/**
 * Rules: what hoard knows about URLs that HTTP headers do not say. Immutable
 * artifacts (a published tarball never changes, an image blob is named by its
 * digest) are fresh forever whatever their Cache-Control; package indexes get
 * a short freshness and are then revalidated; signed URLs keep their
 * signature out of the cache key.
 *
 * Every rule that matches a request applies, in order: built-in presets
 * first, then the user's rules, so a user rule overrides a preset.
 *
 * @module
 */

import type { FieldList } from "./http1/fields.ts";
import { glob, keyPath } from "./key_path.ts";
import { Recent } from "./recent.ts";

/** What a rule matches; every given field must match. */
export interface RuleMatch {
  /** Host glob: `*` is any run of characters but a dot (`*.example.org`); `**` any. */
  host?: string;
  /** Path glob (query excluded): `*` is any run of characters but `/`; `**` any. */
  path?: string;
  /** Request fields that must be present, lower-case name to a value glob (`*` any run). */
  header?: Record<string, string>;
}

/** One rule. */
export interface Rule {
  /** A name for logs and error messages. */
  name?: string;
  /** Which requests it applies to. */
  match: RuleMatch;
  /**
   * `"forever"`: a 200 response is stored and fresh forever, whatever its
   * Cache-Control, also when the request carries Authorization (as `public`).
   */
  fresh?: "forever";
  /** Freshness lifetime in seconds, replacing the origin's; revalidated after it. */
  ttl?: number;
  /** `false`: never stored (relayed as it is). */
  cache?: boolean;
  /** Query parameters (names, `*` globs, any case) left out of the cache key. */
  ignoreQuery?: string[];
  /**
   * `true`: responses are stored also when the request carries Authorization,
   * as if the origin had said `Cache-Control: public` (its `private` or
   * `no-store` still win). Who else is served them is the `tenancy` option's
   * say (README, "Credentials").
   */
  public?: boolean;
  /**
   * Status codes stored although HTTP alone would not let a cache store them
   * (a registry's 401 that only names its auth scheme, so that a pull still
   * starts while the registry is down).
   */
  statuses?: number[];
}

/** What the rules say about one request. */
export interface RuleDecision {
  /** Names of the rules that matched. */
  names: string[];
  /** A 200 is fresh forever. */
  forever: boolean;
  /** Freshness lifetime override, in seconds. */
  ttl?: number;
  /** Whether responses may be stored at all. */
  cache: boolean;
  /** Query parameter patterns left out of the key. */
  ignoreQuery: string[];
  /** Responses to requests with Authorization may be stored. */
  public: boolean;
  /** Status codes stored besides HTTP's. */
  statuses: number[];
}

/** Immutable artifacts of the common package managers: stored and fresh forever. */
export const ARTIFACT_PRESETS: readonly Rule[] = [
  { name: "npm tarball", match: { path: "/**/-/*.tgz" }, fresh: "forever" },
  { name: "python wheel", match: { path: "/**/*.whl" }, fresh: "forever" },
  { name: "python sdist", match: { path: "/packages/**/*.tar.gz" }, fresh: "forever" },
  { name: "crate", match: { path: "/**/*.crate" }, fresh: "forever" },
  // Cargo appends /{crate}/{version}/download to a registry's `dl` when it has no
  // {markers}: /api/v1/crates/… on older registries, /crates/… on today's public one.
  { name: "crate download", match: { path: "/**/crates/*/*/download" }, fresh: "forever" },
  { name: "deb package", match: { path: "/**/*.deb" }, fresh: "forever" },
  { name: "udeb package", match: { path: "/**/*.udeb" }, fresh: "forever" },
  { name: "rpm package", match: { path: "/**/*.rpm" }, fresh: "forever" },
  { name: "apt by-hash", match: { path: "/**/by-hash/**" }, fresh: "forever" },
  { name: "go module zip", match: { path: "/**/@v/*.zip" }, fresh: "forever" },
  { name: "go module mod", match: { path: "/**/@v/*.mod" }, fresh: "forever" },
  // A Maven repository refuses to redeploy a release. Maven sends `Cache-Control: no-cache`
  // with every request, so only a rule keeps its jars and POMs from being fetched again on
  // every build. Snapshots are left to the "maven snapshot" rule below.
  { name: "maven jar", match: { path: "/**/*.jar" }, fresh: "forever" },
  { name: "maven pom", match: { path: "/**/*.pom" }, fresh: "forever" },
  { name: "maven jar checksum", match: { path: "/**/*.jar.sha1" }, fresh: "forever" },
  { name: "maven pom checksum", match: { path: "/**/*.pom.sha1" }, fresh: "forever" },
  // A gem version is never republished (a yanked one is gone, not replaced),
  // and its quick gemspec is the same release's metadata.
  { name: "ruby gem", match: { path: "/**/gems/*.gem" }, fresh: "forever" },
  {
    name: "ruby gemspec",
    match: { path: "/**/quick/Marshal.4.8/*.gemspec.rz" },
    fresh: "forever",
  },
  // Composer dist archives are named by version and reference; only Composer's
  // own requests, since a .zip elsewhere may be rebuilt under the same name.
  {
    name: "composer dist",
    match: { path: "/**/*.zip", header: { "user-agent": "Composer/*" } },
    fresh: "forever",
  },
];

/** Package metadata: changes when something is published, so short freshness, then revalidation. */
export const METADATA_PRESETS: readonly Rule[] = [
  // npm asks for packuments with `pacote-req-type: packument` (and an abbreviated
  // Accept for some); Deno's npm client says only who it is, on a one-segment path.
  { name: "npm packument", match: { header: { "pacote-req-type": "packument" } }, ttl: 300 },
  {
    name: "npm packument",
    match: { header: { accept: "application/vnd.npm.install-v1*" } },
    ttl: 300,
  },
  {
    name: "npm packument (Deno)",
    match: { path: "/*", header: { "user-agent": "Deno/*" } },
    ttl: 300,
  },
  { name: "python simple index", match: { path: "/simple/**" }, ttl: 300 },
  { name: "apt InRelease", match: { path: "/**/InRelease" }, ttl: 60 },
  { name: "apt Release", match: { path: "/**/Release" }, ttl: 60 },
  { name: "apt Release.gpg", match: { path: "/**/Release.gpg" }, ttl: 60 },
  { name: "apt Packages", match: { path: "/**/Packages*" }, ttl: 60 },
  { name: "apt Sources", match: { path: "/**/Sources*" }, ttl: 60 },
  { name: "go module list", match: { path: "/**/@v/list" }, ttl: 300 },
  { name: "go module latest", match: { path: "/**/@latest" }, ttl: 300 },
  // Files named -SNAPSHOT (not timestamped) are replaced in place: revalidated like metadata.
  { name: "maven snapshot", match: { path: "/**/*-SNAPSHOT.*" }, ttl: 60 },
];

/**
 * Container registries (the OCI distribution API). Blobs and manifests named
 * by digest are content-addressed: fresh forever. A manifest named by tag
 * changes when the tag moves: stored, but asked about again every time (the
 * registry's ETag is the digest, so that is a 304). The version check `GET
 * /v2/` every pull starts with is answered 401 with the auth scheme to
 * anonymous clients: stored, so that a pull starts while the registry is
 * down. Registries want credentials for most of these, so they are stored
 * although the requests carry Authorization (see `Rule.public`). The digest
 * rules come after the tag rule: they win.
 */
export const CONTAINER_PRESETS: readonly Rule[] = [
  { name: "oci version check", match: { path: "/v2/" }, ttl: 0, statuses: [401] },
  { name: "oci manifest", match: { path: "/v2/**/manifests/*" }, ttl: 0, public: true },
  {
    name: "oci manifest by digest",
    match: { path: "/v2/**/manifests/sha256:*" },
    fresh: "forever",
  },
  // Registries on object storage answer a blob with a redirect to a signed
  // URL: the redirect is stored (as a stand-in while the registry is down;
  // its expired signature is not part of the key it leads to) and asked
  // about again every time; what it leads to is the layout's blob below.
  {
    name: "oci blob",
    match: { path: "/v2/**/blobs/sha256:*" },
    fresh: "forever",
    public: true,
    statuses: [307],
  },
  // The distribution registry's storage layout, where those redirects lead:
  // the path names the content, so every query parameter is a signature.
  {
    name: "oci blob in storage",
    match: { path: "/**/docker/registry/v2/blobs/sha256/*/*/data" },
    fresh: "forever",
    ignoreQuery: ["*"],
  },
];

/** Signatures of pre-signed storage URLs: never part of the cache key. */
export const SIGNED_URL_PRESETS: readonly Rule[] = [
  {
    name: "signed URL",
    match: {},
    ignoreQuery: [
      "X-Amz-*",
      "X-Goog-*",
      "Signature",
      "Expires",
      "Key-Pair-Id",
      "se",
      "sig",
      "sp",
      "sv",
    ],
  },
];

/** Which built-in presets are on. */
export interface Presets {
  /** Immutable artifacts, package metadata and container registries. @default {true} */
  artifacts?: boolean;
  /** Query parameters of signed URLs out of the key. @default {true} */
  signedUrls?: boolean;
}

interface CompiledRule {
  rule: Rule;
  /** The name in log lines: the rule's own, or `rules[i]` for the config file's i-th. */
  logName: string;
  host?: RegExp;
  path?: RegExp;
  header?: [string, RegExp][];
}

// URLs whose matching rules are remembered (emptied when full): matching every
// preset's patterns for each request was 2.6% of the CPU profile of 1 KiB hits.
const RECENT_URLS = 4096;

/** Rules compiled for matching. */
export class Rules {
  #rules: CompiledRule[];
  #recent = new Recent<string, MatchingRules>(RECENT_URLS);

  /** @param rules user rules, applied after the presets that are on. */
  constructor(rules: readonly Rule[] = [], presets: Presets = {}) {
    const all = [
      ...(presets.artifacts === false
        ? []
        : [...ARTIFACT_PRESETS, ...METADATA_PRESETS, ...CONTAINER_PRESETS]),
      ...(presets.signedUrls === false ? [] : SIGNED_URL_PRESETS),
    ].map((rule) => ({ rule, logName: rule.name ?? "preset" }));
    all.push(...rules.map((rule, i) => ({ rule, logName: rule.name ?? `rules[${i}]` })));
    this.#rules = all.map(({ rule, logName }) => ({
      rule,
      logName,
      host: rule.match.host === undefined ? undefined : glob(rule.match.host.toLowerCase(), "."),
      path: rule.match.path === undefined ? undefined : glob(rule.match.path, "/"),
      header: rule.match.header === undefined
        ? undefined
        : Object.entries(rule.match.header).map(([n, v]) => [n.toLowerCase(), glob(v, "")]),
    }));
  }

  /**
   * What the rules say about a request for `path` (query included) on `host`.
   * The decision may be shared between requests: it must not be changed.
   */
  decide(host: string, path: string, fields: FieldList): Readonly<RuleDecision> {
    const url = this.#matching(host, path.split("?", 1)[0]!);
    // Which of the rules that look at header fields apply ("1" or "0" each, in
    // order): the decision for each combination is made once per URL.
    let applying = "";
    for (const header of url.headers) {
      const match = header.every(([n, re]) => re.test(fields.combined(n) ?? "\0") && fields.has(n));
      applying += match ? "1" : "0";
    }
    let d = url.decisions.get(applying);
    if (d === undefined) {
      d = Object.freeze(decideBy(url.rules, applying));
      url.decisions.set(applying, d);
    }
    return d;
  }

  /** The rules whose host and path patterns match, remembered for recent URLs. */
  #matching(host: string, path: string): MatchingRules {
    const url = `${host} ${path}`;
    let found = this.#recent.get(url);
    if (found === undefined) {
      const rules = this.#rules.filter((r) =>
        (r.host === undefined || r.host.test(host)) && (r.path === undefined || r.path.test(path))
      );
      const headers = rules.flatMap((r) => r.header === undefined ? [] : [r.header]);
      found = { rules, headers, decisions: new Map() };
      this.#recent.set(url, found);
    }
    return found;
  }
}

interface MatchingRules {
  rules: CompiledRule[];
  /** The header patterns of those rules that have any, in order. */
  headers: [string, RegExp][][];
  /** Decisions by which of those apply ("1" or "0" each). */
  decisions: Map<string, Readonly<RuleDecision>>;
}

/**
 * The names a decision's rules are logged by: those that decide more than the
 * key, and every rule that says anything, in order, with its query patterns
 * when that is all it says. Kept beside the decision, not in it, since callers
 * (and tests) compare decisions whole.
 */
interface LogNames {
  deciding: string[];
  effects: { name: string; onlyIgnoreQuery?: readonly string[] }[];
}
const logNames = new WeakMap<RuleDecision, LogNames>();

/**
 * The decision of `rules`; the k-th rule with header patterns counts only if
 * `applying[k]` is "1".
 */
function decideBy(rules: readonly CompiledRule[], applying: string): RuleDecision {
  const d: RuleDecision = {
    names: [],
    forever: false,
    cache: true,
    ignoreQuery: [],
    public: false,
    statuses: [],
  };
  const why: LogNames = { deciding: [], effects: [] };
  let k = 0;
  for (const { rule, header, logName } of rules) {
    if (header !== undefined && applying[k++] !== "1") continue;
    d.names.push(rule.name ?? "rule");
    const decides = rule.fresh !== undefined || rule.ttl !== undefined ||
      rule.cache !== undefined || rule.public !== undefined || rule.statuses !== undefined;
    if (decides) {
      why.deciding.push(logName);
      why.effects.push({ name: logName });
    } else if (rule.ignoreQuery !== undefined) {
      why.effects.push({ name: logName, onlyIgnoreQuery: rule.ignoreQuery });
    }
    if (rule.fresh === "forever") {
      d.forever = true;
      delete d.ttl;
    }
    if (rule.ttl !== undefined) {
      d.ttl = rule.ttl;
      d.forever = false;
    }
    if (rule.cache !== undefined) d.cache = rule.cache;
    if (rule.ignoreQuery !== undefined) d.ignoreQuery.push(...rule.ignoreQuery);
    if (rule.public !== undefined) d.public = rule.public;
    if (rule.statuses !== undefined) d.statuses.push(...rule.statuses);
  }
  logNames.set(d, why);
  return d;
}

/**
 * The rules that decided something about a request for `path` (query
 * included) whose key path is `keyed`, for its log line, in order: by name,
 * or `rules[i]` for the config file's unnamed i-th rule. A rule that only
 * leaves query parameters out of the key counts when it left one out of this
 * request's (the signed-URL preset matches every request, and decides only
 * for a URL that carries a signature).
 */
export function decidingRules(d: RuleDecision, path: string, keyed: string): readonly string[] {
  const why = logNames.get(d);
  if (why === undefined) return [];
  if (keyed === path || why.effects.length === why.deciding.length) return why.deciding;
  return why.effects.filter((e) =>
    e.onlyIgnoreQuery === undefined || keyPath(path, e.onlyIgnoreQuery) !== path
  ).map((e) => e.name);
}
