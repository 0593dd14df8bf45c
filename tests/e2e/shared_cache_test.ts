/**
 * The shared tier against a real Ceph RADOS Gateway (started by
 * scripts/ceph.sh): hoards on separate cache directories share one bucket;
 * the tier failing — killed mid-upload, stopped, answering 5xx or nothing,
 * holding corrupt objects — never fails a request nor serves wrong bytes.
 */

import assert from "node:assert/strict";
import { curl } from "../_helpers/clients.ts";
import { get, pseudoRandom, sha256, sleep, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { type HoardProcess, runHoard, startHoardProcess } from "../_helpers/process.ts";
import { startTestProxy, type TestProxy } from "../_helpers/proxy.ts";
import { rgw, stopRgw } from "../_helpers/rgw.ts";
import { S3Store } from "../../src/cache/shared/s3.ts";
import { parseS3Url } from "../../src/cache/shared/s3_settings.ts";
import { objectName } from "../../src/cache/shared/object.ts";
import { storeId } from "../../src/cache/key.ts";
import { concat } from "../_helpers/sockets.ts";

const KiB = 1024, MiB = 1024 * KiB;
const SHARED_HIT = /^hoard; hit; ttl=\d+; detail=shared$/;
const LOCAL_HIT = /^hoard; hit; ttl=\d+$/;

async function bucket(name: string): Promise<S3Store> {
  const r = await rgw();
  const s = await S3Store.open(parseS3Url(`s3://${name}`), (n) => r.env[n as keyof typeof r.env], {
    firstByteMs: 5000,
  });
  await s.createBucket();
  return s;
}

/** The environment of a hoard process pointed at the test gateway. */
async function processEnv(): Promise<Record<string, string>> {
  return { ...Deno.env.toObject(), ...(await rgw()).env, HOARD_SHARED_CACHE: "" };
}

async function hoardProcess(bucketName: string, dir: string): Promise<HoardProcess> {
  const p = await startHoardProcess(
    ["--cache-dir", dir, "--shared-cache", `s3://${bucketName}/fleet`],
    undefined,
    await processEnv(),
  );
  // hoard listens at once; the shared tier is used once its client is loaded.
  await waitFor(async () => metric(await metrics(p.url), "hoard_shared_up") === 1);
  return p;
}

/** An in-process hoard with the shared tier at `endpoint` (the gateway by default). */
async function hoard(
  bucketName: string,
  extra: { endpoint?: string; timeoutMs?: number } = {},
): Promise<TestProxy> {
  const r = await rgw();
  const env: Record<string, string> = {
    ...r.env,
    ...(extra.endpoint === undefined ? {} : { AWS_ENDPOINT_URL: extra.endpoint }),
  };
  const proxy = await startTestProxy({
    sharedCache: `s3://${bucketName}/fleet`,
    sharedEnv: (n) => env[n],
    ...(extra.timeoutMs === undefined ? {} : { sharedTimeoutMs: extra.timeoutMs }),
    logLevel: "warn",
  });
  // The SDK loads in the background; tests want the tier from the first request.
  await waitFor(async () => metric(await metrics(proxy.url), "hoard_shared_up") === 1);
  return proxy;
}

async function metrics(proxyUrl: string): Promise<string> {
  const r = await curl(["--max-time", "5", `${proxyUrl}/_hoard/metrics`]);
  return r.text;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "m").exec(text);
  return m === null ? NaN : Number(m[1]);
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await sleep(20);
  }
}

Deno.test("two hoards on two cache directories share one bucket: the second never asks the origin", async () => {
  await bucket("e2e-fleet");
  const tarball = pseudoRandom(3 * MiB + 17, 11); // multipart upload, streamed check
  const wheel = pseudoRandom(200 * KiB, 12);
  const cc = { "cache-control": "max-age=3600" };
  await using origin = startRoutedOrigin({
    "/pkg.tgz": () => new Response(tarball, { headers: cc }),
    "/pkg.whl": () => new Response(wheel, { headers: cc }),
    "/index.json": () => new Response('{"v":1}\n', { headers: { ...cc, etag: '"i1"' } }),
    "/lang": (req) =>
      new Response(`in ${req.headers.get("accept-language")}\n`, {
        headers: { ...cc, vary: "Accept-Language" },
      }),
  });
  const requests: [string, string[], Uint8Array | string][] = [
    ["/pkg.tgz", [], tarball],
    ["/pkg.whl", [], wheel],
    ["/index.json", [], '{"v":1}\n'],
    ["/lang", ["-H", "Accept-Language: fr"], "in fr\n"],
    ["/lang", ["-H", "Accept-Language: nl"], "in nl\n"],
  ];
  const dirA = await Deno.makeTempDir({ prefix: "hoard-fleet-a-" });
  const dirB = await Deno.makeTempDir({ prefix: "hoard-fleet-b-" });
  try {
    {
      await using a = await hoardProcess("e2e-fleet", dirA);
      for (const [path, args, body] of requests) {
        const r = await get({ url: a.url, cacheDir: dirA }, `${origin.url}${path}`, ...args);
        assert.match(r.headers["cache-status"]!, /fwd=(uri|vary)-miss; stored/, path);
        assert.equal(sha256(r.body), sha256(asBytes(body)), path);
      }
      assert.equal(origin.requests.length, 5);
      // Shutdown waits for the uploads behind the clients.
      const status = await a.stop("SIGTERM");
      assert.equal(status.code, 0, a.stderr());
      assert.match(a.stderr(), /shared cache: 0 hits, 5 misses, .*5 uploaded/, a.stderr());
    }
    {
      await using b = await hoardProcess("e2e-fleet", dirB);
      for (const [path, args, body] of requests) {
        const r = await get({ url: b.url, cacheDir: dirB }, `${origin.url}${path}`, ...args);
        assert.equal(r.status, 200, path);
        assert.match(r.headers["cache-status"]!, SHARED_HIT, path);
        assert.equal(sha256(r.body), sha256(asBytes(body)), path);
      }
      assert.equal(origin.requests.length, 5, "the origin's request counter is unchanged");
      // Now in B's own directory: local hits.
      await sleep(100);
      for (const [path, args] of requests) {
        const r = await get({ url: b.url, cacheDir: dirB }, `${origin.url}${path}`, ...args);
        assert.match(r.headers["cache-status"]!, LOCAL_HIT, path);
      }
      const m = await metrics(b.url);
      assert.equal(metric(m, "hoard_shared_hits_total"), 5);
      assert.equal(metric(m, "hoard_shared_uploads_total"), 0, "nothing new to upload");
      assert.equal(origin.requests.length, 5);
    }
    const stats = await runHoard(
      ["stats", "--shared", "--shared-cache", "s3://e2e-fleet/fleet"],
      await processEnv(),
    );
    assert.equal(stats.code, 0, stats.stderr);
    // Five entries and the vary index of /lang.
    assert.match(stats.stdout, /: 6 objects, 3\.\d MiB/);
  } finally {
    await Deno.remove(dirA, { recursive: true }).catch(() => {});
    await Deno.remove(dirB, { recursive: true }).catch(() => {});
  }
});

Deno.test("a stale shared entry is revalidated once, and the 304 refreshes both tiers", async () => {
  await bucket("e2e-stale");
  const body = pseudoRandom(100 * KiB, 21);
  await using origin = startRoutedOrigin({
    "/meta": (req) =>
      req.headers.get("if-none-match") === '"m1"'
        ? new Response(null, {
          status: 304,
          headers: { etag: '"m1"', "cache-control": "max-age=2" },
        })
        : new Response(body, { headers: { etag: '"m1"', "cache-control": "max-age=2" } }),
  });
  const url = `${origin.url}/meta`;
  {
    await using a = await hoard("e2e-stale");
    const r = await get(a, url);
    assert.match(r.headers["cache-status"]!, /fwd=uri-miss; stored/);
  } // closed: the upload is done
  await sleep(2100); // stale now
  {
    await using b = await hoard("e2e-stale");
    const r = await get(b, url);
    assert.equal(r.headers["cache-status"], "hoard; fwd=stale; fwd-status=304; detail=shared");
    assert.equal(sha256(r.body), sha256(body));
    assert.equal(origin.requests.length, 2);
    assert.equal(
      origin.requests[1]!.headers.get("if-none-match"),
      '"m1"',
      "one conditional request",
    );
    await sleep(100);
    assert.match(
      (await get(b, url)).headers["cache-status"]!,
      LOCAL_HIT,
      "B's local tier refreshed",
    );
  } // closed: the refreshed entry is uploaded
  {
    await using c = await hoard("e2e-stale");
    const r = await get(c, url);
    assert.match(r.headers["cache-status"]!, SHARED_HIT, "the shared tier was refreshed too");
    assert.equal(sha256(r.body), sha256(body));
  }
  assert.equal(origin.requests.length, 2, "revalidated once in all");
});

Deno.test("a corrupted object in the bucket is never served: deleted, and the origin asked", async () => {
  const s3 = await bucket("e2e-corrupt");
  const small = pseudoRandom(10 * KiB, 31);
  const large = pseudoRandom(3 * MiB, 32);
  const cc = { "cache-control": "max-age=3600" };
  await using origin = startRoutedOrigin({
    "/small": () => new Response(small, { headers: cc }),
    "/large": () => new Response(large, { headers: cc }),
  });
  {
    await using a = await hoard("e2e-corrupt");
    await get(a, `${origin.url}/small`);
    await get(a, `${origin.url}/large`);
  }
  // Flip one byte near the end of each body, keeping the length: only the SHA-256 can tell.
  for (const path of ["/small", "/large"]) {
    const key = `fleet/${objectName(storeId(`${origin.url}${path}`))}`;
    const obj = await s3.get(key);
    assert.ok(obj !== undefined, `${path} was uploaded`);
    const bytes = await collect(obj.body);
    bytes[bytes.length - 5]! ^= 0xff;
    await s3.put(key, bytes);
  }
  await using b = await hoard("e2e-corrupt");
  // Small: checked before anything is sent, so the client gets the origin's bytes at once.
  const r1 = await get(b, `${origin.url}/small`);
  assert.equal(sha256(r1.body), sha256(small));
  assert.match(r1.headers["cache-status"]!, /fwd=uri-miss; stored/);
  // Large: checked while it streams; the last piece is withheld, the response cut.
  const r2 = await curl(["--max-time", "20", "-x", b.url, `${origin.url}/large`]);
  assert.notEqual(r2.code, 0, "the client sees an incomplete response");
  assert.ok(r2.body.length < large.length, "never the whole corrupt body");
  assert.notEqual(sha256(r2.body), sha256(large));
  await sleep(200);
  const r3 = await get(b, `${origin.url}/large`);
  assert.equal(sha256(r3.body), sha256(large), "the next request gets the origin's bytes");
  const m = await metrics(b.url);
  assert.equal(metric(m, "hoard_shared_corrupt_total"), 2);
  assert.equal(origin.requests.length, 4);
  // Both corrupt objects were deleted (the origin's copies replace them behind the clients).
  assert.ok(b.logs.some((l) => /failed its SHA-256; deleted from the shared cache/.test(l)));
  s3.close();
});

Deno.test("RGW killed in the middle of an upload: no hoard serves anything wrong", async () => {
  const s3 = await bucket("e2e-kill");
  const r = await rgw();
  const big = pseudoRandom(48 * MiB, 41);
  await using origin = startRoutedOrigin({
    "/big": () => new Response(big, { headers: { "cache-control": "max-age=3600" } }),
  });
  const url = `${origin.url}/big`;
  let uploaded: boolean;
  {
    await using a = await hoard("e2e-kill");
    const got = await get(a, url);
    assert.equal(sha256(got.body), sha256(big));
    // The upload (6 parts of 8 MiB) starts after the local commit: kill the gateway under it.
    await waitFor(async () => {
      for await (const _ of Deno.readDir(`${a.cacheDir}/tmp`)) return false;
      return true;
    });
    await sleep(150);
    await r.kill();
    await sleep(300);
    await r.restart();
    const summary = a.summary();
    uploaded = (summary.shared?.uploads ?? 0) > 0;
    console.log(
      `upload when the gateway was killed: ${
        uploaded ? "had completed" : `failed (${JSON.stringify(summary.shared?.failures)})`
      }`,
    );
  }
  // Whatever the bucket holds is whole or absent.
  const obj = await s3.get(`fleet/${objectName(storeId(url))}`);
  if (obj !== undefined) {
    console.log("object present after the kill:", obj.length, "bytes");
    obj.cancel();
  }
  await using b = await hoard("e2e-kill");
  const got = await get(b, url);
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), sha256(big), "right bytes, from the bucket or the origin");
  s3.close();
});

Deno.test("a shared tier that is down, answers 5xx or never answers adds no error and bounded latency", async () => {
  await bucket("e2e-down");
  const r = await rgw();
  const paths = Array.from({ length: 12 }, (_, i) => `/f${i}`);
  await using origin = startRoutedOrigin(
    Object.fromEntries(
      paths.map((
        p,
      ) => [p, () => new Response(`${p}\n`, { headers: { "cache-control": "max-age=60" } })]),
    ),
  );
  // A store answering 503 to everything, and one that accepts and says nothing.
  const failing = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("<Error><Code>SlowDown</Code></Error>", { status: 503 }),
  );
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })();
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = dead.addr.port;
  dead.close();
  const cases: [string, string | undefined][] = [
    ["none (baseline)", "none"],
    ["gateway stopped", "rgw-stopped"],
    ["5xx", `http://127.0.0.1:${failing.addr.port}`],
    ["never answers", `http://127.0.0.1:${silent.addr.port}`],
    ["nothing listening", `http://127.0.0.1:${deadPort}`],
  ];
  const lines: string[] = [];
  try {
    for (const [label, endpoint] of cases) {
      if (endpoint === "rgw-stopped") await r.kill();
      await using p = endpoint === "none"
        ? await startTestProxy({ logLevel: "warn" })
        : await hoard("e2e-down", endpoint === "rgw-stopped" ? {} : { endpoint });
      const times: number[] = [];
      for (const path of paths) {
        // A fresh cache directory per case: every request is a miss.
        const t = performance.now();
        const res = await get(p, `${origin.url}${path}`);
        times.push(performance.now() - t);
        assert.equal(res.status, 200, `${label} ${path}`);
        assert.equal(res.text, `${path}\n`);
      }
      const max = Math.max(...times), total = times.reduce((a, b) => a + b, 0);
      const skipped = endpoint === "none"
        ? "-"
        : metric(await metrics(p.url), "hoard_shared_skipped_total");
      lines.push(
        `${label}: ${paths.length} misses in ${total.toFixed(0)} ms, slowest ${
          max.toFixed(0)
        } ms, first ${times[0]!.toFixed(0)} ms, skipped by the breaker ${skipped}`,
      );
      // At most the first-byte timeout (0.3 s) per miss until the breaker opens after five failures.
      assert.ok(max < 1500, `${label}: slowest miss ${max} ms`);
      assert.ok(total < 5 * 300 + 2000, `${label}: ${total} ms in all`);
      if (endpoint === "rgw-stopped") await r.restart();
    }
  } finally {
    console.log(lines.join("\n"));
    await failing.shutdown();
    silent.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});

Deno.test("stop the RGW of this file", async () => {
  await stopRgw();
});

function asBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return concat(chunks);
}
