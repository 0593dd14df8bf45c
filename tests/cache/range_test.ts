import assert from "node:assert/strict";
import { chooseRange, type RangeChoice } from "../../src/cache/range.ts";

const FULL: RangeChoice = { kind: "full" };
const UNSATISFIABLE: RangeChoice = { kind: "unsatisfiable" };
const part = (start: number, end: number): RangeChoice => ({ kind: "partial", start, end });

const ETAG = '"v1"';
const LAST_MODIFIED = "Mon, 15 Jan 2024 12:00:00 GMT";

/** [Range, size, expected], no If-Range. */
const CASES: [string | undefined, number, RangeChoice][] = [
  // No Range at all.
  [undefined, 10, FULL],
  // One range.
  ["bytes=0-0", 10, part(0, 0)],
  ["bytes=0-9", 10, part(0, 9)],
  ["bytes=9-9", 10, part(9, 9)],
  ["bytes=2-5", 10, part(2, 5)],
  ["bytes=5-", 10, part(5, 9)],
  ["bytes=9-", 10, part(9, 9)],
  ["bytes=0-", 10, part(0, 9)],
  // Suffix ranges: the last N bytes, or all of a shorter body.
  ["bytes=-3", 10, part(7, 9)],
  ["bytes=-10", 10, part(0, 9)],
  ["bytes=-3", 2, part(0, 1)],
  // A last position past the end is clamped.
  ["bytes=0-999", 10, part(0, 9)],
  ["bytes=3-99999999999999999999", 10, part(3, 9)],
  // Case of the unit and white space around the spec.
  ["BYTES=1-2", 10, part(1, 2)],
  ["Bytes=1-2", 10, part(1, 2)],
  ["bytes= 1-2 ", 10, part(1, 2)],
  ["  bytes=1-2\t", 10, part(1, 2)],
  // Unsatisfiable: first position at or past the end, or an empty suffix.
  ["bytes=10-", 10, UNSATISFIABLE],
  ["bytes=10-20", 10, UNSATISFIABLE],
  ["bytes=100-200", 10, UNSATISFIABLE],
  ["bytes=-0", 10, UNSATISFIABLE],
  // An empty body has no byte to send.
  ["bytes=0-0", 0, UNSATISFIABLE],
  ["bytes=0-", 0, UNSATISFIABLE],
  ["bytes=-5", 0, UNSATISFIABLE],
  ["bytes=-0", 0, UNSATISFIABLE],
  // Several ranges: the whole response (a server may ignore Range).
  ["bytes=0-1,3-4", 10, FULL],
  ["bytes=0-1, 3-4", 10, FULL],
  ["bytes=0-1,0-1", 10, FULL],
  ["bytes=-1,0-0", 10, FULL],
  // Invalid unit or syntax: Range is ignored.
  ["items=0-1", 10, FULL],
  ["bytes 0-1", 10, FULL],
  ["bytes=a-b", 10, FULL],
  ["bytes=1", 10, FULL],
  ["bytes=-", 10, FULL],
  ["bytes=", 10, FULL],
  ["bytes=1-2-3", 10, FULL],
  ["bytes=+1-2", 10, FULL],
  ["bytes=1.5-2", 10, FULL],
  ["", 10, FULL],
  // Last position before the first: invalid, so ignored (RFC 9110 §14.1.1).
  ["bytes=5-2", 10, FULL],
  ["bytes=20-10", 10, FULL],
];

for (const [range, size, expected] of CASES) {
  Deno.test(`chooseRange: ${JSON.stringify(range)} of ${size} bytes`, () => {
    assert.deepEqual(chooseRange(range, undefined, size, ETAG, LAST_MODIFIED), expected);
  });
}

// --- If-Range (RFC 9110 §13.1.5): strong comparison --------------------------

Deno.test("chooseRange: If-Range with the stored strong ETag serves the range", () => {
  assert.deepEqual(chooseRange("bytes=0-4", '"v1"', 10, '"v1"', undefined), part(0, 4));
  assert.deepEqual(chooseRange("bytes=0-4", ' "v1" ', 10, '"v1"', LAST_MODIFIED), part(0, 4));
  // Still unsatisfiable when current: the condition only picks range or full.
  assert.deepEqual(chooseRange("bytes=20-", '"v1"', 10, '"v1"', undefined), UNSATISFIABLE);
});

Deno.test("chooseRange: If-Range with another ETag sends the whole response", () => {
  assert.deepEqual(chooseRange("bytes=0-4", '"v2"', 10, '"v1"', undefined), FULL);
  assert.deepEqual(chooseRange("bytes=20-", '"v2"', 10, '"v1"', undefined), FULL);
});

Deno.test("chooseRange: If-Range with an ETag when none is stored sends the whole response", () => {
  assert.deepEqual(chooseRange("bytes=0-4", '"v1"', 10, undefined, LAST_MODIFIED), FULL);
});

Deno.test("chooseRange: a weak ETag never matches in If-Range", () => {
  assert.deepEqual(chooseRange("bytes=0-4", 'W/"v1"', 10, 'W/"v1"', undefined), FULL);
  assert.deepEqual(chooseRange("bytes=0-4", 'W/"v1"', 10, '"v1"', undefined), FULL);
  assert.deepEqual(chooseRange("bytes=0-4", '"v1"', 10, 'W/"v1"', undefined), FULL);
});

Deno.test("chooseRange: If-Range date equal to Last-Modified serves the range", () => {
  assert.deepEqual(chooseRange("bytes=0-4", LAST_MODIFIED, 10, ETAG, LAST_MODIFIED), part(0, 4));
  assert.deepEqual(
    chooseRange("bytes=0-4", ` ${LAST_MODIFIED} `, 10, ETAG, LAST_MODIFIED),
    part(0, 4),
  );
});

Deno.test("chooseRange: If-Range date not equal to Last-Modified sends the whole response", () => {
  // Earlier or later, it is not an exact match.
  assert.deepEqual(
    chooseRange("bytes=0-4", "Mon, 15 Jan 2024 11:59:59 GMT", 10, ETAG, LAST_MODIFIED),
    FULL,
  );
  assert.deepEqual(
    chooseRange("bytes=0-4", "Mon, 15 Jan 2024 12:00:01 GMT", 10, ETAG, LAST_MODIFIED),
    FULL,
  );
  // No Last-Modified stored: nothing to compare with.
  assert.deepEqual(chooseRange("bytes=0-4", LAST_MODIFIED, 10, ETAG, undefined), FULL);
});

Deno.test("chooseRange: If-Range without Range is ignored", () => {
  assert.deepEqual(chooseRange(undefined, '"v1"', 10, '"v1"', undefined), FULL);
  assert.deepEqual(chooseRange(undefined, '"v2"', 10, '"v1"', undefined), FULL);
});
