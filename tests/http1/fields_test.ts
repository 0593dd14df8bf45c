import assert from "node:assert/strict";
import { FieldList, listTokens, trimOws } from "../../src/http1/fields.ts";

function listOf(...pairs: [string, string][]): FieldList {
  const f = new FieldList();
  for (const [n, v] of pairs) f.add(n, v);
  return f;
}

Deno.test("FieldList: keeps wire order and the received case of names", () => {
  const f = listOf(["Host", "a"], ["X-Custom-THING", "1"], ["accept", "*/*"]);
  assert.equal(f.size, 3);
  assert.deepEqual([...f], [["Host", "a"], ["X-Custom-THING", "1"], ["accept", "*/*"]]);
});

Deno.test("FieldList: lookups take the lower-case name and match any received case", () => {
  const f = listOf(["Content-TYPE", "text/html"]);
  assert.equal(f.get("content-type"), "text/html");
  assert.equal(f.has("content-type"), true);
  // Lookups are by the lower-case name only; callers pass it already lowered.
  assert.equal(f.get("Content-TYPE"), undefined);
  assert.equal(f.has("Content-TYPE"), false);
  assert.equal(f.get("content-length"), undefined);
  assert.equal(f.has("content-length"), false);
});

Deno.test("FieldList.byLowerName: one entry per lower-case name, repeated lines joined in order", () => {
  const f = listOf(
    ["Cache-Control", "max-age=60"],
    ["Vary", "Accept"],
    ["cache-control", "public"],
    ["Constructor", "x"],
  );
  const r = f.byLowerName();
  assert.deepEqual(Object.keys(r), ["cache-control", "vary", "constructor"]);
  assert.equal(r["cache-control"], "max-age=60, public");
  assert.equal(r["vary"], "Accept");
  // A name that an object inherits is a field like any other, not joined onto the inherited value.
  assert.equal(r["constructor"], "x");
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
});

Deno.test("FieldList: repeated fields stay separate lines (Set-Cookie)", () => {
  const f = listOf(["Set-Cookie", "a=1; Path=/"], ["Date", "x"], ["set-cookie", "b=2, c=3"]);
  assert.equal(f.size, 3);
  assert.equal(f.get("set-cookie"), "a=1; Path=/");
  assert.deepEqual(f.getAll("set-cookie"), ["a=1; Path=/", "b=2, c=3"]);
  assert.deepEqual(f.getAll("missing"), []);
  assert.deepEqual([...f], [["Set-Cookie", "a=1; Path=/"], ["Date", "x"], [
    "set-cookie",
    "b=2, c=3",
  ]]);
});

Deno.test("FieldList.combined: joins repeats with comma-space, undefined when absent", () => {
  const f = listOf(["Cache-Control", "no-cache"], ["X", "1"], ["cache-control", "max-age=0"]);
  assert.equal(f.combined("cache-control"), "no-cache, max-age=0");
  assert.equal(f.combined("x"), "1");
  assert.equal(f.combined("y"), undefined);
  // An empty value is still a present field.
  assert.equal(listOf(["Z", ""]).combined("z"), "");
});

Deno.test("FieldList.delete: removes every line of that name and keeps the others in order", () => {
  const f = listOf(["A", "1"], ["B", "2"], ["a", "3"], ["C", "4"], ["A", "5"]);
  f.delete("a");
  assert.deepEqual([...f], [["B", "2"], ["C", "4"]]);
  assert.equal(f.size, 2);
  assert.equal(f.has("a"), false);
  f.delete("nothing");
  assert.deepEqual([...f], [["B", "2"], ["C", "4"]]);
  // Lookups still work after the internal arrays were rebuilt.
  assert.equal(f.get("c"), "4");
});

Deno.test("FieldList.set: replaces all lines with one, at the first one's position", () => {
  const f = listOf(["Via", "1.1 a"], ["Host", "h"], ["via", "1.1 b"], ["X", "y"]);
  f.set("VIA", "1.1 hoard");
  // The first line keeps its name case; only the value changes.
  assert.deepEqual([...f], [["Via", "1.1 hoard"], ["Host", "h"], ["X", "y"]]);
  assert.deepEqual(f.getAll("via"), ["1.1 hoard"]);
  assert.equal(f.size, 3);
});

Deno.test("FieldList.set: appends when the field is absent", () => {
  const f = listOf(["Host", "h"]);
  f.set("Connection", "close");
  assert.deepEqual([...f], [["Host", "h"], ["Connection", "close"]]);
  assert.equal(f.get("connection"), "close");
});

Deno.test("FieldList.filter: returns a new list and leaves the original alone", () => {
  const f = listOf(["Connection", "close"], ["Host", "h"], ["Keep-Alive", "5"], ["X", "1"]);
  const seen: string[] = [];
  const kept = f.filter((name) => {
    seen.push(name);
    return name !== "connection" && name !== "keep-alive";
  });
  assert.deepEqual(seen, ["connection", "host", "keep-alive", "x"]);
  assert.deepEqual([...kept], [["Host", "h"], ["X", "1"]]);
  assert.equal(f.size, 4);
  kept.add("Y", "2");
  assert.equal(f.has("y"), false);
});

Deno.test("FieldList.clone: a copy that changes without changing the original", () => {
  const f = listOf(["Content-Type", "text/plain"], ["ETag", '"a"']);
  const c = f.clone();
  c.set("Age", "3");
  c.set("etag", '"b"');
  c.add("Cache-Status", "hoard; hit");
  assert.deepEqual([...f], [["Content-Type", "text/plain"], ["ETag", '"a"']]);
  assert.equal(f.has("age"), false);
  assert.deepEqual([...c], [
    ["Content-Type", "text/plain"],
    ["ETag", '"b"'],
    ["Age", "3"],
    ["Cache-Status", "hoard; hit"],
  ]);
  // A second copy starts from the original again.
  assert.deepEqual([...f.clone()], [...f]);
});

Deno.test("FieldList.block: each line as it goes on the wire, repeats and name case kept", () => {
  const f = listOf(["Set-Cookie", "a=1"], ["set-cookie", "b=2"], ["X", ""]);
  assert.equal(f.block(), "Set-Cookie: a=1\r\nset-cookie: b=2\r\nX: \r\n");
  assert.equal(new FieldList().block(), "");
});

Deno.test("FieldList.combined: one line comes back as it is, several joined", () => {
  const f = listOf(["Via", "1.1 a"], ["Host", "h"]);
  assert.equal(f.combined("via"), "1.1 a");
  f.add("VIA", "1.1 b");
  assert.equal(f.combined("via"), "1.1 a, 1.1 b");
  assert.equal(f.combined("age"), undefined);
});

Deno.test("listTokens: splits, trims OWS, lower-cases and drops empty members", () => {
  assert.deepEqual(listTokens(undefined), []);
  assert.deepEqual(listTokens(""), []);
  assert.deepEqual(listTokens("close"), ["close"]);
  assert.deepEqual(listTokens(" Keep-Alive ,\tUpgrade\t, , close,"), [
    "keep-alive",
    "upgrade",
    "close",
  ]);
  // U+00A0 is not OWS: it stays part of the token.
  assert.deepEqual(listTokens("close\xA0"), ["close\xA0"]);
});

Deno.test("trimOws: strips only SP and HTAB", () => {
  assert.equal(trimOws(""), "");
  assert.equal(trimOws("   "), "");
  assert.equal(trimOws(" \t a b \t "), "a b");
  assert.equal(trimOws("chunked\t"), "chunked");
  assert.equal(trimOws("chunked\xA0"), "chunked\xA0");
  assert.equal(trimOws("\xA0chunked"), "\xA0chunked");
  assert.equal(trimOws("chunked\r"), "chunked\r");
  assert.equal(trimOws("chunked\n"), "chunked\n");
  assert.equal(trimOws("\vchunked\f"), "\vchunked\f");
  assert.equal(trimOws("\u3000x\u2028"), "\u3000x\u2028");
  const s = "untouched";
  assert.equal(trimOws(s), s);
});
