/**
 * Request collapsing end to end: many clients (Deno fetch, curl, raw HTTP/1.0
 * sockets) ask for one URL at once while its origin is still answering.
 */

import assert from "node:assert/strict";
import { curl } from "../_helpers/clients.ts";
import {
  cacheSettled,
  get,
  pseudoRandom,
  sha256,
  sleep,
  slowBody,
  startRoutedOrigin,
} from "../_helpers/cache_origin.ts";
import { startRawOrigin, writeText } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { many, openConnections, viaCurl } from "../_helpers/many_clients.ts";

const MiB = 1024 * 1024;

Deno.test("collapsing: 100 concurrent clients, one slow 10 MiB origin response, one origin request", async () => {
  const body = pseudoRandom(10 * MiB);
  const expected = sha256(body);
  await using origin = startRoutedOrigin({
    "/big.bin": async () => {
      // Long enough for every client to be waiting before the first byte.
      await sleep(300);
      return new Response(slowBody(body, MiB, 20), {
        headers: { "cache-control": "max-age=60", "content-type": "application/octet-stream" },
      });
    },
  });
  await using proxy = await startTestProxy({ logLevel: "warn" });
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
  const collapsed = statuses.filter((s) => s === "hoard; fwd=uri-miss; stored; collapsed");
  const hits = statuses.filter((s) => /^hoard; hit; ttl=\d+$/.test(s));
  assert.equal(leaders.length, 1, statuses.join("\n"));
  assert.equal(leaders.length + collapsed.length + hits.length, 100, statuses.join("\n"));
  assert.ok(collapsed.length >= 50, `only ${collapsed.length} collapsed:\n${statuses.join("\n")}`);
  assert.deepEqual(proxy.logs, [], "no warnings or errors");

  // And it was stored whole: one more is a hit (once the store has committed it).
  await cacheSettled(proxy.cacheDir);
  const after = await viaCurl(proxy.url, `${origin.url}/big.bin`);
  assert.match(after.cacheStatus, /^hoard; hit; ttl=\d+$/);
  assert.equal(after.hash, expected);
  assert.equal(origin.count("/big.bin"), 1);
});

Deno.test("collapsing: a response that cannot be stored sends every waiter to the origin", async () => {
  const body = pseudoRandom(300 * 1024, 7);
  const expected = sha256(body);
  const CLIENTS = 20;
  let releasedAt = Infinity;
  const arrivals: number[] = [];
  await using origin = startRoutedOrigin({
    "/private.bin": async (_req, n) => {
      arrivals.push(performance.now());
      if (n === 0) {
        // The first request is the leader: the others queue behind it meanwhile.
        await sleep(300);
        releasedAt = performance.now();
      }
      return new Response(body, {
        headers: { "cache-control": "no-store", "content-type": "application/octet-stream" },
      });
    },
  });
  await using proxy = await startTestProxy({ logLevel: "warn" });
  using client = Deno.createHttpClient({ proxy: { url: proxy.url } });

  const got = await many(CLIENTS, proxy, client, `${origin.url}/private.bin`);

  assert.equal(origin.count("/private.bin"), CLIENTS);
  for (const [i, g] of got.entries()) {
    assert.equal(g.status, 200, `client ${i}`);
    assert.equal(g.hash, expected, `client ${i}`);
    assert.equal(g.cacheStatus, "hoard; fwd=uri-miss; detail=no-store", `client ${i}`);
  }
  // Had they not waited for the leader's answer, they would have reached the origin at once.
  const early = arrivals.slice(1).filter((t) => t < releasedAt);
  assert.equal(early.length, 0, `${early.length} requests did not wait for the leader`);
});

Deno.test("collapsing: concurrent requests for a stale entry make one revalidation", async () => {
  await using origin = startRoutedOrigin({
    "/stale.txt": async (req, n) => {
      if (n === 0) {
        return new Response("stored once\n", {
          headers: { etag: '"st"', "cache-control": "max-age=1" },
        });
      }
      await sleep(400); // the other requests arrive meanwhile
      return req.headers.get("if-none-match") === '"st"'
        ? new Response(null, {
          status: 304,
          headers: { etag: '"st"', "cache-control": "max-age=60" },
        })
        : new Response("unexpected unconditional request\n", { status: 500 });
    },
  });
  await using proxy = await startTestProxy({ logLevel: "warn" });
  const url = `${origin.url}/stale.txt`;
  assert.equal((await viaCurl(proxy.url, url)).cacheStatus, "hoard; fwd=uri-miss; stored");
  await sleep(1100);

  const got = await Promise.all(Array.from({ length: 10 }, () => curl(["-x", proxy.url, url])));
  assert.equal(origin.count("/stale.txt"), 2, "one revalidation for all ten");
  const statuses = got.map((r) => r.headers["cache-status"]);
  for (const r of got) {
    assert.equal(r.status, 200);
    assert.equal(r.text, "stored once\n");
  }
  assert.equal(
    statuses.filter((s) => s === "hoard; fwd=stale; fwd-status=304").length,
    1,
    statuses.join("\n"),
  );
  // The others waited for that answer; one that came after it is a plain hit.
  const collapsed = statuses.filter((s) => s === "hoard; hit; collapsed").length;
  const hits = statuses.filter((s) => /^hoard; hit; ttl=\d+$/.test(s ?? "")).length;
  assert.equal(collapsed + hits, 9, statuses.join("\n"));
  assert.ok(collapsed >= 5, statuses.join("\n"));
});

Deno.test("collapsing: an origin that cuts the body cuts every follower, and nothing is stored", async () => {
  await using origin = startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    if (origin.connections === 1) {
      // Promises 100 bytes, sends 40, waits for a follower to join, and hangs up.
      await writeText(
        conn,
        `HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\n${
          "x".repeat(40)
        }`,
      );
      await sleep(300);
      return;
    }
    await writeText(
      conn,
      `HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\nConnection: close\r\n\r\n${
        "y".repeat(100)
      }`,
    );
  });
  await using proxy = await startTestProxy({ logLevel: "warn" });
  const url = `${origin.url}/cut`;
  const leader = curl(["--max-time", "20", "-x", proxy.url, url]);
  await sleep(100);
  const follower = await curl(["--max-time", "20", "-x", proxy.url, url]);
  const first = await leader;
  for (const [who, r] of [["leader", first], ["follower", follower]] as const) {
    assert.equal(r.code, 18, `${who}: curl sees a transfer closed early, got ${r.code}`);
    assert.equal(r.text, "x".repeat(40), who);
  }
  assert.equal(follower.headers["cache-status"], "hoard; fwd=uri-miss; stored; collapsed");
  assert.equal(origin.connections, 1);

  const again = await get(proxy, url);
  assert.equal(again.text, "y".repeat(100));
  assert.equal(again.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  assert.equal(origin.connections, 2);
  const hit = await get(proxy, url);
  assert.match(hit.headers["cache-status"]!, /^hoard; hit; ttl=\d+$/);
  assert.equal(hit.text, "y".repeat(100));
  assert.equal(origin.connections, 2);
});

Deno.test("collapsing: a small body is filled in memory, followed while it trickles in, stored as one file", async () => {
  const body = pseudoRandom(40 * 1024);
  const piece = body.length / 4;
  // The last piece waits until every follower is connected: the fill cannot
  // end before they join, however slowly the machine starts their curls.
  const { promise: followersIn, resolve: letItEnd } = Promise.withResolvers<void>();
  await using origin = startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    await writeText(
      conn,
      `HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    for (let at = 0; at < body.length - piece; at += piece) {
      await conn.write(body.subarray(at, at + piece));
      await sleep(50);
    }
    await followersIn;
    await conn.write(body.subarray(body.length - piece));
  });
  await using proxy = await startTestProxy({ logLevel: "warn" });
  const url = `${origin.url}/small.bin`;
  const leader = viaCurl(proxy.url, url);
  while (origin.connections === 0) await sleep(10);
  const followers = Promise.all(Array.from({ length: 9 }, () => viaCurl(proxy.url, url)));
  // Leader and nine followers, plus the metrics request itself.
  while (await openConnections(proxy.url) < 11) await sleep(20);
  await sleep(100); // from connected to joined: one request head each
  letItEnd();
  const got = [await leader, ...await followers];
  assert.equal(origin.connections, 1);
  for (const [i, g] of got.entries()) {
    assert.equal(g.hash, sha256(body), `client ${i}`);
  }
  assert.equal(got[0]!.cacheStatus, "hoard; fwd=uri-miss; stored");
  assert.ok(
    got.slice(1).every((g) => g.cacheStatus === "hoard; fwd=uri-miss; stored; collapsed"),
    got.slice(1).map((g) => g.cacheStatus).join("\n"),
  );

  await cacheSettled(proxy.cacheDir);
  const files: string[] = [];
  for await (const shard of Deno.readDir(`${proxy.cacheDir}/data`)) {
    for await (const f of Deno.readDir(`${proxy.cacheDir}/data/${shard.name}`)) files.push(f.name);
  }
  assert.equal(files.length, 1, `one file, the metadata with the body inside: ${files}`);
  assert.match(files[0]!, /^[0-9a-f]{64}\.json$/);
  const after = await viaCurl(proxy.url, url);
  assert.match(after.cacheStatus, /^hoard; hit; ttl=\d+$/);
  assert.equal(after.hash, sha256(body));
  assert.equal(origin.connections, 1);
});
