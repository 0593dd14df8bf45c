import assert from "node:assert/strict";
import { appendVia, endToEndFields, fieldsOf, httpDate } from "../src/headers.ts";

Deno.test("endToEndFields: drops hop-by-hop fields and those Connection names, keeps order and repeats", () => {
  const f = fieldsOf(
    ["Host", "h"],
    ["Connection", "keep-alive, X-Hop"],
    ["X-Hop", "1"],
    ["Set-Cookie", "a=1"],
    ["Keep-Alive", "timeout=5"],
    ["Proxy-Connection", "keep-alive"],
    ["Proxy-Authorization", "Basic eA=="],
    ["TE", "trailers"],
    ["Trailer", "X-T"],
    ["Transfer-Encoding", "chunked"],
    ["Upgrade", "websocket"],
    ["Set-Cookie", "b=2"],
  );
  assert.deepEqual([...endToEndFields(f)], [["Host", "h"], ["Set-Cookie", "a=1"], [
    "Set-Cookie",
    "b=2",
  ]]);
  assert.deepEqual([...endToEndFields(f, new Set(["host"]))], [["Set-Cookie", "a=1"], [
    "Set-Cookie",
    "b=2",
  ]]);
});

Deno.test("appendVia: adds hoard after earlier hops", () => {
  const f = fieldsOf(["Via", "1.0 a"], ["Via", "1.1 b"]);
  appendVia(f);
  assert.deepEqual([...f], [["Via", "1.0 a, 1.1 b, 1.1 hoard"]]);
  const g = fieldsOf();
  appendVia(g);
  assert.deepEqual([...g], [["Via", "1.1 hoard"]]);
});

Deno.test("httpDate: IMF-fixdate of the given second", () => {
  assert.equal(httpDate(Date.UTC(2026, 10, 25, 9, 3, 57, 500)), "Wed, 25 Nov 2026 09:03:57 GMT");
  assert.equal(httpDate(Date.UTC(1994, 10, 6, 8, 49, 37)), "Sun, 06 Nov 1994 08:49:37 GMT");
});
