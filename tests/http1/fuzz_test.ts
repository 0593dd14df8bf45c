/**
 * Property tests of the HTTP/1.1 codec with fast-check: random bytes, "token
 * soup" and mutated valid request heads through the server's parsing path
 * (`leadingEmptyLines`, the start-byte check, `findHeadEnd`,
 * `parseRequestHead`, `interpretRequest`, `requestFraming`, and
 * `BufferedConn.readHead`), and valid and mutated chunked bodies through
 * `ChunkedDecoder`, split at random points.
 *
 * The invariants: every input either parses or is refused with an
 * `HttpSyntaxError` carrying a refusal status (never another error, never a
 * slow path); what parses survives parse → serialize → parse unchanged; a
 * chunked decoder returns exactly the data of a valid body wherever it is
 * split, and on any input never consumes or returns more than it was given.
 *
 * The generators and checks are shared with the long run, `scripts/fuzz.ts`;
 * here they run bounded and seeded, so a failure reproduces.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { findHeadEnd } from "../../src/http1/head_end.ts";
import { HttpSyntaxError } from "../../src/http1/syntax_error.ts";
import { MAX_HEAD_BYTES } from "../../src/io/buffered_conn.ts";
import {
  checkChunked,
  checkReadHead,
  checkRequestCodec,
  checkValidChunked,
  checkValidHead,
  chunkedNoise,
  CodecViolation,
  encodeChunked,
  FUZZ_SEED,
  mutatedChunked,
  mutatedHeads,
  pieceSizes,
  quote,
  requestInputs,
  validChunked,
  validHeads,
} from "../../scripts/fuzz.ts";
import { latin1, text } from "./_codec.ts";

const RUNS = { seed: FUZZ_SEED, endOnFailure: true } as const;

Deno.test("fuzz: valid request heads parse, are interpreted as specified, and round-trip", () => {
  const framings = new Map<string, number>();
  fc.assert(
    fc.property(validHeads, (spec) => {
      const out = checkValidHead(spec);
      if (out.kind === "parsed") {
        framings.set(out.request.framing.kind, (framings.get(out.request.framing.kind) ?? 0) + 1);
      }
    }),
    { ...RUNS, numRuns: 500 },
  );
  for (const kind of ["none", "length", "chunked"]) {
    assert.ok((framings.get(kind) ?? 0) >= 30, `${kind}: ${JSON.stringify([...framings])}`);
  }
});

Deno.test("fuzz: every request input parses or is refused with HttpSyntaxError", () => {
  const seen = { parsed: 0, refused: 0, incomplete: 0 };
  const statuses = new Map<number, number>();
  fc.assert(
    fc.property(requestInputs, (input) => {
      const out = checkRequestCodec(input);
      seen[out.kind]++;
      if (out.kind === "refused") statuses.set(out.status, (statuses.get(out.status) ?? 0) + 1);
    }),
    { ...RUNS, numRuns: 1000 },
  );
  assert.ok((statuses.get(431) ?? 0) >= 5, `431s: ${JSON.stringify([...statuses])}`);
  // A codec that refused (or accepted) everything would pass the property above.
  assert.ok(seen.parsed >= 100, `only ${seen.parsed} of 1000 inputs parsed`);
  assert.ok(seen.refused >= 300, `only ${seen.refused} of 1000 inputs were refused`);
});

Deno.test("fuzz: mutated heads that still parse have exactly one framing, from their own fields", () => {
  const statuses = new Map<number, number>();
  let parsed = 0;
  fc.assert(
    fc.property(mutatedHeads, (input) => {
      const out = checkRequestCodec(input);
      if (out.kind === "refused") statuses.set(out.status, (statuses.get(out.status) ?? 0) + 1);
      if (out.kind !== "parsed") return;
      parsed++;
      const { request, head } = out;
      const te = head.fields.getAll("transfer-encoding");
      const cl = head.fields.getAll("content-length");
      const kind = request.framing.kind;
      if (kind === "chunked") assert.ok(te.length > 0 && cl.length === 0, quote(input));
      if (kind === "length") assert.ok(te.length === 0 && cl.length === 1, quote(input));
      if (kind === "none") assert.ok(te.length === 0 && cl.length === 0, quote(input));
      assert.ok(head.fields.getAll("host").length <= 1, `two Hosts: ${quote(input)}`);
    }),
    { ...RUNS, numRuns: 800 },
  );
  assert.ok(parsed >= 80, `only ${parsed} mutants parsed`);
  assert.ok((statuses.get(400) ?? 0) >= 200, `400s: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(417) ?? 0) >= 1, `417s: ${JSON.stringify([...statuses])}`);
});

Deno.test("fuzz: findHeadEnd gives the same answer whether the head arrives whole or in pieces", () => {
  fc.assert(
    fc.property(requestInputs, pieceSizes, (input, sizes) => {
      const whole = headEndOrStatus(() => findHeadEnd(input));
      // As BufferedConn does: resume 3 bytes before the end of what was scanned.
      const inPieces = headEndOrStatus(() => {
        let len = 0, from = 0, k = 0;
        while (len < input.length) {
          len = Math.min(input.length, len + Math.max(1, sizes[k++ % sizes.length]!));
          const end = findHeadEnd(input.subarray(0, len), from);
          if (end !== -1) return end;
          from = len - 3;
        }
        return -1;
      });
      assert.deepEqual(inPieces, whole, quote(input));
    }),
    { ...RUNS, numRuns: 800 },
  );
});

function headEndOrStatus(fn: () => number): number | string {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HttpSyntaxError) return `refused ${err.status}`;
    throw new CodecViolation(`findHeadEnd threw ${String(err)}`, { cause: err });
  }
}

Deno.test("fuzz: BufferedConn.readHead agrees with the codec, however the bytes arrive", async () => {
  const kinds = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(requestInputs, pieceSizes, async (input, sizes) => {
      const got = await checkReadHead(input, sizes);
      kinds.set(got.kind, (kinds.get(got.kind) ?? 0) + 1);
    }),
    { ...RUNS, numRuns: 500 },
  );
  for (const kind of ["head", "eof", "refused"]) {
    assert.ok((kinds.get(kind) ?? 0) >= 20, `${kind}: ${JSON.stringify([...kinds])}`);
  }
});

Deno.test("fuzz: heads near the 64 KiB limit are read or refused with 431, never overflow", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: MAX_HEAD_BYTES - 300, max: MAX_HEAD_BYTES + 300 }),
      fc.constantFrom("\r\n\r\n", "\r\n"),
      pieceSizes,
      async (size, end, sizes) => {
        const start = "GET http://a.example.test/ HTTP/1.1\r\nHost: a.example.test\r\nX-Big: ";
        const input = latin1(
          start + "b".repeat(Math.max(0, size - start.length - end.length)) + end,
        );
        const got = await checkReadHead(input, sizes.map((s) => s * 64));
        if (input.length > MAX_HEAD_BYTES) assert.deepEqual(got, { kind: "refused", status: 431 });
        else assert.equal(got.kind, end === "\r\n" ? "eof" : "head");
      },
    ),
    { ...RUNS, numRuns: 60 },
  );
});

Deno.test("fuzz: valid chunked bodies decode to exactly their data, wherever they are split", () => {
  let withTrailers = 0, withExtensions = 0;
  fc.assert(
    fc.property(validChunked, pieceSizes, fc.boolean(), (spec, sizes, pipelined) => {
      checkValidChunked(spec, sizes, pipelined);
      if (spec.trailers.length > 0) withTrailers++;
      if (spec.chunks.some((c) => c.ext !== "")) withExtensions++;
    }),
    { ...RUNS, numRuns: 600 },
  );
  assert.ok(withTrailers >= 50 && withExtensions >= 50, `${withTrailers}, ${withExtensions}`);
});

Deno.test("fuzz: mutated chunked bodies decode or are refused, never over-read", () => {
  const seen = { done: 0, partial: 0, refused: 0 };
  fc.assert(
    fc.property(fc.oneof(mutatedChunked, chunkedNoise), pieceSizes, (input, sizes) => {
      seen[checkChunked(input, sizes).kind]++;
    }),
    { ...RUNS, numRuns: 1000 },
  );
  assert.ok(seen.done >= 50, JSON.stringify(seen));
  assert.ok(seen.refused >= 300, JSON.stringify(seen));
});

Deno.test("fuzz: the outcomes the properties count are told apart correctly", () => {
  // Without this, properties that only count outcomes could pass on a codec
  // (or a check) that sorts every input into one bin.
  const status = (head: string) => {
    const out = checkRequestCodec(latin1(head));
    return out.kind === "refused" ? out.status : out.kind;
  };
  const req = (...lines: string[]) =>
    ["POST http://a.example.test/ HTTP/1.1", "Host: a.example.test", ...lines].join("\r\n") +
    "\r\n\r\n";
  assert.equal(status(req()), "parsed");
  assert.equal(status(req("Content-Length: 1", "Transfer-Encoding: chunked")), 400);
  assert.equal(status(req("Transfer-Encoding: gzip, chunked")), 501);
  assert.equal(status(req("Expect: 200-ok")), 417);
  assert.equal(status(req(...Array.from({ length: 100 }, (_, i) => `X-${i}: 1`))), 431);
  assert.equal(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  assert.equal(status("GET / HTTP/1.1\r\nHost: a\r\n"), "incomplete");
  assert.equal(status("\x16\x03\x01"), 400);

  const body = encodeChunked({
    chunks: [{ data: latin1("hello"), zeros: 1, upper: false, ext: ";a=b" }],
    lastZeros: 0,
    lastExt: "",
    trailers: [["X-T", " v "]],
  });
  assert.equal(text(body), "05;a=b\r\nhello\r\n0\r\nX-T:  v \r\n\r\n");
  const done = checkChunked(body, [1]);
  assert.equal(done.kind, "done");
  assert.equal(text(done.data), "hello");
  assert.equal(checkChunked(body.subarray(0, 9), [2]).kind, "partial");
  assert.equal(checkChunked(latin1("5\r\nhello!\r\n"), [3]).kind, "refused");
});

Deno.test({
  name: "fuzz: a chunked body refused in its trailer section never reports done",
  fn() {
    fc.assert(
      fc.property(
        validChunked,
        fc.constantFrom("no colon", ": empty name", " folded", "Bad Name: x", "X: a\x00b"),
        pieceSizes,
        (spec, badLine, sizes) => {
          const body = text(encodeChunked({ ...spec, trailers: [] }));
          const input = latin1(`${body.slice(0, -2)}${badLine}\r\n\r\n`);
          const out = checkChunked(input, sizes);
          assert.equal(out.kind, "refused", quote(input));
          assert.equal(out.decoder.done, false, `done after a refusal: ${quote(input)}`);
        },
      ),
      { ...RUNS, numRuns: 200 },
    );
  },
});
