/**
 * The corners of RFC 9110 / 9111 end to end (issue 16): real curl through
 * hoard to local origins that count what reaches them. Each test checks the
 * body bytes and how many requests reached the origin.
 */

import assert from "node:assert/strict";
import { get, sleep, startRoutedOrigin } from "../_helpers/cache_origin.ts";
import { startRawHttpOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

const HIT = /^hoard; hit; ttl=(\d+)$/;
const STORED = "hoard; fwd=uri-miss; stored";

Deno.test("an invalid Age is ignored: a max-age=3600 response with Age abc, -7200 or 1.5 is a hit", async () => {
  const values = ["abc", "-7200", "1.5"];
  await using origin = startRoutedOrigin(Object.fromEntries(values.map((age, i) => [
    `/age${i}`,
    () => new Response(`age ${age}\n`, { headers: { "cache-control": "max-age=3600", age } }),
  ])));
  await using proxy = await startTestProxy();
  for (const [i, age] of values.entries()) {
    const url = `${origin.url}/age${i}`;
    assert.equal((await get(proxy, url)).headers["cache-status"], STORED, age);
    const again = await get(proxy, url);
    assert.equal(again.text, `age ${age}\n`, age);
    const ttl = Number(HIT.exec(again.headers["cache-status"] ?? "")?.[1]);
    assert.ok(ttl > 3590 && ttl <= 3600, `${age}: ${again.headers["cache-status"]}`);
    assert.match(again.headers["age"]!, /^[01]$/, age);
    assert.equal(origin.count(`/age${i}`), 1, age);
  }
});

Deno.test("two Expires lines make the response stale, unless max-age says otherwise", async () => {
  const inAnHour = new Date(Date.now() + 3600_000).toUTCString();
  await using origin = startRawHttpOrigin((head) => {
    const maxAge = head.includes("/with-max-age") ? "Cache-Control: max-age=60\r\n" : "";
    return `HTTP/1.1 200 OK\r\nDate: ${new Date().toUTCString()}\r\n` +
      `Expires: ${inAnHour}\r\nExpires: ${inAnHour}\r\n${maxAge}Content-Length: 5\r\n\r\nbody\n`;
  });
  await using proxy = await startTestProxy();
  const requests = (path: string) => origin.heads.filter((h) => h.includes(` ${path} `)).length;

  const stale = `${origin.url}/two-expires`;
  assert.equal((await get(proxy, stale)).headers["cache-status"], STORED);
  const again = await get(proxy, stale);
  assert.equal(again.text, "body\n");
  assert.equal(again.headers["cache-status"], "hoard; fwd=stale; fwd-status=200; stored");
  assert.equal(requests("/two-expires"), 2);

  const fresh = `${origin.url}/with-max-age`;
  await get(proxy, fresh);
  const hit = await get(proxy, fresh);
  assert.equal(hit.text, "body\n");
  assert.match(hit.headers["cache-status"]!, HIT);
  assert.equal(requests("/with-max-age"), 1);
});

Deno.test("explicit freshness makes 400, 499 and an unknown 299 cacheable, while fresh and not after", async () => {
  const statuses = [400, 499, 299];
  await using origin = startRoutedOrigin(Object.fromEntries(statuses.map((status) => [
    `/s${status}`,
    (_req, n) =>
      new Response(`status ${status}, answer ${n}\n`, {
        status,
        // Date has whole seconds: the age on arrival may be 1 already.
        headers: { "cache-control": "max-age=2", etag: `"e${status}"` },
      }),
  ])));
  await using proxy = await startTestProxy();
  for (const status of statuses) {
    const url = `${origin.url}/s${status}`;
    const first = await get(proxy, url);
    assert.equal(first.status, status);
    assert.equal(first.headers["cache-status"], STORED, String(status));
    const hit = await get(proxy, url);
    assert.equal(hit.status, status);
    assert.equal(hit.text, `status ${status}, answer 0\n`);
    assert.match(hit.headers["cache-status"]!, HIT);
    // An unknown code is handled as the x00 of its class: a 2xx answers a
    // matching If-None-Match with 304, a 4xx does not.
    const conditional = await get(proxy, url, "-H", `If-None-Match: "e${status}"`);
    assert.equal(conditional.status, status === 299 ? 304 : status, String(status));
    assert.equal(conditional.text, status === 299 ? "" : `status ${status}, answer 0\n`);
    assert.equal(origin.count(`/s${status}`), 1, String(status));
  }
  await sleep(2100);
  for (const status of statuses) {
    const stale = await get(proxy, `${origin.url}/s${status}`);
    assert.equal(stale.text, `status ${status}, answer 1\n`, String(status));
    assert.equal(origin.count(`/s${status}`), 2, String(status));
  }
});

Deno.test("must-understand, no-store: stored for a status hoard understands, not for an unknown one", async () => {
  const cc = { "cache-control": "must-understand, no-store, max-age=60" };
  await using origin = startRoutedOrigin({
    "/understood": (_req, n) => new Response(`understood ${n}\n`, { headers: cc }),
    "/unknown": (_req, n) => new Response(`unknown ${n}\n`, { status: 299, headers: cc }),
  });
  await using proxy = await startTestProxy();
  const understood = `${origin.url}/understood`, unknown = `${origin.url}/unknown`;
  assert.equal((await get(proxy, understood)).headers["cache-status"], STORED);
  const hit = await get(proxy, understood);
  assert.equal(hit.text, "understood 0\n");
  assert.match(hit.headers["cache-status"]!, HIT);
  assert.equal(origin.count("/understood"), 1);

  const first = await get(proxy, unknown);
  assert.equal(first.headers["cache-status"], "hoard; fwd=uri-miss; detail=must-understand");
  const second = await get(proxy, unknown);
  assert.equal(second.status, 299);
  assert.equal(second.text, "unknown 1\n");
  assert.equal(origin.count("/unknown"), 2);
});

Deno.test("a body whose Transfer-Encoding does not end in chunked runs to the close: relayed unchanged, not stored", async () => {
  const body = "\x1f\x8b\x08\x00 not really gzip, ends at the close \xff\x00";
  await using origin = startRawHttpOrigin(() =>
    "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: gzip\r\n" +
    `Connection: close\r\n\r\n${body}`
  );
  await using proxy = await startTestProxy();
  for (let i = 1; i <= 2; i++) {
    const r = await get(proxy, `${origin.url}/te-gzip`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, Uint8Array.from(body, (c) => c.charCodeAt(0)));
    assert.equal(r.headers["cache-status"], "hoard; fwd=uri-miss; detail=unframed");
    assert.equal(origin.heads.length, i);
  }
});

Deno.test("Set-Cookie is never stored: the client that got it keeps it, a hit carries none", async () => {
  await using origin = startRoutedOrigin({
    "/cookie": () =>
      new Response("shared body\n", {
        headers: { "cache-control": "max-age=60", "set-cookie": "session=job-1" },
      }),
  });
  await using proxy = await startTestProxy();
  const first = await get(proxy, `${origin.url}/cookie`);
  assert.equal(first.headers["set-cookie"], "session=job-1");
  assert.equal(first.headers["cache-status"], STORED);
  const hit = await get(proxy, `${origin.url}/cookie`);
  assert.equal(hit.text, "shared body\n");
  assert.match(hit.headers["cache-status"]!, HIT);
  assert.equal(hit.headers["set-cookie"], undefined);
  assert.equal(origin.count("/cookie"), 1);
});

Deno.test("If-Modified-Since against a stored response without Last-Modified is compared with its Date: 304 from the cache", async () => {
  const date = new Date(Math.floor(Date.now() / 1000) * 1000).toUTCString();
  await using origin = startRoutedOrigin({
    "/dated": () =>
      new Response("dated body\n", { headers: { "cache-control": "max-age=3600", date } }),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/dated`;
  await get(proxy, url);
  const notModified = await get(proxy, url, "-H", `If-Modified-Since: ${date}`);
  assert.equal(notModified.status, 304);
  assert.equal(notModified.body.length, 0);
  assert.match(notModified.headers["cache-status"]!, HIT);
  const earlier = new Date(Date.parse(date) - 1000).toUTCString();
  const modified = await get(proxy, url, "-H", `If-Modified-Since: ${earlier}`);
  assert.equal(modified.status, 200);
  assert.equal(modified.text, "dated body\n");
  assert.match(modified.headers["cache-status"]!, HIT);
  assert.equal(origin.count("/dated"), 1);
});

Deno.test("a POST answer with Content-Location naming its URL and max-age answers later GETs of that URL", async () => {
  let posts = 0;
  const answer = (location: string) => async (req: Request) => {
    if (req.method !== "POST") return new Response(`GET reached the origin\n`);
    const sent = await req.text();
    return new Response(`posted ${posts++}: ${sent}\n`, {
      headers: { "cache-control": "max-age=60", "content-location": location },
    });
  };
  await using origin = startRoutedOrigin({
    "/form": answer("/form"),
    "/elsewhere": answer("/form"),
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/form`;
  const posted = await get(proxy, url, "--data-binary", "a=1");
  assert.equal(posted.text, "posted 0: a=1\n");
  assert.equal(posted.headers["cache-status"], "hoard; fwd=method; stored");
  const hit = await get(proxy, url);
  assert.equal(hit.text, "posted 0: a=1\n");
  assert.match(hit.headers["cache-status"]!, HIT);
  const head = await get(proxy, url, "-I");
  assert.equal(head.headers["content-length"], "14");

  // A later POST replaces it; one whose Content-Location names another URL only invalidates.
  assert.equal((await get(proxy, url, "--data-binary", "b=2")).text, "posted 1: b=2\n");
  assert.equal((await get(proxy, url)).text, "posted 1: b=2\n");
  const other = await get(proxy, `${origin.url}/elsewhere`, "--data-binary", "c=3");
  assert.equal(other.headers["cache-status"], "hoard; fwd=method");
  assert.equal((await get(proxy, `${origin.url}/elsewhere`)).text, "GET reached the origin\n");
  assert.deepEqual(origin.requests.map((r) => `${r.method} ${r.path}`), [
    "POST /form",
    "POST /form",
    "POST /elsewhere",
    "GET /elsewhere",
  ]);
});

Deno.test("Vary: Accept-Language in another order, case or spacing, or one whose top choice is the stored Content-Language, selects the stored variant", async () => {
  await using origin = startRoutedOrigin({
    "/page": (req) => {
      // The origin picks the first of its languages the request wants most.
      const wanted = (req.headers.get("accept-language") ?? "").split(",").map((m) => {
        const [range = "", q = "q=1"] = m.replace(/\s/g, "").toLowerCase().split(";");
        return { range, q: Number(q.slice(2)) };
      }).sort((a, b) => b.q - a.q);
      const language = wanted.find((w) => ["de", "fr", "en"].includes(w.range))?.range ?? "en";
      return new Response(`page in ${language}, ${req.headers.get("accept-encoding")}\n`, {
        headers: {
          "cache-control": "max-age=60",
          "vary": "Accept-Language, Accept-Encoding",
          "content-language": language,
        },
      });
    },
  });
  await using proxy = await startTestProxy();
  const url = `${origin.url}/page`;
  const ask = (al: string, ae = "gzip, br") =>
    get(proxy, url, "-H", `Accept-Language: ${al}`, "-H", `Accept-Encoding: ${ae}`);

  const first = await ask("de, en;q=0.5");
  assert.equal(first.text, "page in de, gzip, br\n");
  assert.equal(first.headers["cache-status"], STORED);
  for (
    const [al, ae] of [["EN;q=0.5 , de", "gzip,br"], ["de", "gzip ,  br"], [
      "de-AT;q=0.9, de",
      undefined,
    ]]
  ) {
    const hit = await ask(al!, ae);
    assert.equal(hit.text, "page in de, gzip, br\n", al);
    assert.match(hit.headers["cache-status"]!, HIT, al);
  }
  assert.equal(origin.count("/page"), 1);

  const fr = await ask("fr");
  assert.equal(fr.text, "page in fr, gzip, br\n");
  assert.equal(fr.headers["cache-status"], "hoard; fwd=vary-miss; stored");
  assert.equal((await ask("fr;q=0.9, de;q=0.1")).text, "page in fr, gzip, br\n");
  assert.equal(origin.count("/page"), 2);

  // Another Accept-Encoding, or another language wanted most: a new variant.
  assert.equal((await ask("de", "br")).text, "page in de, br\n");
  assert.equal((await ask("en, de;q=0.9")).text, "page in en, gzip, br\n");
  assert.equal(origin.count("/page"), 4);
});
