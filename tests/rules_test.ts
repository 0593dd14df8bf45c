/**
 * Rules (src/rules.ts): which presets match which package-manager URLs, how
 * user rules override them, how signed-URL parameters leave the cache key,
 * and what the globs mean.
 */

import assert from "node:assert/strict";
import { FieldList } from "../src/http1/fields.ts";
import { keyPath } from "../src/key_path.ts";
import {
  ARTIFACT_PRESETS,
  decidingRules,
  METADATA_PRESETS,
  type Rule,
  type RuleDecision,
  Rules,
  SIGNED_URL_PRESETS,
} from "../src/rules.ts";

/** Request fields from pairs. */
function fields(...pairs: [string, string][]): FieldList {
  const f = new FieldList();
  for (const [n, v] of pairs) f.add(n, v);
  return f;
}

const NONE = fields();
const SIGNED = SIGNED_URL_PRESETS[0]!.ignoreQuery!;

/** What the default rules (all presets on) say about `path` on `host`. */
function decide(path: string, f: FieldList = NONE, host = "registry.example"): RuleDecision {
  return new Rules().decide(host, path, f);
}

/** The names of the rules that matched, without the signed-URL preset (which matches everything). */
function named(d: RuleDecision): string[] {
  return d.names.filter((n) => n !== "signed URL");
}

Deno.test("artifact presets: each package manager's immutable files are fresh forever", () => {
  const cases: [path: string, rule: string][] = [
    ["/pkg/-/pkg-1.0.0.tgz", "npm tarball"],
    ["/@s/p/-/p-1.tgz", "npm tarball"],
    ["/npm/@babel/core/-/core-7.24.0.tgz", "npm tarball"],
    ["/packages/py3/r/requests/requests-2.31.0-py3-none-any.whl", "python wheel"],
    ["/requests-2.31.0-py3-none-any.whl", "python wheel"],
    ["/packages/ab/cd/0123/requests-2.31.0.tar.gz", "python sdist"],
    ["/packages/requests-2.31.0.tar.gz", "python sdist"],
    ["/crates/serde/serde-1.0.200.crate", "crate"],
    ["/api/v1/crates/serde/1.0.200/download", "crate download"],
    ["/crates/serde/1.0.200/download", "crate download"],
    ["/api/cargo/lab/v1/crates/serde/1.0.200/download", "crate download"],
    ["/debian/pool/main/c/curl/curl_8.5.0-2_amd64.deb", "deb package"],
    ["/debian/pool/main/d/di/di_1.0_amd64.udeb", "udeb package"],
    ["/fedora/Packages/c/curl-8.6.0-1.fc40.x86_64.rpm", "rpm package"],
    ["/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/abc123", "apt by-hash"],
    ["/code.example.test/pkg/errors/@v/v0.9.1.zip", "go module zip"],
    ["/code.example.test/pkg/errors/@v/v0.9.1.mod", "go module mod"],
    ["/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.jar", "maven jar"],
    ["/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9-sources.jar", "maven jar"],
    ["/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.pom", "maven pom"],
    ["/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.jar.sha1", "maven jar checksum"],
    ["/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.pom.sha1", "maven pom checksum"],
    // A timestamped snapshot is as immutable as a release.
    ["/org/ex/lib/1.0-SNAPSHOT/lib-1.0-20240102.030405-7.jar", "maven jar"],
    ["/gems/rails-7.1.3.gem", "ruby gem"],
    ["/mirror/gems/nokogiri-1.16.0-x86_64-linux.gem", "ruby gem"],
    ["/quick/Marshal.4.8/rails-7.1.3.gemspec.rz", "ruby gemspec"],
  ];
  for (const [path, rule] of cases) {
    const d = decide(path);
    assert.deepEqual(named(d), [rule], path);
    assert.equal(d.forever, true, path);
    assert.equal(d.ttl, undefined, path);
    assert.equal(d.cache, true, path);
  }
  // The query is not part of what a path glob sees.
  assert.equal(decide("/pkg/-/pkg-1.0.0.tgz?cache=1").forever, true);
  // Every artifact preset says "forever" and nothing else.
  for (const r of ARTIFACT_PRESETS) {
    assert.equal(r.fresh, "forever", r.name);
    assert.equal(r.ttl, undefined, r.name);
  }
});

Deno.test("composer dist preset: a .zip is fresh forever only when Composer asks for it", () => {
  const composer = fields(["User-Agent", "Composer/2.5.5 (Linux; 6.1; PHP 8.2.36; streams)"]);
  const d = decide("/dists/acme/util/acme-util-1.2.0-0123abc.zip", composer);
  assert.deepEqual(named(d), ["composer dist"]);
  assert.equal(d.forever, true);
  assert.deepEqual(named(decide("/dists/acme/util/acme-util-1.2.0-0123abc.zip")), []);
  assert.deepEqual(
    named(decide("/downloads/latest.zip", fields(["User-Agent", "curl/8.5.0"]))),
    [],
  );
});

Deno.test("metadata presets: indexes get a short ttl, not forever", () => {
  const npmAccept = fields(["Accept", "application/vnd.npm.install-v1+json; q=1.0, */*"]);
  const packument = decide("/lodash", npmAccept);
  assert.deepEqual(named(packument), ["npm packument"]);
  assert.equal(packument.ttl, 300);
  assert.equal(packument.forever, false);
  // Without the npm Accept, the same URL is nothing special.
  assert.deepEqual(named(decide("/lodash")), []);
  assert.deepEqual(named(decide("/lodash", fields(["Accept", "application/json"]))), []);

  const cases: [path: string, rule: string, ttl: number][] = [
    ["/simple/requests/", "python simple index", 300],
    ["/simple/", "python simple index", 300],
    ["/debian/dists/bookworm/InRelease", "apt InRelease", 60],
    ["/debian/dists/bookworm/Release", "apt Release", 60],
    ["/debian/dists/bookworm/Release.gpg", "apt Release.gpg", 60],
    ["/debian/dists/bookworm/main/binary-amd64/Packages.xz", "apt Packages", 60],
    ["/debian/dists/bookworm/main/binary-amd64/Packages", "apt Packages", 60],
    ["/debian/dists/bookworm/main/source/Sources.gz", "apt Sources", 60],
    ["/code.example.test/pkg/errors/@v/list", "go module list", 300],
    ["/code.example.test/pkg/errors/@latest", "go module latest", 300],
  ];
  for (const [path, rule, ttl] of cases) {
    const d = decide(path);
    assert.deepEqual(named(d), [rule], path);
    assert.equal(d.ttl, ttl, path);
    assert.equal(d.forever, false, path);
    assert.equal(d.cache, true, path);
  }
  for (const r of METADATA_PRESETS) assert.ok(r.ttl! > 0 && r.fresh === undefined, r.name);
});

Deno.test("a Maven -SNAPSHOT file is revalidated, not fresh forever like a release jar", () => {
  for (
    const file of ["lib-1.0-SNAPSHOT.jar", "lib-1.0-SNAPSHOT.pom", "lib-1.0-SNAPSHOT.jar.sha1"]
  ) {
    const d = decide(`/org/ex/lib/1.0-SNAPSHOT/${file}`);
    assert.equal(named(d).at(-1), "maven snapshot", file);
    assert.equal(d.forever, false, file);
    assert.equal(d.ttl, 60, file);
  }
});

Deno.test("container presets: by digest forever, by tag always revalidated, the version check's 401 stored", () => {
  for (
    const [path, rule] of [
      ["/v2/library/alpine/blobs/sha256:0123abcd", "oci blob"],
      ["/v2/org/team/img/blobs/sha256:0123abcd", "oci blob"],
      ["/v2/team/app/manifests/sha256:0123abcd", "oci manifest by digest"],
    ]
  ) {
    const d = decide(path!);
    assert.deepEqual(named(d), rule === "oci blob" ? [rule] : ["oci manifest", rule], path);
    assert.equal(d.forever, true, path);
    assert.equal(d.ttl, undefined, path);
  }
  // A tag moves: stored despite Authorization, but never fresh.
  for (const path of ["/v2/team/app/manifests/1.0", "/v2/org/team/img/manifests/latest"]) {
    const d = decide(path);
    assert.deepEqual(named(d), ["oci manifest"], path);
    assert.equal(d.forever, false, path);
    assert.equal(d.ttl, 0, path);
    assert.equal(d.public, true, path);
  }
  // Where registries on object storage redirect blobs to: any query is a signature.
  const stored = decide("/registry-v2/docker/registry/v2/blobs/sha256/01/0123/data?verify=9");
  assert.deepEqual(named(stored), ["oci blob in storage"]);
  assert.equal(stored.forever, true);
  assert.equal(keyPath("/x/data?verify=9&a=b", stored.ignoreQuery), "/x/data");
  // The redirect a registry answers with is stored too (then always revalidated).
  assert.deepEqual(decide("/v2/a/blobs/sha256:01").statuses, [307]);
  const check = decide("/v2/");
  assert.deepEqual(named(check), ["oci version check"]);
  assert.equal(check.ttl, 0);
  assert.deepEqual(check.statuses, [401]);
  assert.equal(check.public, false);
  // Off with the other artifact presets.
  const off = new Rules([], { artifacts: false }).decide("h", "/v2/a/blobs/sha256:01", NONE);
  assert.equal(off.forever, false);
});

Deno.test("paths that look close to a preset but are not artifacts match nothing", () => {
  for (
    const path of [
      "/",
      "/pkg",
      "/pkg/-/pkg-1.0.0.tgz.sig", // not a .tgz
      "/pkg/pkg-1.0.0.tgz", // npm tarballs live under /-/
      "/pkg/-/sub/pkg-1.0.0.tgz", // `*` does not cross a "/"
      "/files/requests-2.31.0.tar.gz", // an sdist outside /packages/
      "/packagesx/requests-2.31.0.tar.gz",
      "/x.whl/readme",
      "/api/v1/crates/serde/download", // one segment short
      "/code.example.test/pkg/errors/@v/v0.9.1.info",
      "/code.example.test/pkg/errors/@v/sub/v0.9.1.zip",
      "/v2/library/alpine/blobs/md5:0123",
      "/v2/library/alpine/tags/list",
      "/v2",
      "/dists/InRelease.bak",
      "/notsimple/requests/",
      "/debian/by-hashes/SHA256/abc",
      "/org/ex/lib/maven-metadata.xml", // lists versions: changes with each release
      "/org/ex/lib/maven-metadata.xml.sha1",
      "/org/ex/lib/1.0/lib-1.0.jar.asc.sig",
    ]
  ) {
    const d = decide(path);
    assert.deepEqual(named(d), [], path);
    assert.equal(d.forever, false, path);
    assert.equal(d.ttl, undefined, path);
    assert.equal(d.cache, true, path);
  }
});

Deno.test("signed-URL preset: matches every request, lists the signature parameters", () => {
  const d = decide("/anything?x=1", NONE, "bucket.storage.example.test");
  assert.deepEqual(d.names, ["signed URL"]);
  assert.deepEqual(d.ignoreQuery, SIGNED);
  for (const p of ["X-Amz-*", "X-Goog-*", "Signature", "Expires", "Key-Pair-Id", "sig", "se"]) {
    assert.ok(SIGNED.includes(p), p);
  }
});

Deno.test("user rules apply after the presets: a later rule wins", () => {
  // ttl after a forever preset: no longer forever.
  const ttl = new Rules([{ name: "short", match: { path: "/pkg/**" }, ttl: 5 }]);
  const t = ttl.decide("r", "/pkg/-/pkg-1.0.0.tgz", NONE);
  assert.deepEqual(named(t), ["npm tarball", "short"]);
  assert.equal(t.forever, false);
  assert.equal(t.ttl, 5);

  // forever after a ttl preset: forever, and the ttl is gone.
  const forever = new Rules([{ match: { path: "/simple/**" }, fresh: "forever" }]);
  const f = forever.decide("r", "/simple/requests/", NONE);
  assert.deepEqual(named(f), ["python simple index", "rule"], "an unnamed rule is 'rule'");
  assert.equal(f.forever, true);
  assert.equal(f.ttl, undefined);

  // Two user rules: the second overrides the first.
  const two = new Rules([
    { name: "a", match: { path: "/x/**" }, ttl: 10 },
    { name: "b", match: { path: "/x/y/**" }, ttl: 20 },
  ]);
  assert.equal(two.decide("h", "/x/y/z", NONE).ttl, 20);
  assert.equal(two.decide("h", "/x/q", NONE).ttl, 10);
  const back = new Rules([
    { name: "b", match: { path: "/x/y/**" }, cache: false },
    { name: "a", match: { path: "/x/**" }, cache: true },
  ]);
  assert.equal(back.decide("h", "/x/y/z", NONE).cache, true);
});

Deno.test("cache: false keeps a response out of the cache, even an artifact", () => {
  const rules = new Rules([{ name: "no", match: { host: "*.internal.example" }, cache: false }]);
  const d = rules.decide("npm.internal.example", "/pkg/-/pkg-1.0.0.tgz", NONE);
  assert.equal(d.cache, false);
  assert.deepEqual(named(d), ["npm tarball", "no"]);
  // Host globs: `*` stops at a dot, and case does not matter.
  assert.equal(rules.decide("NPM.Internal.Example", "/a", NONE).cache, false);
  assert.equal(rules.decide("a.b.internal.example", "/a", NONE).cache, true);
  assert.equal(rules.decide("internal.example", "/a", NONE).cache, true);
});

Deno.test("rule matches combine host, path and header; every given field must match", () => {
  const rules = new Rules([{
    name: "combo",
    match: { host: "dl.example.org", path: "/releases/**", header: { "User-Agent": "ci/*" } },
    fresh: "forever",
  }], { artifacts: false, signedUrls: false });
  const ua = fields(["user-agent", "ci/1.2"]);
  assert.equal(rules.decide("dl.example.org", "/releases/v1/app.bin", ua).forever, true);
  assert.equal(rules.decide("dl.example.org", "/releases/v1/app.bin", NONE).forever, false);
  assert.equal(rules.decide("dl.example.org", "/other/app.bin", ua).forever, false);
  assert.equal(rules.decide("cdn.example.org", "/releases/v1/app.bin", ua).forever, false);
  assert.equal(
    rules.decide("dl.example.org", "/releases/v1/app.bin", fields(["User-Agent", "curl/8"]))
      .forever,
    false,
  );
});

Deno.test({
  name: "a header rule with value glob * needs the field to be present",
  fn: () => {
    const rules = new Rules([{ name: "ci", match: { header: { "x-ci": "*" } }, cache: false }], {
      artifacts: false,
      signedUrls: false,
    });
    assert.equal(rules.decide("h", "/a", fields(["X-CI", "1"])).cache, false);
    assert.equal(
      rules.decide("h", "/a", NONE).cache,
      true,
      "no X-CI field: the rule must not apply",
    );
  },
});

Deno.test("presets can be turned off one by one", () => {
  const noArtifacts = new Rules([], { artifacts: false });
  const d1 = noArtifacts.decide("h", "/pkg/-/pkg-1.0.0.tgz?X-Amz-Signature=1", NONE);
  assert.equal(d1.forever, false);
  assert.deepEqual(d1.names, ["signed URL"]);
  assert.deepEqual(d1.ignoreQuery, SIGNED);
  // Metadata presets go with the artifacts.
  assert.equal(noArtifacts.decide("h", "/simple/x/", NONE).ttl, undefined);

  const noSigned = new Rules([], { signedUrls: false });
  const d2 = noSigned.decide("h", "/pkg/-/pkg-1.0.0.tgz?X-Amz-Signature=1", NONE);
  assert.equal(d2.forever, true);
  assert.deepEqual(d2.names, ["npm tarball"]);
  assert.deepEqual(d2.ignoreQuery, []);

  const none = new Rules([], { artifacts: false, signedUrls: false });
  assert.deepEqual(none.decide("h", "/pkg/-/pkg-1.0.0.tgz", NONE), {
    names: [],
    forever: false,
    cache: true,
    ignoreQuery: [],
    public: false,
    statuses: [],
  });
  // User rules still apply with every preset off, and their ignoreQuery adds up.
  const user: Rule[] = [
    { match: {}, ignoreQuery: ["token"] },
    { match: { host: "s.example" }, ignoreQuery: ["X-Sig-*"] },
  ];
  assert.deepEqual(
    new Rules(user, { artifacts: false, signedUrls: false }).decide("s.example", "/", NONE)
      .ignoreQuery,
    ["token", "X-Sig-*"],
  );
});

Deno.test("presets: npm packuments as npm 11 and Deno ask for them get the metadata TTL", () => {
  const npm = decide(
    "/some-pkg",
    fields(["Accept", "application/json"], ["pacote-req-type", "packument"]),
  );
  assert.equal(npm.ttl, 300);
  assert.equal(npm.forever, false);
  const deno = decide("/@scope%2fpkg", fields(["Accept", "*/*"], ["User-Agent", "Deno/2.9.6"]));
  assert.equal(deno.ttl, 300);
  // Deno's tarball downloads are immutable artifacts, not metadata.
  const tarball = decide("/pkg/-/pkg-1.0.0.tgz", fields(["User-Agent", "Deno/2.9.6"]));
  assert.equal(tarball.forever, true);
  assert.equal(tarball.ttl, undefined);
  // Without either sign, a one-segment path is nothing special.
  assert.equal(decide("/some-pkg", fields(["Accept", "application/json"])).ttl, undefined);
});

Deno.test("decidingRules: a named preset, an unnamed config rule as rules[i], none when no rule decided", () => {
  const user: Rule[] = [
    { name: "mirror", match: { host: "mirror.test" }, ttl: 30 },
    { match: { path: "/internal/**" }, ttl: 60 },
    { match: { path: "/nothing/**" } },
  ];
  const rules = new Rules(user);
  const logged = (host: string, path: string, keyed = path) =>
    decidingRules(rules.decide(host, path, NONE), path, keyed);
  assert.deepEqual(logged("registry.example", "/pkg/-/pkg-1.0.0.tgz"), ["npm tarball"]);
  assert.deepEqual(logged("registry.example", "/internal/data"), ["rules[1]"]);
  assert.deepEqual(logged("mirror.test", "/internal/data"), ["mirror", "rules[1]"]);
  // The signed-URL preset matches everything; a rule that says nothing decides nothing.
  assert.deepEqual(logged("registry.example", "/plain?v=1"), []);
  assert.deepEqual(logged("registry.example", "/nothing/x"), []);
  // It decides once it left a signature out of the key.
  const signed = "/pkg/-/pkg-1.0.0.tgz?X-Amz-Signature=abc";
  assert.deepEqual(logged("registry.example", signed, keyPath(signed, SIGNED)), [
    "npm tarball",
    "signed URL",
  ]);
});
