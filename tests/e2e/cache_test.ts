/**
 * The cache end to end: real curl through hoard to local origins that count
 * what reaches them. Each test checks the origin's request count, the exact
 * body bytes, and Cache-Status / Age.
 */

import assert from "node:assert/strict";
import { get, httpDateAgo, sleep, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { SMALL_BODY_BYTES } from "../../src/cache/body_store.ts";

const HIT = /^hoard; hit; ttl=(\d+)$/;

/** The ttl of a hit's Cache-Status; fails when the response was not a hit. */
function ttlOf(cacheStatus: string | undefined): number {
  const m = HIT.exec(cacheStatus ?? "");
  assert.ok(m, `expected a hit, got Cache-Status ${cacheStatus}`);
  return Number(m[1]);
}

Deno.test("max-age: a miss is stored, the next GET is a hit with Age that grows, Via once", async () => {
  await using origin = startRoutedOrigin({
    "/fresh": () =>
      new Response("fresh body\n", {
        headers: { "cache-control": "max-age=60", "content-type": "text/plain" },
      }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/fresh`;

  const first = await get(proxy, url);
  assert.equal(first.status, 200);
  assert.equal(first.text, "fresh body\n");
  assert.equal(first.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  assert.equal(first.headers["via"], "1.1 hoard");
  assert.equal(origin.count("/fresh"), 1);

  const second = await get(proxy, url);
  assert.equal(second.status, 200);
  assert.equal(second.text, "fresh body\n");
  const ttl = ttlOf(second.headers["cache-status"]);
  assert.ok(ttl >= 58 && ttl <= 60, `ttl ${ttl}`);
  assert.match(second.headers["age"]!, /^[01]$/, "just stored");
  assert.equal(second.headers["via"], "1.1 hoard");
  assert.equal(second.headers["content-type"], "text/plain");
  assert.equal(second.headers["content-length"], "11");
  assert.equal(origin.count("/fresh"), 1);

  await sleep(1100);
  const third = await get(proxy, url);
  assert.equal(third.text, "fresh body\n");
  assert.ok(Number(third.headers["age"]) >= 1, `Age ${third.headers["age"]}`);
  assert.ok(ttlOf(third.headers["cache-status"]) < ttl, "ttl shrinks as the entry ages");
  assert.equal(origin.count("/fresh"), 1);
});

// Right after a stored miss, the entry may still be being committed (fsync):
// such a request waits for the commit and is then a plain hit.
Deno.test({
  name: "the request right after a stored miss is a hit (no wait for the commit)",
  fn: async () => {
    const paths = Array.from({ length: 30 }, (_, i) => `/seq${i}`);
    await using origin = startRoutedOrigin(Object.fromEntries(paths.map((p) => [
      p,
      () => new Response(`body of ${p}\n`, { headers: { "cache-control": "max-age=60" } }),
    ])));
    await using proxy = await startTestProxy();
    for (const p of paths) {
      const first = await curl(["--max-time", "20", "-x", proxy.url, `${origin.url}${p}`]);
      assert.equal(first.headers["cache-status"], "hoard; fwd=uri-miss; stored");
      const second = await curl(["--max-time", "20", "-x", proxy.url, `${origin.url}${p}`]);
      assert.equal(second.text, `body of ${p}\n`);
      assert.equal(origin.count(p), 1);
      assert.match(second.headers["cache-status"]!, HIT, `${p}: ${second.headers["cache-status"]}`);
    }
  },
});

Deno.test("non-200 cacheable statuses are served from the cache; 500 is not stored", async () => {
  const lastModified = httpDateAgo(10 * 86400);
  const cc = { "cache-control": "max-age=60" };
  await using origin = startRoutedOrigin({
    "/301": () => new Response("moved\n", { status: 301, headers: { ...cc, location: "/new" } }),
    // No explicit freshness: heuristic, 10% of the time since Last-Modified (a day here).
    "/404": () =>
      new Response("not here\n", { status: 404, headers: { "last-modified": lastModified } }),
    "/410": () => new Response("gone\n", { status: 410, headers: cc }),
    "/203": () => new Response("transformed\n", { status: 203, headers: cc }),
    "/300": () => new Response("choose\n", { status: 300, headers: cc }),
    "/204": () => new Response(null, { status: 204, headers: cc }),
    "/500": () => new Response("broken\n", { status: 500, headers: cc }),
  });
  await using proxy = await startTestProxy();
  const cases: [string, number, string][] = [
    ["/301", 301, "moved\n"],
    ["/404", 404, "not here\n"],
    ["/410", 410, "gone\n"],
    ["/203", 203, "transformed\n"],
    ["/300", 300, "choose\n"],
    ["/204", 204, ""],
  ];
  for (const [path, status, body] of cases) {
    const miss = await get(proxy, `${origin.url}${path}`);
    assert.equal(miss.status, status, path);
    assert.equal(miss.text, body, path);
    assert.equal(miss.headers["cache-status"], "hoard; fwd=uri-miss; stored", path);
    const hit = await get(proxy, `${origin.url}${path}`);
    assert.equal(hit.status, status, path);
    assert.equal(hit.text, body, path);
    const ttl = ttlOf(hit.headers["cache-status"]);
    if (path === "/404") assert.ok(ttl > 86000 && ttl <= 86400, `heuristic ttl ${ttl}`);
    else assert.ok(ttl <= 60, `${path} ttl ${ttl}`);
    assert.match(hit.headers["age"]!, /^[01]$/, path);
    assert.equal(origin.count(path), 1, path);
  }
  const moved = await get(proxy, `${origin.url}/301`);
  assert.equal(moved.headers["location"], "/new");

  for (let i = 1; i <= 2; i++) {
    const r = await get(proxy, `${origin.url}/500`);
    assert.equal(r.status, 500);
    assert.equal(r.text, "broken\n");
    assert.equal(r.headers["cache-status"], 'hoard; fwd=uri-miss; detail="status 500"');
    assert.equal(r.headers["age"], undefined);
    assert.equal(origin.count("/500"), i);
  }
});

Deno.test("no-store and private responses are never stored", async () => {
  await using origin = startRoutedOrigin({
    "/no-store": (_req, n) =>
      new Response(`no-store ${n}\n`, { headers: { "cache-control": "no-store, max-age=60" } }),
    "/private": (_req, n) =>
      new Response(`private ${n}\n`, { headers: { "cache-control": "private, max-age=60" } }),
  });
  await using proxy = await startTestProxy();
  for (const name of ["no-store", "private"]) {
    for (let n = 0; n < 2; n++) {
      const r = await get(proxy, `${origin.url}/${name}`);
      assert.equal(r.status, 200);
      assert.equal(r.text, `${name} ${n}\n`, "each answer comes from the origin");
      assert.equal(r.headers["cache-status"], `hoard; fwd=uri-miss; detail=${name}`);
      assert.equal(r.headers["age"], undefined);
    }
    assert.equal(origin.count(`/${name}`), 2);
  }
});

Deno.test("request Cache-Control: no-cache and Pragma: no-cache revalidate a fresh entry", async () => {
  await using origin = startRoutedOrigin({
    "/doc": (req, n) =>
      n > 0 && req.headers.get("if-none-match") === '"d1"'
        ? new Response(null, {
          status: 304,
          headers: { etag: '"d1"', "cache-control": "max-age=60", "x-check": String(n) },
        })
        : new Response("document\n", {
          headers: { etag: '"d1"', "cache-control": "max-age=60", "x-check": String(n) },
        }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/doc`;
  assert.equal((await get(proxy, url)).headers["cache-status"], "hoard; fwd=uri-miss; stored");
  assert.match((await get(proxy, url)).headers["cache-status"]!, HIT);
  assert.equal(origin.count("/doc"), 1);

  const noCache = await get(proxy, url, "-H", "Cache-Control: no-cache");
  assert.equal(noCache.status, 200);
  assert.equal(noCache.text, "document\n");
  assert.equal(noCache.headers["cache-status"], "hoard; fwd=request; fwd-status=304");
  assert.equal(noCache.headers["x-check"], "1");
  assert.equal(origin.count("/doc"), 2);
  assert.equal(origin.requests[1]!.headers.get("if-none-match"), '"d1"');

  const pragma = await get(proxy, url, "-H", "Pragma: no-cache");
  assert.equal(pragma.status, 200);
  assert.equal(pragma.text, "document\n");
  assert.equal(pragma.headers["cache-status"], "hoard; fwd=request; fwd-status=304");
  assert.equal(pragma.headers["x-check"], "2");
  assert.equal(origin.count("/doc"), 3);
  assert.equal(origin.requests[2]!.headers.get("if-none-match"), '"d1"');

  const after = await get(proxy, url);
  assert.match(after.headers["cache-status"]!, HIT);
  assert.equal(after.headers["x-check"], "2", "the 304's fields were stored");
  assert.equal(after.text, "document\n");
  assert.equal(origin.count("/doc"), 3);
});

Deno.test("stale entries are revalidated: 304 by ETag, 304 by Last-Modified, 200 replaces", async () => {
  const lastModified = httpDateAgo(3600);
  await using origin = startRoutedOrigin({
    "/etag": (req, n) =>
      n === 0
        ? new Response("etag body v1\n", {
          headers: { etag: '"e1"', "cache-control": "max-age=1", "x-version": "1" },
        })
        : req.headers.get("if-none-match") === '"e1"'
        ? new Response(null, {
          status: 304,
          headers: { etag: '"e1"', "cache-control": "max-age=60", "x-version": "2" },
        })
        : new Response("unexpected unconditional request\n", { status: 500 }),
    "/lm": (req, n) =>
      n === 0
        ? new Response("lm body v1\n", {
          headers: {
            "last-modified": lastModified,
            "cache-control": "max-age=1",
            "x-version": "1",
          },
        })
        : req.headers.get("if-modified-since") === lastModified
        ? new Response(null, {
          status: 304,
          headers: {
            "last-modified": lastModified,
            "cache-control": "max-age=60",
            "x-version": "2",
          },
        })
        : new Response("unexpected unconditional request\n", { status: 500 }),
    "/replaced": (_req, n) =>
      n === 0
        ? new Response("old body\n", { headers: { etag: '"r1"', "cache-control": "max-age=1" } })
        : new Response("new, longer body\n", {
          headers: { etag: '"r2"', "cache-control": "max-age=60" },
        }),
  });
  await using proxy = await startTestProxy();
  for (const path of ["/etag", "/lm", "/replaced"]) {
    const r = await get(proxy, `${origin.url}${path}`);
    assert.equal(r.headers["cache-status"], "hoard; fwd=uri-miss; stored", path);
  }
  // One wait for all three: each was fresh for one second.
  await sleep(1100);

  const etag = await get(proxy, `${origin.url}/etag`);
  assert.equal(origin.count("/etag"), 2);
  const etagSeen = origin.requests.filter((r) => r.path === "/etag")[1]!.headers;
  assert.equal(etagSeen.get("if-none-match"), '"e1"');
  assert.equal(etag.status, 200);
  assert.equal(etag.text, "etag body v1\n");
  assert.equal(etag.headers["x-version"], "2");
  assert.equal(etag.headers["content-length"], "13");
  assert.equal(etag.headers["cache-status"], "hoard; fwd=stale; fwd-status=304");
  const etagHit = await get(proxy, `${origin.url}/etag`);
  assert.ok(ttlOf(etagHit.headers["cache-status"]) > 50, "fresh again for the 304's max-age");
  assert.equal(etagHit.headers["x-version"], "2");
  assert.equal(etagHit.text, "etag body v1\n");
  assert.equal(origin.count("/etag"), 2);

  const lm = await get(proxy, `${origin.url}/lm`);
  assert.equal(origin.count("/lm"), 2);
  const lmSeen = origin.requests.filter((r) => r.path === "/lm")[1]!.headers;
  assert.equal(lmSeen.get("if-modified-since"), lastModified);
  assert.equal(lm.status, 200);
  assert.equal(lm.text, "lm body v1\n");
  assert.equal(lm.headers["x-version"], "2");
  assert.equal(lm.headers["cache-status"], "hoard; fwd=stale; fwd-status=304");
  const lmHit = await get(proxy, `${origin.url}/lm`);
  assert.match(lmHit.headers["cache-status"]!, HIT);
  assert.equal(lmHit.headers["x-version"], "2");
  assert.equal(lmHit.text, "lm body v1\n");
  assert.equal(origin.count("/lm"), 2);

  const replaced = await get(proxy, `${origin.url}/replaced`);
  assert.equal(origin.count("/replaced"), 2);
  const replacedSeen = origin.requests.filter((r) => r.path === "/replaced")[1]!.headers;
  assert.equal(replacedSeen.get("if-none-match"), '"r1"');
  assert.equal(replaced.status, 200);
  assert.equal(replaced.text, "new, longer body\n");
  assert.equal(replaced.headers["cache-status"], "hoard; fwd=stale; fwd-status=200; stored");
  const replacedHit = await get(proxy, `${origin.url}/replaced`);
  assert.match(replacedHit.headers["cache-status"]!, HIT);
  assert.equal(replacedHit.text, "new, longer body\n");
  assert.equal(replacedHit.headers["etag"], '"r2"');
  assert.equal(replacedHit.headers["content-length"], "17");
  assert.equal(origin.count("/replaced"), 2);
});

Deno.test("a client's conditional request on a fresh entry is answered 304 by the cache", async () => {
  const lastModified = httpDateAgo(7200);
  await using origin = startRoutedOrigin({
    "/cond": () =>
      new Response("conditional body\n", {
        headers: { etag: '"c1"', "last-modified": lastModified, "cache-control": "max-age=60" },
      }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/cond`;
  assert.equal((await get(proxy, url)).text, "conditional body\n");

  const inm = await get(proxy, url, "-H", 'If-None-Match: "c1"');
  assert.equal(inm.status, 304);
  assert.equal(inm.body.length, 0);
  assert.equal(inm.headers["etag"], '"c1"');
  assert.match(inm.headers["cache-status"]!, HIT);
  assert.ok(inm.headers["age"] !== undefined);

  const weak = await get(proxy, url, "-H", 'If-None-Match: "zz", W/"c1"');
  assert.equal(weak.status, 304, "If-None-Match uses the weak comparison");

  const ims = await get(proxy, url, "-H", `If-Modified-Since: ${lastModified}`);
  assert.equal(ims.status, 304);
  assert.equal(ims.body.length, 0);
  assert.match(ims.headers["cache-status"]!, HIT);

  // Validators that do not match get the whole body, still from the cache.
  const other = await get(proxy, url, "-H", 'If-None-Match: "other"');
  assert.equal(other.status, 200);
  assert.equal(other.text, "conditional body\n");
  assert.match(other.headers["cache-status"]!, HIT);
  const older = await get(proxy, url, "-H", `If-Modified-Since: ${httpDateAgo(86400)}`);
  assert.equal(older.status, 200);
  assert.equal(older.text, "conditional body\n");

  assert.equal(origin.count("/cond"), 1);
});

Deno.test("Range and HEAD are served from a stored complete GET", async () => {
  const body = "0123456789abcdefghijklmnopqrstuvwxyz";
  await using origin = startRoutedOrigin({
    "/ranged": () =>
      new Response(body, { headers: { "cache-control": "max-age=60", etag: '"rg"' } }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/ranged`;
  assert.equal((await get(proxy, url)).text, body);

  const head = await get(proxy, url, "-r", "0-9");
  assert.equal(head.status, 206);
  assert.equal(head.text, "0123456789");
  assert.equal(head.headers["content-range"], "bytes 0-9/36");
  assert.equal(head.headers["content-length"], "10");
  assert.match(head.headers["cache-status"]!, HIT);

  const middle = await get(proxy, url, "-r", "10-15");
  assert.equal(middle.status, 206);
  assert.equal(middle.text, "abcdef");
  assert.equal(middle.headers["content-range"], "bytes 10-15/36");

  const suffix = await get(proxy, url, "-r", "-4");
  assert.equal(suffix.status, 206);
  assert.equal(suffix.text, "wxyz");
  assert.equal(suffix.headers["content-range"], "bytes 32-35/36");

  const tooFar = await get(proxy, url, "-r", "100-200");
  assert.equal(tooFar.status, 416);
  assert.equal(tooFar.body.length, 0);
  assert.equal(tooFar.headers["content-range"], "bytes */36");

  // curl -I writes the head to its output file too: nothing may follow it.
  const onlyHead = await get(proxy, url, "-I");
  assert.equal(onlyHead.status, 200);
  assert.equal(onlyHead.headers["content-length"], "36");
  assert.match(onlyHead.headers["cache-status"]!, HIT);
  assert.match(onlyHead.text, /^HTTP\/1\.1 200 [^]*\r\n\r\n$/);
  // The same on the wire: the head, and not a byte more before the close.
  const raw = await rawExchange(
    proxy.port,
    `HEAD ${url} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`,
  );
  assert.ok(raw.closed);
  assert.match(raw.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(raw.text, /\r\nContent-Length: 36\r\n/i);
  assert.ok(raw.text.endsWith("\r\n\r\n"), JSON.stringify(raw.text));

  assert.equal(origin.count("/ranged"), 1);
  assert.equal(origin.requests.every((r) => r.method === "GET"), true);
});

Deno.test("Vary: each variant is stored on its own; Vary: * is never stored", async () => {
  await using origin = startRoutedOrigin({
    "/lang": (req) =>
      new Response(`hello in ${req.headers.get("accept-language")}\n`, {
        headers: { "cache-control": "max-age=60", vary: "Accept-Language" },
      }),
    "/star": (_req, n) =>
      new Response(`star ${n}\n`, { headers: { "cache-control": "max-age=60", vary: "*" } }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/lang`;
  const en = await get(proxy, url, "-H", "Accept-Language: en");
  assert.equal(en.text, "hello in en\n");
  assert.equal(en.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  const de = await get(proxy, url, "-H", "Accept-Language: de");
  assert.equal(de.text, "hello in de\n");
  assert.equal(de.headers["cache-status"], "hoard; fwd=vary-miss; stored");
  assert.equal(origin.count("/lang"), 2);

  for (const lang of ["en", "de", "en", "de"]) {
    const r = await get(proxy, url, "-H", `Accept-Language: ${lang}`);
    assert.equal(r.text, `hello in ${lang}\n`);
    assert.match(r.headers["cache-status"]!, HIT);
    assert.equal(r.headers["vary"], "Accept-Language");
  }
  assert.equal(origin.count("/lang"), 2);

  for (let n = 0; n < 2; n++) {
    const r = await get(proxy, `${origin.url}/star`);
    assert.equal(r.text, `star ${n}\n`);
    assert.equal(r.headers["cache-status"], 'hoard; fwd=uri-miss; detail="vary *"');
  }
  assert.equal(origin.count("/star"), 2);
});

Deno.test("unsafe methods invalidate the URL and its Location, unless they fail", async () => {
  let postStatus = 200;
  // Numbers the GETs of each path (the POSTs to /item are not counted).
  const gets = new Map<string, number>();
  const cached = (name: string) => () => {
    const n = gets.get(name) ?? 0;
    gets.set(name, n + 1);
    return new Response(`${name} ${n}\n`, { headers: { "cache-control": "max-age=60" } });
  };
  await using origin = startRoutedOrigin({
    "/item": (req) =>
      req.method === "POST"
        ? new Response("posted\n", { status: postStatus, headers: { location: "/other" } })
        : cached("item")(),
    "/other": cached("other"),
  });
  await using proxy = await startTestProxy();
  const item = `${origin.url}/item`, other = `${origin.url}/other`;
  const getsSeen = () => origin.requests.filter((r) => r.method === "GET").length;

  assert.equal((await get(proxy, item)).text, "item 0\n");
  assert.equal((await get(proxy, other)).text, "other 0\n");
  assert.match((await get(proxy, item)).headers["cache-status"]!, HIT);
  assert.match((await get(proxy, other)).headers["cache-status"]!, HIT);
  assert.equal(getsSeen(), 2);

  // A failed POST leaves both entries alone.
  postStatus = 500;
  const failed = await get(proxy, item, "-d", "x=1");
  assert.equal(failed.status, 500);
  assert.equal(failed.headers["cache-status"], "hoard; fwd=method");
  const stillItem = await get(proxy, item);
  assert.equal(stillItem.text, "item 0\n");
  assert.match(stillItem.headers["cache-status"]!, HIT);
  assert.match((await get(proxy, other)).headers["cache-status"]!, HIT);
  assert.equal(getsSeen(), 2);

  // A successful one invalidates its URL and the Location on the same origin.
  postStatus = 200;
  const posted = await get(proxy, item, "-d", "x=2");
  assert.equal(posted.status, 200);
  assert.equal(posted.text, "posted\n");
  const refetched = await get(proxy, item);
  assert.equal(refetched.text, "item 1\n");
  assert.equal(refetched.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  const otherRefetched = await get(proxy, other);
  assert.equal(otherRefetched.text, "other 1\n");
  assert.equal(otherRefetched.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  assert.equal(getsSeen(), 4);
  assert.equal(origin.requests.filter((r) => r.method === "POST").length, 2);

  // And the refetched responses are stored again.
  assert.match((await get(proxy, item)).headers["cache-status"]!, HIT);
  assert.equal(getsSeen(), 4);
});

Deno.test("DELETE invalidates its Content-Location; a Location on another origin is left alone", async () => {
  let elsewhereUrl = "";
  const cached = (name: string) => (_req: Request, n: number) =>
    new Response(`${name} ${n}\n`, { headers: { "cache-control": "max-age=60" } });
  await using elsewhere = startRoutedOrigin({ "/elsewhere": cached("elsewhere") });
  elsewhereUrl = `${elsewhere.url}/elsewhere`;
  await using origin = startRoutedOrigin({
    "/doc": (req, n) =>
      req.method === "DELETE"
        ? new Response(null, {
          status: 204,
          headers: { "content-location": "/third?v=1", location: elsewhereUrl },
        })
        : cached("doc")(req, n),
    "/third?v=1": cached("third"),
  });
  await using proxy = await startTestProxy();
  const urls = [`${origin.url}/doc`, `${origin.url}/third?v=1`, elsewhereUrl];
  for (const u of urls) await get(proxy, u);
  for (const u of urls) assert.match((await get(proxy, u)).headers["cache-status"]!, HIT, u);

  const deleted = await get(proxy, `${origin.url}/doc`, "-X", "DELETE");
  assert.equal(deleted.status, 204);
  assert.equal(deleted.headers["cache-status"], "hoard; fwd=method");

  const doc = await get(proxy, `${origin.url}/doc`);
  assert.equal(doc.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  assert.equal(doc.text, "doc 2\n", "the DELETE was request 1 of /doc");
  const third = await get(proxy, `${origin.url}/third?v=1`);
  assert.equal(third.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  assert.equal(third.text, "third 1\n");
  const other = await get(proxy, elsewhereUrl);
  assert.match(other.headers["cache-status"]!, HIT);
  assert.equal(other.text, "elsewhere 0\n");
  assert.equal(elsewhere.count("/elsewhere"), 1);
});

Deno.test("Authorization: stored only when the response says public", async () => {
  await using origin = startRoutedOrigin({
    "/plain": (_req, n) =>
      new Response(`plain ${n}\n`, { headers: { "cache-control": "max-age=60" } }),
    "/public": (_req, n) =>
      new Response(`public ${n}\n`, { headers: { "cache-control": "public, max-age=60" } }),
  });
  await using proxy = await startTestProxy();
  const auth = ["-H", "Authorization: Bearer secret-token"];
  for (let n = 0; n < 2; n++) {
    const r = await get(proxy, `${origin.url}/plain`, ...auth);
    assert.equal(r.text, `plain ${n}\n`);
    assert.equal(r.headers["cache-status"], "hoard; fwd=uri-miss; detail=authorization");
  }
  assert.equal(origin.count("/plain"), 2);
  assert.equal(origin.requests[0]!.headers.get("authorization"), "Bearer secret-token");

  const first = await get(proxy, `${origin.url}/public`, ...auth);
  assert.equal(first.text, "public 0\n");
  assert.equal(first.headers["cache-status"], "hoard; fwd=uri-miss; stored");
  const second = await get(proxy, `${origin.url}/public`, ...auth);
  assert.equal(second.text, "public 0\n");
  assert.match(second.headers["cache-status"]!, HIT);
  assert.equal(origin.count("/public"), 1);
});

Deno.test("an unusable cache directory: hoard proxies without it and says why", async () => {
  const file = await Deno.makeTempFile({ prefix: "hoard-not-a-dir-" });
  try {
    await using origin = startRoutedOrigin({
      "/x": (_req, n) => new Response(`x ${n}\n`, { headers: { "cache-control": "max-age=60" } }),
    });
    await using proxy = await startTestProxy({ cacheDir: file });
    for (let n = 0; n < 3; n++) {
      const r = await get(proxy, `${origin.url}/x`);
      assert.equal(r.status, 200);
      assert.equal(r.text, `x ${n}\n`);
      assert.equal(r.headers["cache-status"], "hoard; fwd=bypass; detail=no-cache-dir");
      assert.equal(origin.count("/x"), n + 1);
    }
    assert.ok(
      proxy.logs.some((l) => / warn: cache disabled: cannot use /.test(l) && l.includes(file)),
      proxy.logs.join("\n"),
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("the cache directory removed while running: requests still succeed", async () => {
  // Larger than the bodies kept in memory: a hit on /a must read the (removed) file.
  const large = "x".repeat(SMALL_BODY_BYTES);
  await using origin = startRoutedOrigin({
    "/a": (_req, n) =>
      new Response(`a ${n}\n${large}`, { headers: { "cache-control": "max-age=60" } }),
    "/b": (_req, n) => new Response(`b ${n}\n`, { headers: { "cache-control": "max-age=60" } }),
  });
  await using proxy = await startTestProxy();
  assert.equal(
    (await get(proxy, `${origin.url}/a`)).headers["cache-status"],
    "hoard; fwd=uri-miss; stored",
  );
  await Deno.remove(proxy.cacheDir, { recursive: true });

  for (let n = 1; n <= 2; n++) {
    const a = await get(proxy, `${origin.url}/a`);
    assert.equal(a.status, 200);
    assert.equal(a.text, `a ${n}\n${large}`, "its body is gone: fetched again");
    assert.equal(origin.count("/a"), n + 1);
  }
  const b = await get(proxy, `${origin.url}/b`);
  assert.equal(b.status, 200);
  assert.equal(b.text, "b 0\n");
  assert.equal(b.headers["cache-status"], "hoard; fwd=uri-miss; detail=cache-unavailable");
  assert.ok(
    proxy.logs.some((l) => / warn: cache \w+ failed, going on without it: /.test(l)),
    proxy.logs.join("\n"),
  );
  const healthy = await get(proxy, `${proxy.url}/healthz`);
  assert.equal(healthy.text.trim(), "ok");
});
