/**
 * The corners of RFC 9110 / 9111 end to end (issue 16): real curl through
 * hoard to local origins that count what reaches them. Each test checks the
 * body bytes and how many requests reached the origin.
 */

import assert from "node:assert/strict";
import { get, startRoutedOrigin } from "../_helpers/cache_origin.ts";
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
