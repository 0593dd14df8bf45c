import assert from "node:assert/strict";
import { findHeadEnd, leadingEmptyLines } from "../../src/http1/head_end.ts";
import { assertRefused, latin1 } from "./_codec.ts";

Deno.test("findHeadEnd: returns the index just past CRLFCRLF", () => {
  const head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  assert.equal(findHeadEnd(latin1(head)), head.length);
  assert.equal(findHeadEnd(latin1(head + "BODYBYTES")), head.length);
  // A head with no fields at all.
  assert.equal(findHeadEnd(latin1("GET / HTTP/1.1\r\n\r\nnext")), 18);
});

Deno.test("findHeadEnd: stops at the first CRLFCRLF, not a later one", () => {
  const first = "GET /a HTTP/1.1\r\n\r\n";
  assert.equal(findHeadEnd(latin1(first + "GET /b HTTP/1.1\r\n\r\n")), first.length);
});

Deno.test("findHeadEnd: -1 while the head is incomplete", () => {
  assert.equal(findHeadEnd(new Uint8Array(0)), -1);
  assert.equal(findHeadEnd(latin1("GET / HTTP/1.1")), -1);
  assert.equal(findHeadEnd(latin1("GET / HTTP/1.1\r\n")), -1);
  assert.equal(findHeadEnd(latin1("GET / HTTP/1.1\r\nHost: a\r\n")), -1);
  assert.equal(findHeadEnd(latin1("GET / HTTP/1.1\r\nHost: a\r\n\r")), -1);
});

Deno.test("findHeadEnd: resuming at length-3 finds an end split across pieces", () => {
  const whole = latin1("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest");
  const end = 27;
  assert.equal(findHeadEnd(whole), end);
  // Every split point: scan the prefix, then resume where the caller would.
  for (let cut = 1; cut < end; cut++) {
    const prefix = whole.subarray(0, cut);
    assert.equal(findHeadEnd(prefix), -1, `prefix of ${cut}`);
    assert.equal(findHeadEnd(whole, cut - 3), end, `resume after ${cut}`);
  }
});

Deno.test("findHeadEnd: a negative `from` is treated as 0", () => {
  assert.equal(findHeadEnd(latin1("A\r\n\r\n"), -3), 5);
});

Deno.test("findHeadEnd: a bare LF anywhere before the end is refused", () => {
  assertRefused(() => findHeadEnd(latin1("GET / HTTP/1.1\nHost: a\r\n\r\n")), 400, /bare LF/);
  assertRefused(() => findHeadEnd(latin1("GET / HTTP/1.1\r\nHost: a\n\r\n")), 400, /bare LF/);
  assertRefused(() => findHeadEnd(latin1("GET / HTTP/1.1\r\nHost: a\r\n\n")), 400, /bare LF/);
  assertRefused(() => findHeadEnd(latin1("GET / HTTP/1.1\n\n")), 400, /bare LF/);
  // LF as the very first byte has no CR before it.
  assertRefused(() => findHeadEnd(latin1("\nGET / HTTP/1.1\r\n\r\n")), 400, /bare LF/);
});

Deno.test("findHeadEnd: a bare CR does not end the head", () => {
  // CR CR LF CR LF: the first LF follows a CR but the line before is not empty.
  assert.equal(findHeadEnd(latin1("GET / HTTP/1.1\r\nA: b\r\r\n")), -1);
  // \r\r\n\r\n does end at the CRLFCRLF; the parser refuses the bare CR later.
  assert.equal(findHeadEnd(latin1("A\r\r\n\r\n")), 6);
  assert.equal(findHeadEnd(latin1("A\r\n\r\r\n")), -1);
});

Deno.test("leadingEmptyLines: counts the bytes of leading CRLF pairs", () => {
  assert.equal(leadingEmptyLines(new Uint8Array(0)), 0);
  assert.equal(leadingEmptyLines(latin1("GET / HTTP/1.1\r\n")), 0);
  assert.equal(leadingEmptyLines(latin1("\r\nGET")), 2);
  assert.equal(leadingEmptyLines(latin1("\r\n\r\n\r\nGET")), 6);
  // A lone CR (the pair is not complete yet) and a bare LF are not skipped.
  assert.equal(leadingEmptyLines(latin1("\r\n\r")), 2);
  assert.equal(leadingEmptyLines(latin1("\r")), 0);
  assert.equal(leadingEmptyLines(latin1("\n\r\n")), 0);
  assert.equal(leadingEmptyLines(latin1("\r\r\n")), 0);
});
