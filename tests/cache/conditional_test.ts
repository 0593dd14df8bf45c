import assert from "node:assert/strict";
import {
  notModified,
  storedLastModified,
  strongMatch,
  weakMatch,
} from "../../src/cache/conditional.ts";
import { fields, type Lines } from "./policy/_helpers.ts";

const LM = "Mon, 15 Jan 2024 12:00:00 GMT";
const EARLIER = "Mon, 15 Jan 2024 11:59:59 GMT";
const LATER = "Mon, 15 Jan 2024 12:00:01 GMT";

/** [name, request fields, stored ETag, stored Last-Modified, 304?] */
const CASES: [string, Lines, string | undefined, string | undefined, boolean][] = [
  ["no conditional", [], '"a"', LM, false],
  // If-None-Match: weak comparison (RFC 9110 §13.1.2).
  ["INM equal strong", [["If-None-Match", '"a"']], '"a"', LM, true],
  ["INM different", [["If-None-Match", '"b"']], '"a"', LM, false],
  ["INM list containing it", [["If-None-Match", '"x", "a", "y"']], '"a"', undefined, true],
  ["INM list without spaces", [["If-None-Match", '"x","a"']], '"a"', undefined, true],
  ["INM list on two lines", [["If-None-Match", '"x"'], ["If-None-Match", '"a"']], '"a"', LM, true],
  ["INM list not containing it", [["If-None-Match", '"x", "y"']], '"a"', LM, false],
  ["INM weak, stored strong", [["If-None-Match", 'W/"a"']], '"a"', LM, true],
  ["INM strong, stored weak", [["If-None-Match", '"a"']], 'W/"a"', LM, true],
  ["INM weak, stored weak", [["If-None-Match", 'W/"a"']], 'W/"a"', LM, true],
  ["INM weak list", [["If-None-Match", 'W/"x", W/"a"']], '"a"', LM, true],
  ["INM opaque tags compare exactly", [["If-None-Match", '"A"']], '"a"', LM, false],
  ["INM with a comma inside a tag", [["If-None-Match", '"a,b"']], '"a,b"', LM, true],
  ["INM *", [["If-None-Match", "*"]], '"a"', LM, true],
  ["INM * with white space", [["If-None-Match", " * "]], '"a"', undefined, true],
  ["INM without a stored ETag", [["If-None-Match", '"a"']], undefined, LM, false],
  ["INM unquoted (malformed)", [["If-None-Match", "a"]], "a", LM, false],
  // If-Modified-Since (RFC 9110 §13.1.3): not modified when Last-Modified <= date.
  ["IMS later than Last-Modified", [["If-Modified-Since", LATER]], '"a"', LM, true],
  ["IMS equal to Last-Modified", [["If-Modified-Since", LM]], '"a"', LM, true],
  ["IMS earlier than Last-Modified", [["If-Modified-Since", EARLIER]], '"a"', LM, false],
  [
    "IMS in RFC 850 form",
    [["If-Modified-Since", "Monday, 15-Jan-24 12:00:00 GMT"]],
    undefined,
    LM,
    true,
  ],
  ["IMS invalid", [["If-Modified-Since", "not a date"]], '"a"', LM, false],
  ["IMS without a stored Last-Modified", [["If-Modified-Since", LATER]], '"a"', undefined, false],
  ["stored Last-Modified invalid", [["If-Modified-Since", LATER]], '"a"', "garbage", false],
  // If-None-Match takes precedence: If-Modified-Since is then ignored.
  [
    "INM not matching wins over IMS saying not modified",
    [["If-Modified-Since", LATER], ["If-None-Match", '"b"']],
    '"a"',
    LM,
    false,
  ],
  [
    "INM matching wins over IMS saying modified",
    [["If-None-Match", '"a"'], ["If-Modified-Since", EARLIER]],
    '"a"',
    LM,
    true,
  ],
  [
    "INM with no stored ETag: IMS still ignored",
    [["If-None-Match", '"a"'], ["If-Modified-Since", LATER]],
    undefined,
    LM,
    false,
  ],
];

for (const [name, lines, etag, lastModified, expected] of CASES) {
  Deno.test(`notModified: ${name}`, () => {
    assert.equal(notModified(fields(...lines), etag, lastModified), expected);
  });
}

Deno.test({
  name: "notModified: If-None-Match * matches a stored response without ETag",
  fn() {
    assert.equal(notModified(fields(["If-None-Match", "*"]), undefined, undefined), true);
  },
});

Deno.test({
  name: "notModified: an If-Modified-Since that is not an HTTP-date is ignored",
  fn() {
    for (const ims of ["2099", "2099-01-01T00:00:00Z"]) {
      assert.equal(notModified(fields(["If-Modified-Since", ims]), undefined, LM), false, ims);
    }
  },
});

Deno.test({
  name: "notModified: an asctime If-Modified-Since is UTC whatever the local time zone",
  fn() {
    const saved = Deno.env.get("TZ");
    try {
      for (const tz of ["Asia/Tokyo", "America/New_York", "UTC"]) {
        Deno.env.set("TZ", tz);
        const f = (ims: string) => fields(["If-Modified-Since", ims]);
        assert.equal(notModified(f("Mon Jan 15 12:00:00 2024"), undefined, LM), true, tz);
        assert.equal(notModified(f("Mon Jan 15 11:59:59 2024"), undefined, LM), false, tz);
      }
    } finally {
      if (saved === undefined) Deno.env.delete("TZ");
      else Deno.env.set("TZ", saved);
    }
  },
});

Deno.test("weakMatch: compares the opaque tags, W/ ignored", () => {
  assert.equal(weakMatch('"a"', '"a"'), true);
  assert.equal(weakMatch('W/"a"', '"a"'), true);
  assert.equal(weakMatch('"a"', 'W/"a"'), true);
  assert.equal(weakMatch('W/"a"', 'W/"a"'), true);
  assert.equal(weakMatch(' "a" ', '"a"'), true);
  assert.equal(weakMatch('"a"', '"b"'), false);
  assert.equal(weakMatch('W/"a"', 'W/"b"'), false);
});

Deno.test("strongMatch: equal and neither weak", () => {
  assert.equal(strongMatch('"a"', '"a"'), true);
  assert.equal(strongMatch(' "a"', '"a" '), true);
  assert.equal(strongMatch('"a"', '"b"'), false);
  assert.equal(strongMatch('W/"a"', '"a"'), false);
  assert.equal(strongMatch('"a"', 'W/"a"'), false);
  assert.equal(strongMatch('W/"a"', 'W/"a"'), false);
});

Deno.test("storedLastModified: Last-Modified, else Date, else the time of storing (RFC 9111 §4.3.2)", () => {
  const date = "Mon, 15 Jan 2024 12:30:00 GMT";
  const storedAt = Date.UTC(2024, 0, 15, 13, 0, 0);
  assert.equal(storedLastModified(LM, date, storedAt), LM);
  assert.equal(storedLastModified(undefined, date, storedAt), date);
  assert.equal(storedLastModified("not a date", date, storedAt), date);
  assert.equal(storedLastModified(undefined, undefined, storedAt), "Mon, 15 Jan 2024 13:00:00 GMT");
  assert.equal(
    storedLastModified(undefined, "yesterday", storedAt),
    "Mon, 15 Jan 2024 13:00:00 GMT",
  );
  // With it, If-Modified-Since at or after Date is answered 304; before it, not.
  const since = (ims: string) => fields(["If-Modified-Since", ims]);
  const modified = storedLastModified(undefined, date, storedAt);
  assert.equal(notModified(since(date), undefined, modified), true);
  assert.equal(notModified(since("Mon, 15 Jan 2024 12:29:59 GMT"), undefined, modified), false);
});
