import assert from "node:assert/strict";
import {
  partHeaders,
  partUse,
  sameRepresentation,
  strongValidator,
} from "../../../src/cache/policy/parts.ts";
import { fields, httpDate, type Lines, request, store } from "./_helpers.ts";
import { MAX_AGE_60 } from "./_table.ts";

// ---------------------------------------------------------------------------
// Stored parts (RFC 9111 §3.3–3.4)
// ---------------------------------------------------------------------------

/** A stored 206 holding bytes 0-999 of 10000, with `validators`. */
function storedPart(validators: Lines = [["ETag", '"v1"']], range = "bytes 0-999/10000") {
  const res: Lines = [MAX_AGE_60, ["Content-Range", range], ...validators];
  return store(request([["Range", "bytes=0-999"]]), 206, res);
}

Deno.test("partUse: inside, extended with the stored strong validator, or outside", () => {
  const stored = storedPart();
  const use = (lines: Lines, method = "GET") => partUse(request(lines, method), stored);
  assert.deepEqual(use([["Range", "bytes=10-19"]]), { kind: "inside" });
  assert.deepEqual(use([["Range", "bytes=10000-"]]), { kind: "inside" });
  assert.deepEqual(use([]), {
    kind: "extend",
    from: 1000,
    to: 9999,
    start: 0,
    whole: true,
    ifRange: '"v1"',
  });
  assert.deepEqual(use([["Range", "bytes=500-1499"]]), {
    kind: "extend",
    from: 1000,
    to: 1499,
    start: 500,
    whole: false,
    ifRange: '"v1"',
  });
  // A client's If-Range that does not match makes it a request for the whole.
  assert.equal(use([["Range", "bytes=10-19"], ["If-Range", '"v0"']]).kind, "extend");
  assert.deepEqual(use([["Range", "bytes=10-19"], ["If-Range", '"v1"']]), { kind: "inside" });
  // A gap after the part: only the origin has those bytes.
  assert.deepEqual(use([["Range", "bytes=5000-"]]), { kind: "outside" });
  // HEAD wants the whole response's head; preconditions of the client's own are its business.
  assert.deepEqual(use([], "HEAD"), { kind: "outside" });
  for (const p of ["If-None-Match", "If-Match", "If-Modified-Since", "If-Unmodified-Since"]) {
    assert.deepEqual(use([[p, '"x"']]), { kind: "outside" }, p);
  }
  // A part of unknown place is of no use.
  const unplaced = { ...stored, headers: stored.headers.filter(([n]) => n !== "Content-Range") };
  assert.deepEqual(partUse(request([["Range", "bytes=0-9"]]), unplaced), { kind: "outside" });
});

Deno.test("partUse: no strong validator, no extension (the bytes could not be shown to match)", () => {
  const noValidator = storedPart([]);
  assert.deepEqual(partUse(request(), noValidator), { kind: "outside" });
  assert.deepEqual(partUse(request([["Range", "bytes=0-9"]]), noValidator), { kind: "inside" });
  assert.deepEqual(partUse(request(), storedPart([["ETag", 'W/"v1"']])), { kind: "outside" });
  const lm = httpDate(-10);
  const strongDate = storedPart([["Last-Modified", lm], ["Date", httpDate(0)]]);
  const use = partUse(request(), strongDate);
  assert.equal(use.kind === "extend" ? use.ifRange : undefined, lm);
});

Deno.test("strongValidator: a strong ETag, else a Last-Modified a second or more before Date", () => {
  assert.equal(strongValidator([["ETag", ' "a" ']]), '"a"');
  assert.equal(strongValidator([["ETag", 'W/"a"'], ["Last-Modified", httpDate(-10)]]), undefined);
  assert.equal(
    strongValidator([["Last-Modified", httpDate(-1)], ["Date", httpDate(0)]]),
    httpDate(-1),
  );
  assert.equal(strongValidator([["Last-Modified", httpDate(0)], ["Date", httpDate(0)]]), undefined);
  assert.equal(strongValidator([["Last-Modified", httpDate(-10)]]), undefined);
  assert.equal(strongValidator([]), undefined);
});

Deno.test("sameRepresentation: the new response carries the same strong validator", () => {
  assert.equal(sameRepresentation('"a"', fields(["ETag", '"a"'])), true);
  assert.equal(sameRepresentation('"a"', fields(["ETag", '"b"'])), false);
  assert.equal(sameRepresentation('"a"', fields(["ETag", 'W/"a"'])), false);
  assert.equal(sameRepresentation('"a"', fields()), false);
  const lm = httpDate(-10);
  assert.equal(sameRepresentation(lm, fields(["Last-Modified", lm])), true);
  assert.equal(sameRepresentation(lm, fields(["Last-Modified", httpDate(-5)])), false);
  assert.equal(sameRepresentation(lm, fields(["Last-Modified", lm], ["ETag", '"a"'])), false);
});

Deno.test("partHeaders: Content-Range and Content-Length of the part; none for the whole", () => {
  const headers: [string, string][] = [
    ["ETag", '"v1"'],
    ["Content-Length", "1000"],
    ["content-range", "bytes 0-999/10000"],
    ["Content-Type", "application/octet-stream"],
  ];
  assert.deepEqual(partHeaders(headers, { start: 0, end: 4999, length: 10000 }), [
    ["ETag", '"v1"'],
    ["Content-Type", "application/octet-stream"],
    ["Content-Range", "bytes 0-4999/10000"],
    ["Content-Length", "5000"],
  ]);
  assert.deepEqual(partHeaders(headers, { start: 0, end: 9999, length: 10000 }), [
    ["ETag", '"v1"'],
    ["Content-Type", "application/octet-stream"],
    ["Content-Length", "10000"],
  ]);
});
