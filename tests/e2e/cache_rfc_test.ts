/**
 * The corners of RFC 9110 / 9111 end to end (issue 16): real curl through
 * hoard to local origins that count what reaches them. Each test checks the
 * body bytes and how many requests reached the origin.
 */

import assert from "node:assert/strict";
import { get, startRoutedOrigin } from "../_helpers/cache_origin.ts";
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
