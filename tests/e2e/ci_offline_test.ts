/**
 * Offline mode end to end: a cache directory warmed by an online hoard is
 * served by an offline one — every stored response, whatever its age — and
 * nothing ever reaches an origin: misses, unsafe methods and plain tunnels get
 * 504, and the misses are listed in the run summary.
 */

import assert from "node:assert/strict";
import { get, sleep, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { startHoardProcess } from "../_helpers/process.ts";
import { startOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { makeCert } from "../_helpers/tls.ts";
import { tempDir } from "./ci_helpers.ts";

const ROUTES = {
  "/fresh": () =>
    new Response("fresh for a minute\n", { headers: { "cache-control": "max-age=60" } }),
  "/stale": () =>
    new Response("stale after a second\n", {
      headers: { "cache-control": "max-age=1", etag: '"s1"' },
    }),
  "/must": () =>
    new Response("must revalidate\n", {
      headers: { "cache-control": "max-age=1, must-revalidate" },
    }),
};

Deno.test("offline: stored responses are hits whatever their age; misses, POST and tunnels get 504", async () => {
  await using dir = await tempDir();
  await using origin = startRoutedOrigin(ROUTES);
  {
    await using online = await startTestProxy({ cacheDir: dir.path });
    for (const p of Object.keys(ROUTES)) {
      assert.equal(
        (await get(online, origin.url + p)).headers["cache-status"],
        "hoard; fwd=uri-miss; stored",
      );
    }
  }
  assert.equal(origin.requests.length, 3);
  await sleep(1100);

  // The origin is still up: offline must not ask it anything.
  await using offline = await startTestProxy({
    cacheDir: dir.path,
    offline: true,
    connectPorts: [origin.port],
  });
  const fresh = await get(offline, origin.url + "/fresh");
  assert.equal(fresh.status, 200);
  assert.equal(fresh.text, "fresh for a minute\n");
  assert.match(fresh.headers["cache-status"] ?? "", /^hoard; hit; ttl=5\d$/);

  for (const [p, body] of [["/stale", "stale after a second\n"], ["/must", "must revalidate\n"]]) {
    const r = await get(offline, origin.url + p);
    assert.equal(r.status, 200, p);
    assert.equal(r.text, body, p);
    assert.match(r.headers["cache-status"] ?? "", /^hoard; hit; ttl=-\d+; detail=offline$/, p);
    assert.match(r.headers["age"] ?? "", /^[1-9]\d*$/, p);
  }
  // A client that asks for revalidation still gets the stored response.
  const nocache = await get(offline, origin.url + "/stale", "-H", "Cache-Control: no-cache");
  assert.equal(nocache.text, "stale after a second\n");

  const missUrl = `${origin.url}/missing?x=1`;
  const miss = await get(offline, missUrl);
  assert.equal(miss.status, 504);
  assert.equal(miss.text, `504 Gateway Timeout: offline: ${missUrl} is not in the cache\n`);
  assert.match(miss.headers["proxy-status"] ?? "", /^hoard; error=http_request_error/);

  const post = await get(offline, origin.url + "/fresh", "-X", "POST", "--data-binary", "x");
  assert.equal(post.status, 504);
  assert.match(
    post.text,
    /^504 Gateway Timeout: offline: POST http:\/\/127\.0\.0\.1:\d+\/fresh needs the origin\n$/,
  );

  const tunnel = await rawExchange(
    offline.port,
    `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`,
  );
  assert.match(tunnel.text, /^HTTP\/1\.1 504 /);
  assert.ok(
    tunnel.text.includes(`offline: a tunnel to 127.0.0.1:${origin.port} needs the origin`),
    tunnel.text,
  );

  assert.equal(origin.requests.length, 3, "offline, the origin saw nothing");
  // The POST did not invalidate the stored response either.
  assert.equal((await get(offline, origin.url + "/fresh")).text, "fresh for a minute\n");

  const s = offline.summary();
  assert.deepEqual(s.offlineMisses, [missUrl]);
  assert.equal(s.hits, 5);
  assert.equal(s.misses, 1);
});

Deno.test("offline: a stale entry is served even when its origin is gone", async () => {
  await using dir = await tempDir();
  const origin = startRoutedOrigin(ROUTES);
  try {
    await using online = await startTestProxy({ cacheDir: dir.path });
    await get(online, origin.url + "/stale");
  } finally {
    await origin.close();
  }
  await sleep(1100);
  await using offline = await startTestProxy({ cacheDir: dir.path, offline: true });
  const r = await get(offline, origin.url + "/stale");
  assert.equal(r.status, 200);
  assert.equal(r.text, "stale after a second\n");
  assert.match(r.headers["cache-status"] ?? "", /detail=offline$/);
  assert.equal(origin.requests.length, 1);
});

Deno.test({
  name: "offline: a stale-while-revalidate entry is served without a background refresh",
  fn: async () => {
    await using dir = await tempDir();
    await using origin = startRoutedOrigin({
      "/swr": (_req, n) =>
        new Response(`version ${n}\n`, {
          headers: { "cache-control": "max-age=1, stale-while-revalidate=60" },
        }),
    });
    {
      await using online = await startTestProxy({ cacheDir: dir.path });
      await get(online, origin.url + "/swr");
    }
    await sleep(1100);
    await using offline = await startTestProxy({ cacheDir: dir.path, offline: true });
    const r = await get(offline, origin.url + "/swr");
    assert.equal(r.text, "version 0\n");
    await sleep(200);
    assert.equal(origin.count("/swr"), 1, "offline, the origin is never asked");
  },
});

Deno.test("offline child process: 504 for a miss, the summary at exit lists it", async () => {
  await using dir = await tempDir();
  await using origin = startRoutedOrigin(ROUTES);
  {
    await using online = await startTestProxy({ cacheDir: dir.path });
    await get(online, origin.url + "/fresh");
  }
  await using hoard = await startHoardProcess(["--offline", "--cache-dir", dir.path]);
  const hit = await curl(["--max-time", "10", "-x", hoard.url, `${origin.url}/fresh`]);
  assert.equal(hit.status, 200);
  assert.equal(hit.text, "fresh for a minute\n");
  const missUrl = `${origin.url}/not-warmed.tgz`;
  const miss = await curl(["--max-time", "10", "-x", hoard.url, missUrl]);
  assert.equal(miss.status, 504);
  assert.ok(miss.text.includes(missUrl), miss.text);
  const status = await hoard.stop("SIGTERM");
  assert.equal(status.code, 0);
  const stderr = hoard.stderr();
  assert.ok(
    stderr.includes(`hoard: offline, not in the cache (1):\n  ${missUrl}\n`),
    stderr,
  );
  assert.match(stderr, /hoard: 2 requests in \d+ s: 1 hits, 1 misses \(50% hits\)/);
  assert.equal(origin.requests.length, 1);
});

Deno.test("offline with interception: a stored https response is served inside the tunnel", async () => {
  await using dir = await tempDir();
  const cert = await makeCert();
  await using origin = startOrigin(
    () => new Response("secure and stored\n", { headers: { "cache-control": "max-age=1" } }),
    cert,
  );
  const options = {
    cacheDir: dir.path,
    intercept: ["localhost"],
    connectPorts: [origin.port],
    upstreamCaCerts: [cert.cert],
  };
  const url = `https://localhost:${origin.port}/secure.bin`;
  const caFile = `${dir.path}/ca/ca.pem`;
  {
    await using online = await startTestProxy(options);
    assert.equal((await get(online, url, "--cacert", caFile)).text, "secure and stored\n");
  }
  await sleep(1100);
  await using offline = await startTestProxy({ ...options, offline: true });
  const r = await get(offline, url, "--cacert", caFile);
  assert.equal(r.status, 200);
  assert.equal(r.text, "secure and stored\n");
  assert.match(r.headers["cache-status"] ?? "", /detail=offline$/);
  const miss = await get(offline, `https://localhost:${origin.port}/other`, "--cacert", caFile);
  assert.equal(miss.status, 504);
  assert.equal(origin.requests.length, 1);
  assert.deepEqual(offline.summary().offlineMisses, [`https://localhost:${origin.port}/other`]);
});
