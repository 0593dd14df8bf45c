import assert from "node:assert/strict";
import {
  chooseRange,
  formatContentRange,
  parseContentRange,
  type Part,
  type RangeChoice,
  usePart,
} from "../../src/cache/range.ts";

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

// --- stored parts (RFC 9111 §3.3–3.4) -----------------------------------------

Deno.test("parseContentRange: bytes a-b/N only, a part inside its length", () => {
  assert.deepEqual(parseContentRange("bytes 0-9/100"), { start: 0, end: 9, length: 100 });
  assert.deepEqual(parseContentRange(" Bytes 90-99/100 "), { start: 90, end: 99, length: 100 });
  assert.deepEqual(parseContentRange("bytes 0-0/1"), { start: 0, end: 0, length: 1 });
  for (
    const v of [
      undefined,
      "",
      "bytes 0-9/*", // the length is needed to serve suffix and open ranges
      "bytes */100", // an unsatisfied range
      "bytes 9-0/100",
      "bytes 0-100/100",
      "bytes=0-9/100",
      "items 0-9/100",
      "bytes 0-9/100, bytes 20-29/100",
      "bytes -1-9/100",
    ]
  ) assert.equal(parseContentRange(v), undefined, String(v));
  assert.equal(formatContentRange({ start: 5, end: 7, length: 10 }), "bytes 5-7/10");
});

const PART: Part = { start: 100, end: 199, length: 1000 };
const range = (r: string | undefined) => chooseRange(r, undefined, PART.length, ETAG, undefined);

Deno.test("usePart: any range inside the part, suffix and open ones resolved with its length", () => {
  for (const r of ["bytes=100-199", "bytes=150-160", "bytes=199-199", "bytes=100-150"]) {
    assert.deepEqual(usePart(PART, range(r)), { kind: "inside" }, r);
  }
  const end: Part = { start: 900, end: 999, length: 1000 };
  for (const r of ["bytes=-100", "bytes=-1", "bytes=950-", "bytes=999-5000"]) {
    const choice = chooseRange(r, undefined, 1000, ETAG, undefined);
    assert.deepEqual(usePart(end, choice), { kind: "inside" }, r);
  }
  // Unsatisfiable needs only the length: 416 from the part.
  assert.deepEqual(usePart(PART, range("bytes=1000-")), { kind: "inside" });
  // A part that is the whole representation answers a request for all of it.
  assert.deepEqual(usePart({ start: 0, end: 9, length: 10 }, FULL), { kind: "inside" });
});

Deno.test("usePart: bytes wanted from inside the part or right after it extend it", () => {
  assert.deepEqual(usePart(PART, range("bytes=150-250")), {
    kind: "extend",
    from: 200,
    to: 250,
    start: 150,
    whole: false,
  });
  assert.deepEqual(usePart(PART, range("bytes=200-")), {
    kind: "extend",
    from: 200,
    to: 999,
    start: 200,
    whole: false,
  });
  const prefix: Part = { start: 0, end: 99, length: 1000 };
  assert.deepEqual(usePart(prefix, FULL), {
    kind: "extend",
    from: 100,
    to: 999,
    start: 0,
    whole: true,
  });
  assert.deepEqual(usePart(prefix, range("bytes=-950")), {
    kind: "extend",
    from: 100,
    to: 999,
    start: 50,
    whole: false,
  });
});

Deno.test("usePart: bytes before the part, or after a gap, are outside it", () => {
  for (const r of ["bytes=0-150", "bytes=99-100", "bytes=201-300", "bytes=-10", undefined]) {
    assert.deepEqual(usePart(PART, range(r)), { kind: "outside" }, String(r));
  }
});
