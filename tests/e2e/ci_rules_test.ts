/**
 * Rules end to end: immutable artifacts cached whatever their Cache-Control,
 * presets turned off, user rules from a --config file in a real hoard
 * process, bad config files, and signed URLs sharing one cache entry.
 */

import assert from "node:assert/strict";
import { get, pseudoRandom, sha256, sleep, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { startOrigin } from "../_helpers/origin.ts";
import { runHoard, startHoardProcess } from "../_helpers/process.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { storedMetas, tempDir } from "./ci_helpers.ts";

const MISS_STORED = "hoard; fwd=uri-miss; stored";
/** A hit on a forever-fresh artifact: ten years of ttl left. */
const FOREVER_HIT = /^hoard; hit; ttl=3153[56]\d{4}$/;

const TARBALL = pseudoRandom(40 * 1024, 0x5eed);
const TARBALL_SHA256 = sha256(TARBALL);

/** Artifact paths of the presets, each served with a Cache-Control that forbids reuse. */
const ARTIFACTS: Record<string, string> = {
  "/pkg/-/pkg-1.0.0.tgz": "no-store",
  "/@scope/name/-/name-2.0.0.tgz": "max-age=0",
  "/packages/ab/cd/requests-2.31.0-py3-none-any.whl": "no-cache",
  "/code.example.test/pkg/errors/@v/v0.9.1.zip": "private, no-store",
};

function artifactOrigin() {
  return startRoutedOrigin(Object.fromEntries(
    Object.entries(ARTIFACTS).map(([p, cc]) => [
      p,
      () =>
        new Response(TARBALL, {
          headers: { "cache-control": cc, "content-type": "application/octet-stream" },
        }),
    ]),
  ));
}

Deno.test("artifact presets: tarballs marked no-store / max-age=0 / no-cache are stored and hit forever", async () => {
  await using origin = artifactOrigin();
  await using proxy = await startTestProxy();
  for (const p of Object.keys(ARTIFACTS)) {
    const first = await get(proxy, origin.url + p);
    assert.equal(first.status, 200, p);
    assert.equal(first.headers["cache-status"], MISS_STORED, p);
    assert.equal(sha256(first.body), TARBALL_SHA256, p);
    const second = await get(proxy, origin.url + p);
    assert.match(second.headers["cache-status"] ?? "", FOREVER_HIT, p);
    assert.equal(sha256(second.body), TARBALL_SHA256, p);
    // The origin's own Cache-Control is passed on unchanged.
    assert.equal(second.headers["cache-control"], ARTIFACTS[p], p);
  }
  await sleep(1100);
  for (const p of Object.keys(ARTIFACTS)) {
    const later = await get(proxy, origin.url + p);
    assert.equal(later.status, 200, p);
    assert.match(later.headers["cache-status"] ?? "", FOREVER_HIT, p);
    assert.equal(sha256(later.body), TARBALL_SHA256, p);
    // Even a client asking for revalidation gets the immutable file.
    const nocache = await get(proxy, origin.url + p, "-H", "Cache-Control: no-cache");
    assert.match(nocache.headers["cache-status"] ?? "", FOREVER_HIT, p);
    assert.equal(origin.count(p), 1, p);
  }
});

Deno.test("artifact presets off: the origin's Cache-Control rules again", async () => {
  await using origin = artifactOrigin();
  await using proxy = await startTestProxy({ presets: { artifacts: false } });
  const noStore = "/pkg/-/pkg-1.0.0.tgz";
  const first = await get(proxy, origin.url + noStore);
  assert.equal(first.headers["cache-status"], "hoard; fwd=uri-miss; detail=no-store");
  assert.equal(sha256(first.body), TARBALL_SHA256);
  const second = await get(proxy, origin.url + noStore);
  assert.equal(second.headers["cache-status"], "hoard; fwd=uri-miss; detail=no-store");
  assert.equal(origin.count(noStore), 2);
  assert.equal(proxy.summary().stored, 0);

  const maxAge0 = "/@scope/name/-/name-2.0.0.tgz";
  await get(proxy, origin.url + maxAge0);
  const again = await get(proxy, origin.url + maxAge0);
  assert.doesNotMatch(again.headers["cache-status"] ?? "", /hit/);
  assert.equal(origin.count(maxAge0), 2);
});

/** A config file with comments: release assets are immutable, /api/ is never cached. */
const CONFIG = `{
  // Release assets never change once published.
  "rules": [
    {
      "name": "releases", // any host
      "match": { "path": "/releases/**" },
      "fresh": "forever",
    },
    /* the API answers differently every time */
    { "match": { "path": "/api/**" }, "cache": false },
  ],
}
`;

Deno.test("--config hoard.jsonc in a hoard process: a user rule makes /releases/** fresh forever", async () => {
  await using dir = await tempDir();
  const config = `${dir.path}/hoard.jsonc`;
  await Deno.writeTextFile(config, CONFIG);
  const body = "release binary\n";
  await using origin = startRoutedOrigin({
    "/releases/v1/tool.bin": () => new Response(body, { headers: { "cache-control": "no-store" } }),
    "/other/tool.bin": () => new Response(body, { headers: { "cache-control": "no-store" } }),
    "/api/status": (_req, n) =>
      new Response(`status ${n}\n`, { headers: { "cache-control": "max-age=60" } }),
  });
  await using hoard = await startHoardProcess([
    "--config",
    config,
    "--cache-dir",
    `${dir.path}/cache`,
  ]);
  const at = { url: hoard.url, cacheDir: `${dir.path}/cache` };

  const first = await get(at, `${origin.url}/releases/v1/tool.bin`);
  assert.equal(first.text, body);
  assert.equal(first.headers["cache-status"], MISS_STORED);
  const second = await get(at, `${origin.url}/releases/v1/tool.bin`);
  assert.equal(second.text, body);
  assert.match(second.headers["cache-status"] ?? "", FOREVER_HIT);
  assert.equal(origin.count("/releases/v1/tool.bin"), 1);

  // Outside the rule, no-store is obeyed.
  await get(at, `${origin.url}/other/tool.bin`);
  await get(at, `${origin.url}/other/tool.bin`);
  assert.equal(origin.count("/other/tool.bin"), 2);

  // cache: false — passed through, although the response says max-age=60.
  const api1 = await get(at, `${origin.url}/api/status`);
  const api2 = await get(at, `${origin.url}/api/status`);
  assert.equal(api1.text, "status 0\n");
  assert.equal(api2.text, "status 1\n");
  assert.equal(api2.headers["cache-status"], "hoard; fwd=bypass; detail=rule");
  assert.equal(origin.count("/api/status"), 2);
  assert.equal((await hoard.stop()).code, 0);
});

Deno.test("a bad --config file: exit 2, one line naming the file and the key", async () => {
  await using dir = await tempDir();
  const config = `${dir.path}/hoard.jsonc`;
  await Deno.writeTextFile(
    config,
    '{\n  // one good rule, one bad\n  "rules": [\n    { "match": { "path": "/a/**" }, "ttl": 60 },\n' +
      '    { "match": { "path": "/b/**" }, "ttl": "an hour" },\n  ],\n}\n',
  );
  const r = await runHoard(["--config", config, "--port", "0", "--cache-dir", `${dir.path}/c`]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `hoard: ${config}: rules[1].ttl: expected a number of seconds above 0, got "an hour"\n`,
  );

  await Deno.writeTextFile(config, '{ "presets": { "artifacts": "no" } }');
  const p = await runHoard(["--config", config, "--port", "0", "--cache-dir", `${dir.path}/c`]);
  assert.equal(p.code, 2);
  assert.equal(p.stderr, `hoard: ${config}: presets.artifacts: expected true or false\n`);

  const missing = `${dir.path}/nope.jsonc`;
  const m = await runHoard(["--config", missing, "--port", "0", "--cache-dir", `${dir.path}/c`]);
  assert.equal(m.code, 2);
  assert.match(m.stderr, new RegExp(`^hoard: ${missing}: cannot read: [^\\n]+\\n$`));
});

/** An origin that answers any path with a body naming the path it got. */
function echoOrigin() {
  return startOrigin((req) => {
    const u = new URL(req.url);
    return new Response(`object at ${u.pathname}\n`, {
      headers: { "cache-control": "max-age=60" },
    });
  });
}

const SIGNED_1 = "/bucket/tool.tgz.bin?v=1&X-Amz-Algorithm=AWS4-HMAC-SHA256" +
  "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-Signature=aaaa1111&Expires=1767225600";
const SIGNED_2 = "/bucket/tool.tgz.bin?v=1&X-Amz-Algorithm=AWS4-HMAC-SHA256" +
  "&X-Amz-Date=20260102T000000Z&X-Amz-Expires=300&X-Amz-Signature=bbbb2222&Expires=1767312000";

Deno.test("signed URLs: requests differing only in signature share one entry; the origin gets the full URL", async () => {
  await using origin = echoOrigin();
  await using proxy = await startTestProxy();
  const first = await get(proxy, origin.url + SIGNED_1);
  assert.equal(first.text, "object at /bucket/tool.tgz.bin\n");
  assert.equal(first.headers["cache-status"], MISS_STORED);
  const second = await get(proxy, origin.url + SIGNED_2);
  assert.equal(second.text, "object at /bucket/tool.tgz.bin\n");
  assert.match(second.headers["cache-status"] ?? "", /^hoard; hit; ttl=\d+$/);
  assert.equal(origin.requests.length, 1);
  // The origin was asked with the whole signed query, byte for byte.
  assert.equal(origin.requests[0]!.path, SIGNED_1);
  // The entry is keyed without the signature parameters.
  const metas = await storedMetas(proxy.cacheDir);
  assert.deepEqual(metas.map((m) => m.key), [`${origin.url}/bucket/tool.tgz.bin?v=1`]);

  // A parameter that is not a signature keeps URLs apart.
  const v2 = SIGNED_1.replace("v=1", "v=2");
  const third = await get(proxy, origin.url + v2);
  assert.equal(third.headers["cache-status"], MISS_STORED);
  assert.equal(origin.requests.length, 2);
  assert.equal(origin.requests[1]!.path, v2);
  const plain1 = await get(proxy, `${origin.url}/plain?v=1`);
  const plain2 = await get(proxy, `${origin.url}/plain?v=2`);
  assert.equal(plain1.headers["cache-status"], MISS_STORED);
  assert.equal(plain2.headers["cache-status"], MISS_STORED);
  assert.equal(origin.requests.length, 4);
});

Deno.test("signed URLs with the preset off: one entry per signature, each fetched in full", async () => {
  await using origin = echoOrigin();
  await using proxy = await startTestProxy({ presets: { signedUrls: false } });
  const first = await get(proxy, origin.url + SIGNED_1);
  const second = await get(proxy, origin.url + SIGNED_2);
  assert.equal(first.headers["cache-status"], MISS_STORED);
  assert.equal(second.headers["cache-status"], MISS_STORED);
  assert.deepEqual(origin.requests.map((r) => r.path), [SIGNED_1, SIGNED_2]);
  // Each is a hit for its own URL.
  assert.match((await get(proxy, origin.url + SIGNED_2)).headers["cache-status"] ?? "", /hit/);
  assert.equal(origin.requests.length, 2);
});

Deno.test("the request's log line names the rule that decided it: a preset, an unnamed config rule, none", async () => {
  const body = () => new Response("x", { headers: { "cache-control": "max-age=60" } });
  await using origin = startRoutedOrigin({
    "/pkg/-/pkg-1.0.0.tgz": body,
    "/internal/data": body,
    "/plain": body,
  });
  const rules = [{ match: { path: "/internal/**" }, ttl: 60 }];
  for (const logFormat of ["text", "json"] as const) {
    await using proxy = await startTestProxy({ rules, logFormat });
    for (const p of ["/pkg/-/pkg-1.0.0.tgz", "/internal/data", "/plain"]) {
      await get(proxy, origin.url + p);
    }
    assert.equal(proxy.logs.length, 3, proxy.logs.join("\n"));
    if (logFormat === "text") {
      assert.match(proxy.logs[0]!, / miss rule="npm tarball"$/);
      assert.match(proxy.logs[1]!, / miss rule="rules\[0\]"$/);
      assert.match(proxy.logs[2]!, / miss$/);
    } else {
      const logged = proxy.logs.map((l) => JSON.parse(l).rule);
      assert.deepEqual(logged, ["npm tarball", "rules[0]", undefined]);
    }
  }
});
