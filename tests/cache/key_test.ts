import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  languagePreferences,
  primaryKey,
  sameSecondaryBut,
  secondaryKey,
  storeId,
  varyNames,
} from "../../src/cache/key.ts";
import { parseRequestTarget } from "../../src/http1/target.ts";
import { fields } from "./policy/_helpers.ts";

// --- primaryKey ------------------------------------------------------------

Deno.test("primaryKey: the default port is left out, another port is kept", () => {
  assert.equal(primaryKey("http", "example.com", 80, "/a"), "http://example.com/a");
  assert.equal(primaryKey("https", "example.com", 443, "/a"), "https://example.com/a");
  assert.equal(primaryKey("http", "example.com", 8080, "/a"), "http://example.com:8080/a");
  // Each scheme's own default: 443 is not the default of http.
  assert.equal(primaryKey("http", "example.com", 443, "/"), "http://example.com:443/");
  assert.equal(primaryKey("https", "example.com", 80, "/"), "https://example.com:80/");
});

Deno.test("primaryKey: IPv6 literals are bracketed", () => {
  assert.equal(primaryKey("http", "::1", 80, "/x"), "http://[::1]/x");
  assert.equal(primaryKey("https", "2001:db8::1", 8443, "/p"), "https://[2001:db8::1]:8443/p");
});

Deno.test("primaryKey: the path is kept byte for byte", () => {
  for (const path of ["/", "/a/./b/../c", "/%7Euser/%2F?q=%41&b", "/A?", "/x?y#", "/é"]) {
    assert.equal(primaryKey("http", "h.test", 80, path), `http://h.test${path}`);
  }
});

Deno.test("primaryKey: the key of a parsed request-target has a lower-case host", () => {
  // The only caller passes a parsed target, whose host parseAuthority lower-cases.
  const t = parseRequestTarget("GET", "http://EXAMPLE.Com:80/A%2Fb/../c?Q");
  assert.equal(t.form, "absolute");
  if (t.form !== "absolute") return;
  assert.equal(primaryKey(t.scheme, t.host, t.port, t.path), "http://example.com/A%2Fb/../c?Q");
  const t6 = parseRequestTarget("GET", "HTTPS://[::1]:443/");
  assert.equal(t6.form, "absolute");
  if (t6.form !== "absolute") return;
  assert.equal(primaryKey(t6.scheme, t6.host, t6.port, t6.path), "https://[::1]/");
});

Deno.test({
  name: "primaryKey: lower-cases the host itself",
  fn() {
    assert.equal(primaryKey("http", "EXAMPLE.Com", 80, "/"), "http://example.com/");
  },
});

// --- secondaryKey ----------------------------------------------------------

Deno.test("secondaryKey: one line per vary name, in the order given", () => {
  const f = fields(["Accept", "text/html"], ["Accept-Language", "fr"]);
  assert.equal(
    secondaryKey(["accept", "accept-language"], f),
    "accept=text/html\naccept-language=fr\n",
  );
  assert.equal(
    secondaryKey(["accept-language", "accept"], f),
    "accept-language=fr\naccept=text/html\n",
  );
  assert.notEqual(
    secondaryKey(["accept", "accept-language"], f),
    secondaryKey(["accept-language", "accept"], f),
  );
});

Deno.test("secondaryKey: a missing field differs from one sent empty", () => {
  const missing = secondaryKey(["accept"], fields());
  const empty = secondaryKey(["accept"], fields(["Accept", ""]));
  assert.equal(missing, "accept\n");
  assert.equal(empty, "accept=\n");
  assert.notEqual(missing, empty);
});

Deno.test("secondaryKey: repeated lines are combined like one list value", () => {
  const twoLines = secondaryKey(
    ["accept-encoding"],
    fields(["Accept-Encoding", "gzip"], [
      "accept-encoding",
      "br",
    ]),
  );
  const oneLine = secondaryKey(["accept-encoding"], fields(["Accept-Encoding", "gzip, br"]));
  assert.equal(twoLines, "accept-encoding=gzip, br\n");
  assert.equal(twoLines, oneLine);
});

Deno.test("secondaryKey: case is kept, white space is normalised (RFC 9111 §4.1)", () => {
  assert.equal(secondaryKey(["x"], fields(["X", "A"])), "x=A\n");
  assert.notEqual(
    secondaryKey(["x"], fields(["X", "A"])),
    secondaryKey(["x"], fields(["X", "a"])),
  );
  assert.equal(secondaryKey(["x"], fields(["X", "gzip,br"])), "x=gzip, br\n");
});

Deno.test("secondaryKey: white space differences in any field make no new variant", () => {
  const same: [string, string[]][] = [
    ["accept-encoding", ["gzip, br", "gzip,br", " gzip ,  br ", "gzip,\tbr"]],
    ["accept", ["text/html;q=0.9, */*;q=0.8", "text/html; q=0.9,*/*; q = 0.8"]],
    ["user-agent", ["curl/8.5.0  (x86_64;  linux)", "curl/8.5.0 (x86_64; linux)"]],
  ];
  for (const [name, [first = "", ...others]] of same) {
    const key = secondaryKey([name], fields([name, first]));
    for (const other of others) {
      assert.equal(secondaryKey([name], fields([name, other])), key, `${name}: ${other}`);
    }
  }
  // Split over two lines is the same list.
  assert.equal(
    secondaryKey(
      ["accept-encoding"],
      fields(["Accept-Encoding", "gzip"], ["Accept-Encoding", "br"]),
    ),
    secondaryKey(["accept-encoding"], fields(["Accept-Encoding", "gzip,br"])),
  );
  // What is not white space still counts: order outside Accept-Language, and quoted strings.
  const ae = (v: string) => secondaryKey(["accept-encoding"], fields(["Accept-Encoding", v]));
  assert.notEqual(ae("gzip, br"), ae("br, gzip"));
  assert.notEqual(ae("gzip"), ae("gzip, br"));
  const x = (v: string) => secondaryKey(["x"], fields(["X", v]));
  assert.notEqual(x('a="b  c"'), x('a="b c"'));
  assert.equal(x('a = "b  c" ,d'), 'x=a="b  c", d\n');
});

Deno.test("secondaryKey: Accept-Language differing only in order, case or white space is one variant", () => {
  const al = (v: string) => secondaryKey(["accept-language"], fields(["Accept-Language", v]));
  const key = al("da, en-gb;q=0.8, en;q=0.7");
  assert.equal(key, "accept-language=da, en-gb;q=0.8, en;q=0.7\n");
  for (
    const v of [
      "en;q=0.7, en-gb;q=0.8, da",
      "DA, EN-GB;Q=0.8, En;q=0.7",
      " da ,en-gb ; q=0.8,en;q=0.7 ",
      "da;q=1, en-gb;q=0.800, en;q=0.7",
      "da;q=1.0, en-gb;q=0.8, en;q=0.70",
    ]
  ) assert.equal(al(v), key, v);
  // Equal weights in any order are the same preference.
  assert.equal(al("de, fr"), al("fr, de"));
  // Other weights or ranges are another variant.
  assert.notEqual(al("da, en-gb;q=0.7"), key);
  assert.notEqual(al("da"), key);
  assert.notEqual(al("da, en;q=0"), al("da"));
});

Deno.test("languagePreferences: most wanted first, invalid weights count as 1", () => {
  assert.deepEqual(languagePreferences("fr;q=0.5, de, *;q=0.1, en-US;q=0.5"), [
    { range: "de", q: 1 },
    { range: "en-us", q: 0.5 },
    { range: "fr", q: 0.5 },
    { range: "*", q: 0.1 },
  ]);
  assert.deepEqual(languagePreferences("x;q=2, y;q=abc, , z;q=0"), [
    { range: "x", q: 1 },
    { range: "y", q: 1 },
    { range: "z", q: 0 },
  ]);
  assert.deepEqual(languagePreferences(""), []);
});

Deno.test("sameSecondaryBut: every line but the one left out must match", () => {
  const vary = ["accept-encoding", "accept-language"];
  const stored = secondaryKey(vary, fields(["Accept-Encoding", "gzip"], ["Accept-Language", "de"]));
  const req = (ae: string | undefined, al: string) =>
    fields(...(ae === undefined ? [] : [["Accept-Encoding", ae] as const]), [
      "Accept-Language",
      al,
    ]);
  assert.equal(sameSecondaryBut(vary, stored, req("gzip", "fr"), "accept-language"), true);
  assert.equal(sameSecondaryBut(vary, stored, req(" gzip", "fr"), "accept-language"), true);
  assert.equal(sameSecondaryBut(vary, stored, req("br", "de"), "accept-language"), false);
  assert.equal(sameSecondaryBut(vary, stored, req(undefined, "de"), "accept-language"), false);
  assert.equal(sameSecondaryBut(vary, stored, req("gzip", "fr"), "accept-encoding"), false);
});

Deno.test("secondaryKey: no vary names, empty key; unrelated fields do not count", () => {
  assert.equal(secondaryKey([], fields(["Accept", "x"])), "");
  assert.equal(secondaryKey(["accept"], fields(["Accept", "x"], ["Cookie", "c=1"])), "accept=x\n");
});

// --- varyNames -------------------------------------------------------------

Deno.test("varyNames: lower-case, trimmed, de-duplicated, in order", () => {
  assert.deepEqual(varyNames(undefined), []);
  assert.deepEqual(varyNames(""), []);
  assert.deepEqual(varyNames(" , ,"), []);
  assert.deepEqual(varyNames("Accept"), ["accept"]);
  assert.deepEqual(
    varyNames("Accept-Encoding, ACCEPT-encoding ,User-Agent,accept-encoding"),
    ["accept-encoding", "user-agent"],
  );
  assert.deepEqual(varyNames("b, a, B"), ["b", "a"]);
});

Deno.test('varyNames: "*" wins over every name', () => {
  assert.deepEqual(varyNames("*"), ["*"]);
  assert.deepEqual(varyNames("Accept, *"), ["*"]);
  assert.deepEqual(varyNames(" * , Accept"), ["*"]);
  assert.deepEqual(varyNames("Accept, x*"), ["accept", "x*"]);
});

// --- storeId ---------------------------------------------------------------

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

Deno.test("storeId: 64 lower-case hex digits, the SHA-256 of the parts joined by NUL", () => {
  const id = storeId("http://example.com/");
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(id, sha256("http://example.com/"));
  assert.equal(storeId("k", "accept=x\n"), sha256("k\0accept=x\n"));
  assert.equal(storeId("k", "range", "bytes=0-9"), sha256("k\0range\0bytes=0-9"));
  assert.equal(storeId(), sha256(""));
});

Deno.test("storeId: the same parts give the same id, different parts different ids", () => {
  assert.equal(storeId("http://a/", "accept=x\n"), storeId("http://a/", "accept=x\n"));
  const ids = [
    storeId("http://a/"),
    storeId("http://b/"),
    storeId("http://a/", ""),
    storeId("http://a/", "accept\n"),
    storeId("http://a/", "accept=\n"),
    storeId("http://a/", "range", "bytes=0-9"),
    storeId("http://a/", "range", "bytes=0-8"),
    storeId("ab"),
    storeId("a", "b"),
    storeId("a", "b", ""),
  ];
  assert.equal(new Set(ids).size, ids.length);
});

Deno.test('storeId: ("a", "b") and ("a\\0b") share an id: parts are joined by NUL', () => {
  // The contract: an id is unambiguous only while no part holds a NUL. Keys
  // are request-targets (visible ASCII) and secondary keys are made of field
  // values, from which the head parser refuses NUL, so no two cache keys meet.
  assert.equal(storeId("a", "b"), storeId("a\0b"));
  assert.equal(storeId("k", "range", "r"), storeId("k\0range", "r"));
});
