/**
 * Serving on every core (`workers`): threads sharing one port and one cache
 * directory behave as one hoard — one origin request per URL among all of
 * them, an entry stored by one is a hit in every other, one size cap, one
 * set of counters — driven by many clients, each on its own connection so
 * that the kernel spreads them over the threads.
 */

import assert from "node:assert/strict";
import { curl } from "../_helpers/clients.ts";
import {
  cacheSettled,
  pseudoRandom,
  sha256,
  sleep,
  slowBody,
  startRoutedOrigin,
} from "../_helpers/cache_origin.ts";
import { many, viaCurl } from "../_helpers/many_clients.ts";
import { startOrigin, startRawOrigin } from "../_helpers/origin.ts";
import { makeCert } from "../_helpers/tls.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

const MiB = 1024 * 1024;

/** A counter's value on hoard's metrics page (every thread's, summed). */
async function metric(proxyUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${proxyUrl}/_hoard/metrics`)).text();
  const lines = text.split("\n").filter((l) => l.startsWith(name));
  return lines.reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

/** Requests the main thread itself answered (the proxy handle's own counters). */
function mainThreadRequests(proxy: { stats(): { report: { requests: number } } }): number {
  return proxy.stats().report.requests;
}

Deno.test("workers: 100 clients on their own connections, one slow 8 MiB response: one origin request, every thread serves", async () => {
  const body = pseudoRandom(8 * MiB, 11);
  const expected = sha256(body);
  await using origin = startRoutedOrigin({
    "/big.bin": async () => {
      await sleep(300);
      return new Response(slowBody(body, MiB, 30), {
        headers: { "cache-control": "max-age=60", "content-type": "application/octet-stream" },
      });
    },
  });
  await using proxy = await startTestProxy({ logLevel: "warn", workers: 2 });
  using client = Deno.createHttpClient({ proxy: { url: proxy.url } });

  const got = await many(100, proxy, client, `${origin.url}/big.bin`);

  assert.equal(origin.count("/big.bin"), 1);
  for (const [i, g] of got.entries()) {
    assert.equal(g.status, 200, `client ${i}`);
    assert.equal(g.length, body.length, `client ${i}`);
    assert.equal(g.hash, expected, `client ${i}`);
  }
  const statuses = got.map((g) => g.cacheStatus);
  const leaders = statuses.filter((s) => s === "hoard; fwd=uri-miss; stored");
  assert.equal(leaders.length, 1, statuses.join("\n"));
  // Both threads answered some: the main one not all, not none.
  const total = await metric(proxy.url, "hoard_requests_total{route=");
  const main = mainThreadRequests(proxy);
  assert.ok(main > 0 && main < total, `main thread answered ${main} of ${total}`);
  assert.deepEqual(proxy.logs, [], "no warnings or errors");
});

Deno.test("workers: what one thread stored is a hit on every connection; a POST's invalidation reaches them all", async () => {
  let version = 1;
  await using origin = startRoutedOrigin({
    "/pkg.json": () =>
      new Response(`{"version":${version}}`, {
        headers: { "cache-control": "max-age=600", "content-type": "application/json" },
      }),
  });
  await using proxy = await startTestProxy({ logLevel: "warn", workers: 2 });
  const url = `${origin.url}/pkg.json`;
  assert.equal((await viaCurl(proxy.url, url)).cacheStatus, "hoard; fwd=uri-miss; stored");
  await cacheSettled(proxy.cacheDir);

  // 30 new connections (curl opens one each): whichever thread takes one, it is a hit.
  const hits = await Promise.all(Array.from({ length: 30 }, () => viaCurl(proxy.url, url)));
  for (const h of hits) assert.match(h.cacheStatus, /^hoard; hit; ttl=\d+$/);
  assert.equal(origin.count("/pkg.json"), 1);

  // An unsafe method through one thread invalidates the URL in all of them.
  version = 2;
  const post = await curl(["-sS", "-x", proxy.url, "-X", "POST", "--data", "x", url]);
  assert.equal(post.code, 0, post.stderr);
  await sleep(50); // the other threads hear of it through the main one
  const after = await Promise.all(
    Array.from({ length: 20 }, () => curl(["-sS", "-x", proxy.url, url])),
  );
  for (const a of after) assert.equal(new TextDecoder().decode(a.body), '{"version":2}');
  // The POST, then one GET for all twenty.
  assert.equal(origin.count("/pkg.json"), 3);
});

Deno.test("workers: one size cap for all threads: entries stored by any of them are evicted by the main one", async () => {
  const body = pseudoRandom(200 * 1024, 5);
  await using origin = startRoutedOrigin(Object.fromEntries(
    Array.from({ length: 15 }, (_, i) => [
      `/${i}`,
      () =>
        new Response(body, {
          headers: { "cache-control": "max-age=600", "content-type": "application/octet-stream" },
        }),
    ]),
  ));
  const cap = 1 * MiB;
  await using proxy = await startTestProxy({ logLevel: "info", workers: 2, maxSize: cap });
  // 15 entries of 200 KiB (3 MiB), on connections of their own: most land outside the main thread.
  for (let i = 0; i < 15; i++) {
    const r = await curl(["-sS", "-x", proxy.url, `${origin.url}/${i}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  await cacheSettled(proxy.cacheDir);
  let bytes = Infinity;
  for (let i = 0; i < 100 && bytes > cap; i++) {
    await sleep(20);
    bytes = await metric(proxy.url, "hoard_cache_bytes");
  }
  assert.ok(bytes <= cap, `the cache holds ${bytes} bytes, over its cap of ${cap}`);
  assert.ok(
    proxy.logs.some((l) => /evicted \d+ least recently used/.test(l)),
    "no eviction logged",
  );
  // And on disk too: the bodies left add up to no more than the cap.
  let onDisk = 0;
  for await (const shard of Deno.readDir(`${proxy.cacheDir}/data`)) {
    for await (const f of Deno.readDir(`${proxy.cacheDir}/data/${shard.name}`)) {
      if (f.name.endsWith(".body")) {
        onDisk += (await Deno.stat(`${proxy.cacheDir}/data/${shard.name}/${f.name}`)).size;
      }
    }
  }
  assert.ok(onDisk <= cap, `${onDisk} bytes of bodies on disk`);
});

Deno.test("workers: the run's summary counts every thread's requests, each once", async () => {
  await using origin = startRoutedOrigin(Object.fromEntries(
    Array.from({ length: 8 }, (_, i) => [
      `/${i}`,
      () => new Response("small", { headers: { "cache-control": "max-age=600" } }),
    ]),
  ));
  const dir = await Deno.makeTempDir({ prefix: "hoard-workers-" });
  const summaryJson = `${dir}/summary.json`;
  const proxy = await startTestProxy({ logLevel: "info", workers: 2, summaryJson });
  // Each URL five times in a row, each on a new connection: the second often comes to
  // another thread before it heard of the first's entry (it reads the store then).
  const urls = Array.from({ length: 40 }, (_, i) => `${origin.url}/${Math.floor(i / 5)}`);
  for (const url of urls) {
    const r = await curl(["-sS", "-x", proxy.url, url]);
    assert.equal(r.code, 0, r.stderr);
  }
  const main = mainThreadRequests(proxy);
  await proxy.close();
  const summary = JSON.parse(await Deno.readTextFile(summaryJson));
  await Deno.remove(dir, { recursive: true });
  assert.ok(main < 40, `the main thread answered all ${main}: the test proves nothing`);
  assert.equal(summary.requests, 40);
  // Every thread's request lines reach the one log sink, whole.
  assert.equal(proxy.logs.filter((l) => / GET http:\/\/\S+ 200 5B /.test(l)).length, 40);
  assert.equal(summary.hits + summary.misses, 40);
  const fetched = Array.from({ length: 8 }, (_, i) => origin.count(`/${i}`));
  assert.equal(summary.misses, fetched.reduce((a, b) => a + b));
  assert.deepEqual(fetched, Array(8).fill(1));
});

Deno.test("workers: a fill cut by its origin cuts every follower in every thread, and nothing is stored", async () => {
  // An origin that announces 4 MiB, sends 1 MiB slowly, and closes.
  await using origin = startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    const head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n" +
      `Content-Length: ${4 * MiB}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    const piece = pseudoRandom(256 * 1024, 3);
    for (let i = 0; i < 4; i++) {
      await sleep(100);
      await conn.write(piece);
    }
  });
  await using proxy = await startTestProxy({ logLevel: "error", workers: 2 });
  const url = `${origin.url}/cut.bin`;
  const got = await Promise.all(
    Array.from({ length: 12 }, () => curl(["-sS", "--max-time", "20", "-x", proxy.url, url])),
  );
  // curl: 18 (partial file) — never a hang (28) or a whole body.
  for (const g of got) assert.equal(g.code, 18, `curl exited ${g.code}: ${g.stderr}`);
  assert.equal(origin.connections, 1);
  // Nothing whole was stored: the next request goes to the origin again.
  await cacheSettled(proxy.cacheDir);
  const again = await curl(["-sS", "--max-time", "20", "-x", proxy.url, url]);
  assert.equal(again.code, 18);
  assert.equal(origin.connections, 2);
});

Deno.test("workers: intercepted https on every thread — each loads the CA, one origin request for 24 tunnels", async () => {
  const body = pseudoRandom(300 * 1024, 9);
  const cert = await makeCert();
  await using origin = startOrigin(async () => {
    await sleep(200);
    return new Response(body, { headers: { "cache-control": "max-age=60" } });
  }, cert);
  await using proxy = await startTestProxy({
    logLevel: "warn",
    workers: 2,
    intercept: ["*"],
    connectPorts: [origin.port],
    upstreamCaCerts: [cert.cert],
  });
  const url = `https://localhost:${origin.port}/pkg.tgz`;
  const caFile = `${proxy.cacheDir}/ca/ca.pem`;
  const got = await Promise.all(
    Array.from(
      { length: 24 },
      () => curl(["-sS", "--max-time", "20", "-x", proxy.url, "--cacert", caFile, url]),
    ),
  );
  for (const g of got) {
    assert.equal(g.code, 0, g.stderr);
    assert.equal(sha256(g.body), sha256(body));
  }
  assert.equal(origin.requests.length, 1);
  const main = mainThreadRequests(proxy);
  assert.ok(main < 48, `the main thread answered all ${main} (24 CONNECTs, 24 GETs)`);
  assert.deepEqual(proxy.logs, []);
});
