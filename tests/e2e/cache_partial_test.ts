/**
 * Partial content end to end (RFC 9111 §3.3–3.4): a stored 206 answers every
 * range inside it, and a stored part — a 206, or a body the origin cut short —
 * is completed with a Range request for the rest and becomes one entry. Each
 * test checks the bytes against the origin's and counts what reached it.
 */

import assert from "node:assert/strict";
import { curl } from "../_helpers/clients.ts";
import {
  cacheSettled,
  gate,
  get,
  pseudoRandom,
  sha256,
  sleep,
  startRoutedOrigin,
} from "../_helpers/cache_origin.ts";
import { startRawHttpOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

const HIT = /^hoard; hit; ttl=\d+$/;
const SIZE = 10_000;

/**
 * Answers like an origin that supports one byte range: 206 for a Range it can
 * satisfy (unless If-Range names another validator), 416 past the end, else 200.
 */
function ranged(req: Request, body: Uint8Array<ArrayBuffer>, etag: string): Response {
  const headers = { "cache-control": "max-age=60", etag, "content-type": "application/zip" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.get("range") ?? "");
  const ifRange = req.headers.get("if-range");
  if (m === null || (ifRange !== null && ifRange !== etag)) return new Response(body, { headers });
  const [first = "", last = ""] = [m[1], m[2]];
  const start = first === "" ? Math.max(0, body.length - Number(last)) : Number(first);
  const end = first === "" || last === ""
    ? body.length - 1
    : Math.min(Number(last), body.length - 1);
  if (start >= body.length) {
    return new Response(null, {
      status: 416,
      headers: { "content-range": `bytes */${body.length}` },
    });
  }
  return new Response(body.slice(start, end + 1), {
    status: 206,
    headers: { ...headers, "content-range": `bytes ${start}-${end}/${body.length}` },
  });
}

/** The Range and If-Range of every request the origin got, in order ("-" when absent). */
function rangesAsked(origin: { requests: { headers: Headers }[] }): string[] {
  return origin.requests.map((r) =>
    `${r.headers.get("range") ?? "-"} ${r.headers.get("if-range") ?? "-"}`
  );
}

Deno.test("a stored 206 serves any range inside it, suffix and open ranges included", async () => {
  const body = pseudoRandom(SIZE, 1);
  await using origin = startRoutedOrigin({ "/tail.zip": (req) => ranged(req, body, '"v1"') });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/tail.zip`;

  // What a zip reader does first: the end of the archive.
  const tail = await get(proxy, url, "-r", "9000-");
  assert.equal(tail.status, 206);
  assert.deepEqual(tail.body, body.subarray(9000));
  assert.equal(tail.headers["cache-status"], "hoard; fwd=uri-miss; stored");

  const cases: [string, number, number][] = [
    ["9500-9599", 9500, 9599],
    ["-500", 9500, 9999], // a suffix: needs the stored length
    ["9990-", 9990, 9999], // open: needs the stored length too
    ["9000-9999", 9000, 9999],
    ["9999-20000", 9999, 9999],
  ];
  for (const [r, start, end] of cases) {
    const part = await get(proxy, url, "-r", r);
    assert.equal(part.status, 206, r);
    assert.deepEqual(part.body, body.subarray(start, end + 1), r);
    assert.equal(part.headers["content-range"], `bytes ${start}-${end}/${SIZE}`, r);
    assert.equal(part.headers["content-length"], String(end - start + 1), r);
    assert.equal(part.headers["etag"], '"v1"', r);
    assert.match(part.headers["cache-status"]!, HIT, r);
  }
  const past = await get(proxy, url, "-r", "10000-");
  assert.equal(past.status, 416);
  assert.equal(past.headers["content-range"], `bytes */${SIZE}`);
  assert.equal(origin.count("/tail.zip"), 1);

  // Bytes before the part are the origin's; its answer is the new stored part.
  const head = await get(proxy, url, "-r", "0-99");
  assert.deepEqual(head.body, body.subarray(0, 100));
  assert.equal(head.headers["cache-status"], "hoard; fwd=partial; stored");
  assert.deepEqual((await get(proxy, url, "-r", "10-19")).body, body.subarray(10, 20));
  assert.deepEqual(rangesAsked(origin), ["bytes=9000- -", "bytes=0-99 -"]);
});

Deno.test("a stored part is completed with a Range request for the rest and becomes one entry", async () => {
  const body = pseudoRandom(SIZE, 2);
  await using origin = startRoutedOrigin({ "/big.bin": (req) => ranged(req, body, '"v1"') });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/big.bin`;

  assert.deepEqual((await get(proxy, url, "-r", "0-999")).body, body.subarray(0, 1000));
  // A range that runs past the part: only the bytes after it are asked for.
  const across = await get(proxy, url, "-r", "500-1499");
  assert.equal(across.status, 206);
  assert.deepEqual(across.body, body.subarray(500, 1500));
  assert.equal(across.headers["content-range"], `bytes 500-1499/${SIZE}`);
  assert.equal(across.headers["cache-status"], "hoard; fwd=partial; stored");
  assert.match((await get(proxy, url, "-r", "1200-1299")).headers["cache-status"]!, HIT);

  // The whole: the stored 1500 bytes, then the rest from the origin, as one 200.
  const whole = await get(proxy, url);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers["content-length"], String(SIZE));
  assert.equal(whole.headers["content-range"], undefined);
  assert.equal(whole.headers["content-type"], "application/zip");
  assert.equal(whole.headers["cache-status"], "hoard; fwd=partial; stored");
  assert.equal(sha256(whole.body), sha256(body));

  for (const args of [[], ["-r", "5000-5009"], ["-r", "-10"]]) {
    const again = await get(proxy, url, ...args);
    assert.match(again.headers["cache-status"]!, HIT, args.join(" "));
    const [start, end] = args.length === 0
      ? [0, SIZE]
      : args[1] === "-10"
      ? [9990, SIZE]
      : [5000, 5010];
    assert.deepEqual(again.body, body.subarray(start, end), args.join(" "));
  }
  assert.deepEqual(rangesAsked(origin), [
    "bytes=0-999 -",
    'bytes=1000-1499 "v1"',
    'bytes=1500-9999 "v1"',
  ]);
});

Deno.test("a part whose representation changed is replaced by the origin's 200 (If-Range)", async () => {
  const v1 = pseudoRandom(SIZE, 3), v2 = pseudoRandom(SIZE, 4);
  await using origin = startRoutedOrigin({
    "/moving.bin": (req, n) => n === 0 ? ranged(req, v1, '"v1"') : ranged(req, v2, '"v2"'),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/moving.bin`;
  await get(proxy, url, "-r", "0-999");
  const whole = await get(proxy, url);
  assert.equal(whole.status, 200);
  assert.equal(sha256(whole.body), sha256(v2), "no byte of v1 in it");
  assert.equal(whole.headers["cache-status"], "hoard; fwd=partial; fwd-status=200; stored");
  const hit = await get(proxy, url, "-r", "0-9");
  assert.deepEqual(hit.body, v2.subarray(0, 10));
  assert.match(hit.headers["cache-status"]!, HIT);
  assert.deepEqual(rangesAsked(origin), ["bytes=0-999 -", 'bytes=1000-9999 "v1"']);
});

Deno.test("a resumed download: the body the origin cut short is kept, the resume's Range completes it", async () => {
  const body = pseudoRandom(SIZE, 5);
  const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
  const common = 'ETag: "v1"\r\nCache-Control: max-age=60\r\n';
  await using origin = startRawHttpOrigin((head, i) =>
    i === 0
      // 4000 of the 10000 bytes announced, then the connection closes.
      ? `HTTP/1.1 200 OK\r\n${common}Content-Length: ${SIZE}\r\nConnection: close\r\n\r\n` +
        latin1(body.subarray(0, 4000))
      : /^range: bytes=4000-9999$/im.test(head) && /^if-range: "v1"$/im.test(head)
      ? `HTTP/1.1 206 Partial Content\r\n${common}Content-Range: bytes 4000-9999/${SIZE}\r\n` +
        `Content-Length: 6000\r\n\r\n${latin1(body.subarray(4000))}`
      : "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
  );
  await using proxy = await startTestProxy();
  const url = `${origin.url}/artifact.tar`;

  const cut = await curl(["--max-time", "20", "-x", proxy.url, url]);
  assert.equal(cut.code, 18, "curl: transfer closed with outstanding read data remaining");
  assert.deepEqual(cut.body, body.subarray(0, 4000));
  await cacheSettled(proxy.cacheDir);

  // curl -C - asks for what it lacks.
  const resumed = await get(proxy, url, "-r", "4000-");
  assert.equal(resumed.status, 206);
  assert.deepEqual(resumed.body, body.subarray(4000));
  assert.equal(resumed.headers["content-range"], `bytes 4000-9999/${SIZE}`);
  assert.equal(resumed.headers["cache-status"], "hoard; fwd=partial; stored");

  const whole = await get(proxy, url);
  assert.match(whole.headers["cache-status"]!, HIT);
  assert.equal(sha256(whole.body), sha256(body));
  assert.equal(origin.heads.length, 2);
});

Deno.test("a 206 being fetched is shared only with requests for the same range", async () => {
  const body = pseudoRandom(SIZE, 6);
  const release = gate();
  await using origin = startRoutedOrigin({
    "/shared.bin": async (req) => {
      if (req.headers.has("range")) await release.opened;
      return ranged(req, body, '"v1"');
    },
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/shared.bin`;
  const first = get(proxy, url, "-r", "0-99");
  while (origin.count("/shared.bin") < 1) await sleep(5);
  // Both wait for the range's answer: one to share it, one to learn it cannot.
  const same = get(proxy, url, "-r", "0-99");
  const whole = get(proxy, url);
  await sleep(200);
  release.open();
  for (const r of [await first, await same]) {
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, body.subarray(0, 100));
  }
  assert.equal((await same).headers["cache-status"], "hoard; fwd=uri-miss; stored; collapsed");
  const w = await whole;
  assert.equal(w.status, 200);
  assert.equal(sha256(w.body), sha256(body));
  assert.deepEqual(rangesAsked(origin), ["bytes=0-99 -", "- -"]);
});

Deno.test("a stale part is revalidated (304) and then answers the range inside it", async () => {
  const body = pseudoRandom(SIZE, 7);
  await using origin = startRoutedOrigin({
    "/stale.bin": (req) => {
      if (req.headers.get("if-none-match") === '"v1"') {
        return new Response(null, {
          status: 304,
          headers: { etag: '"v1"', "cache-control": "max-age=60" },
        });
      }
      const res = ranged(req, body, '"v1"');
      res.headers.set("cache-control", "max-age=0");
      return res;
    },
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/stale.bin`;
  await get(proxy, url, "-r", "0-999");
  const revalidated = await get(proxy, url, "-r", "100-199");
  assert.equal(revalidated.status, 206);
  assert.deepEqual(revalidated.body, body.subarray(100, 200));
  assert.equal(revalidated.headers["cache-status"], "hoard; fwd=stale; fwd-status=304");
  const hit = await get(proxy, url, "-r", "200-299");
  assert.deepEqual(hit.body, body.subarray(200, 300));
  assert.match(hit.headers["cache-status"]!, HIT);
  assert.deepEqual(origin.requests.map((r) => r.headers.get("if-none-match") ?? "-"), [
    "-",
    '"v1"',
  ]);
});

Deno.test("a large part stored by an earlier process is checked as it is combined; a corrupt one is never completed", async () => {
  const MiB = 1024 * 1024;
  const body = pseudoRandom(3 * MiB, 8);
  const dir = await Deno.makeTempDir({ prefix: "hoard-partial-" });
  try {
    await using origin = startRoutedOrigin({ "/large.bin": (req) => ranged(req, body, '"v1"') });
    const url = `${origin.url}/large.bin`;
    for (const corrupt of [false, true]) {
      {
        await using a = await startTestProxy({ cacheDir: dir });
        const first = await get(a, url, "-r", `0-${MiB - 1}`);
        assert.equal(sha256(first.body), sha256(body.subarray(0, MiB)));
      }
      if (corrupt) {
        // One byte of the stored part's file flipped behind hoard's back.
        for await (const shard of Deno.readDir(`${dir}/data`)) {
          for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
            if (!f.name.endsWith(".body")) continue;
            const file = await Deno.open(`${dir}/data/${shard.name}/${f.name}`, { write: true });
            await file.seek(MiB / 2, Deno.SeekMode.Start);
            await file.write(new Uint8Array([body[MiB / 2]! ^ 0xff]));
            file.close();
          }
        }
      }
      await using b = await startTestProxy({ cacheDir: dir, logLevel: "warn" });
      const whole = await curl(["--max-time", "20", "-x", b.url, url]);
      if (!corrupt) {
        assert.equal(whole.code, 0);
        assert.equal(sha256(whole.body), sha256(body));
        await cacheSettled(dir);
        const hit = await get(b, url);
        assert.match(hit.headers["cache-status"]!, HIT);
        assert.equal(sha256(hit.body), sha256(body));
        assert.deepEqual(b.logs, []);
        // Start again from a part for the corrupt round.
        await Deno.remove(`${dir}/data`, { recursive: true });
        await Deno.mkdir(`${dir}/data`);
      } else {
        // Cut before the origin's bytes: the client never gets a whole response.
        assert.equal(whole.code, 18);
        assert.ok(whole.body.length <= MiB, `${whole.body.length} bytes`);
        assert.match(b.logs.join("\n"), /failed its checksum; deleted/);
        const again = await get(b, url);
        assert.equal(again.headers["cache-status"], "hoard; fwd=uri-miss; stored");
        assert.equal(sha256(again.body), sha256(body));
      }
    }
    assert.deepEqual(rangesAsked(origin), [
      `bytes=0-${MiB - 1} -`,
      `bytes=${MiB}-${3 * MiB - 1} "v1"`,
      `bytes=0-${MiB - 1} -`,
      `bytes=${MiB}-${3 * MiB - 1} "v1"`,
      "- -",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a new body cut short never replaces a whole stored response: stale-if-error still has it", async () => {
  const v1 = pseudoRandom(5000, 9), v2 = pseudoRandom(5000, 10);
  const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
  await using origin = startRawHttpOrigin((_head, i) =>
    i === 0
      ? `HTTP/1.1 200 OK\r\nETag: "v1"\r\nCache-Control: max-age=1\r\nContent-Length: 5000\r\n\r\n${
        latin1(v1)
      }`
      : i === 1
      ? `HTTP/1.1 200 OK\r\nETag: "v2"\r\nCache-Control: max-age=60\r\nContent-Length: 5000\r\n` +
        `Connection: close\r\n\r\n${latin1(v2.subarray(0, 2000))}`
      : "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
  );
  await using proxy = await startTestProxy({ logLevel: "warn" });
  const url = `${origin.url}/kept.bin`;
  assert.deepEqual((await get(proxy, url)).body, v1);
  await sleep(1100);
  const cut = await curl(["--max-time", "20", "-x", proxy.url, url]);
  assert.equal(cut.code, 18);
  await cacheSettled(proxy.cacheDir);
  const stale = await get(proxy, url);
  assert.equal(stale.status, 200);
  assert.deepEqual(stale.body, v1);
  assert.match(stale.headers["cache-status"]!, /detail=stale-if-error/);
  assert.equal(origin.heads.length, 3);
});

Deno.test("a 206 never replaces a whole stored response either", async () => {
  const body = pseudoRandom(SIZE, 12);
  await using origin = startRoutedOrigin({
    "/whole.bin": (req, n) => {
      if (n >= 2) return new Response("down\n", { status: 503 });
      // An origin that ignores If-None-Match and answers the Range.
      const res = ranged(req, body, '"v1"');
      res.headers.set("cache-control", n === 0 ? "max-age=1" : "max-age=60");
      return res;
    },
  });
  await using proxy = await startTestProxy({ logLevel: "warn" });
  const url = `${origin.url}/whole.bin`;
  assert.equal(sha256((await get(proxy, url)).body), sha256(body));
  await sleep(2100);
  const part = await get(proxy, url, "-r", "0-99");
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, body.subarray(0, 100));
  const stale = await get(proxy, url);
  assert.equal(sha256(stale.body), sha256(body));
  assert.match(stale.headers["cache-status"]!, /detail=stale-if-error/);
  assert.equal(origin.count("/whole.bin"), 3);
});
