import assert from "node:assert/strict";
import {
  ChunkedDecoder,
  LAST_CHUNK,
  MAX_CHUNK_LINE,
  MAX_TRAILER_BYTES,
} from "../../src/http1/chunked.ts";
import { chunkFrame } from "../../src/http1/serialize.ts";
import { assertRefused, concat, decodeInPieces, latin1, text } from "./_codec.ts";

const BODY = "4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
const BODY_DATA = "Wikipedia in\r\n\r\nchunks.";

/** Deterministic split patterns: piece sizes cycled over the input. */
const SPLITS: readonly (readonly number[])[] = [
  [1],
  [2],
  [3],
  [7],
  [1, 2, 3, 5, 8, 13],
  [13, 1, 1, 4],
  [64, 1],
  [5, 3, 1, 1, 2, 9, 4, 6],
];

/** A small linear congruential generator, so "random" splits are the same every run. */
function lcgSizes(seed: number, count: number, max: number): number[] {
  const out: number[] = [];
  let x = seed >>> 0;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(1 + (x % max));
  }
  return out;
}

Deno.test("LAST_CHUNK is 0 CRLF CRLF", () => {
  assert.equal(text(LAST_CHUNK), "0\r\n\r\n");
  assert.equal(MAX_CHUNK_LINE, 4096);
  assert.equal(MAX_TRAILER_BYTES, 65536);
});

Deno.test("decode: a whole body at once", () => {
  const d = new ChunkedDecoder();
  assert.equal(d.done, false);
  const out: Uint8Array[] = [];
  const input = latin1(BODY);
  assert.equal(d.decode(input, out), input.length);
  assert.equal(d.done, true);
  assert.equal(d.trailers, undefined);
  assert.deepEqual(out.map(text), ["Wiki", "pedia", " in\r\n\r\nchunks."]);
});

Deno.test("decode: data comes out as views of the input, not copies", () => {
  const input = latin1("3\r\nabc\r\n0\r\n\r\n");
  const out: Uint8Array[] = [];
  new ChunkedDecoder().decode(input, out);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.buffer, input.buffer);
  assert.equal(out[0]!.byteOffset, 3);
  assert.equal(out[0]!.length, 3);
});

Deno.test("decode: one byte at a time gives the same data", () => {
  const input = latin1(BODY);
  const r = decodeInPieces(input, [1]);
  assert.equal(text(r.data), BODY_DATA);
  assert.equal(r.consumed, input.length);
  assert.equal(r.decoder.done, true);
});

Deno.test("decode: every split pattern gives identical data, trailers and consumption", () => {
  const input = latin1(
    '1a;ext="q"\r\nabcdefghijklmnopqrstuvwxyz\r\n' +
      "A\r\n0123456789\r\n" +
      "001\r\nZ\r\n" +
      "0\r\nX-Sum: 42\r\nX-Other: a\r\n\r\n",
  );
  const whole = decodeInPieces(input);
  assert.equal(text(whole.data), "abcdefghijklmnopqrstuvwxyz0123456789Z");
  assert.equal(whole.consumed, input.length);
  assert.deepEqual([...whole.decoder.trailers!], [["X-Sum", "42"], ["X-Other", "a"]]);

  const patterns = [...SPLITS, lcgSizes(1, 50, 9), lcgSizes(7, 50, 20), lcgSizes(99, 50, 3)];
  for (const sizes of patterns) {
    const r = decodeInPieces(input, sizes);
    assert.deepEqual(r.data, whole.data, `split ${sizes}`);
    assert.equal(r.consumed, input.length, `split ${sizes}`);
    assert.equal(r.decoder.done, true);
    assert.deepEqual([...r.decoder.trailers!], [["X-Sum", "42"], ["X-Other", "a"]]);
  }
});

Deno.test("decode: binary data with CR, LF and every byte value round-trips through chunkFrame", () => {
  const data = new Uint8Array(1000).map((_, i) => (i * 37 + 11) & 0xff);
  data.set(latin1("\r\n0\r\n\r\n"), 100);
  const pieces = [data.subarray(0, 1), data.subarray(1, 300), data.subarray(300)];
  const input = concat([...pieces.map((p) => chunkFrame(p)), LAST_CHUNK]);
  for (const sizes of [[1], [4], [1, 2, 3, 5, 8, 13], lcgSizes(3, 200, 40)]) {
    const r = decodeInPieces(input, sizes);
    assert.deepEqual(r.data, data);
    assert.equal(r.consumed, input.length);
  }
});

Deno.test("decode: chunk sizes in upper and lower case hex with leading zeros", () => {
  const r = decodeInPieces(latin1("0000a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n"));
  assert.equal(text(r.data), "0123456789abcdefghijk");
  assert.equal(r.decoder.done, true);
});

Deno.test("decode: an empty body is just the last chunk", () => {
  const r = decodeInPieces(LAST_CHUNK, [1]);
  assert.equal(r.data.length, 0);
  assert.equal(r.consumed, 5);
  assert.equal(r.decoder.done, true);
  assert.equal(r.decoder.trailers, undefined);
});

Deno.test("decode: stops exactly at the end of the body, leaving pipelined bytes", () => {
  const body = "3\r\nabc\r\n0\r\n\r\n";
  const next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  const input = latin1(body + next);
  const d = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  assert.equal(d.decode(input, out), body.length);
  assert.equal(d.done, true);
  assert.equal(text(concat(out)), "abc");
  assert.equal(text(input.subarray(body.length)), next);
  // Once done, it takes nothing more.
  assert.equal(d.decode(input.subarray(body.length), out), 0);
  assert.equal(out.length, 1);

  // The same with trailers and with the input arriving in pieces.
  const withTrailers = "3\r\nabc\r\n0\r\nX: y\r\n\r\n";
  for (const sizes of [[1], [2], [5, 1], [100]]) {
    const r = decodeInPieces(latin1(withTrailers + next), sizes);
    assert.equal(r.consumed, withTrailers.length, `split ${sizes}`);
    assert.equal(text(r.data), "abc");
    assert.deepEqual([...r.decoder.trailers!], [["X", "y"]]);
  }
});

Deno.test("decode: an empty input consumes nothing and changes nothing", () => {
  const d = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  assert.equal(d.decode(new Uint8Array(0), out), 0);
  assert.equal(d.done, false);
  assert.equal(out.length, 0);
  assert.equal(d.decode(latin1("1\r\nx\r\n0\r\n\r\n"), out), 11);
  assert.equal(d.done, true);
});

Deno.test("decode: a body cut short is not done", () => {
  for (
    const partial of [
      "",
      "3",
      "3\r",
      "3\r\nab",
      "3\r\nabc\r\n",
      "3\r\nabc\r\n0\r\n",
      "0\r\nX: y\r\n",
    ]
  ) {
    const r = decodeInPieces(latin1(partial));
    assert.equal(r.decoder.done, false, JSON.stringify(partial));
    assert.equal(r.consumed, partial.length);
  }
});

Deno.test("trailers: parsed into a FieldList in order, names in received case", () => {
  const r = decodeInPieces(
    latin1("0\r\nServer-Timing: db;dur=53\r\nx-checksum:  abc \r\nServer-Timing: app\r\n\r\n"),
  );
  assert.equal(r.decoder.done, true);
  const t = r.decoder.trailers!;
  assert.deepEqual([...t], [
    ["Server-Timing", "db;dur=53"],
    ["x-checksum", "abc"],
    ["Server-Timing", "app"],
  ]);
  assert.deepEqual(t.getAll("server-timing"), ["db;dur=53", "app"]);
});

Deno.test("trailers: malformed trailer fields are refused", () => {
  const cases: [string, RegExp][] = [
    ["0\r\n folded\r\n\r\n", /obs-fold/],
    ["0\r\nX : y\r\n\r\n", /invalid header field name/],
    ["0\r\nnocolon\r\n\r\n", /without a field name/],
    ["0\r\nX: a\x00b\r\n\r\n", /control character/],
    ["0\r\nX: a\rb\r\n\r\n", /control character/],
    ["0\r\n\r\r\n\r\n", /without a field name/],
    ["0\r\nX: y\n\r\n", /bare LF in trailer/],
    ["0\r\nX: y\r\n\n", /bare LF in trailer/],
    ["0\r\n\n", /bare LF in trailer/],
  ];
  for (const [input, message] of cases) {
    assertRefused(() => decodeInPieces(latin1(input)), 400, message);
    assertRefused(() => decodeInPieces(latin1(input), [1]), 400, message);
  }
});

Deno.test("trailers: more than 100 trailer fields get 431", () => {
  const lines = Array.from({ length: 101 }, (_, i) => `T${i}: ${i}\r\n`).join("");
  assertRefused(() => decodeInPieces(latin1(`0\r\n${lines}\r\n`)), 431);
});

Deno.test("trailers: a section of MAX_TRAILER_BYTES passes, one byte more is refused", () => {
  // "X: " + filler + CRLF + CRLF, sized to the limit exactly.
  const filler = "a".repeat(MAX_TRAILER_BYTES - 3 - 2 - 2);
  const exact = `X: ${filler}\r\n\r\n`;
  assert.equal(exact.length, MAX_TRAILER_BYTES);
  const r = decodeInPieces(latin1(`0\r\n${exact}`));
  assert.equal(r.decoder.done, true);
  assert.equal(r.decoder.trailers!.get("x")!.length, filler.length);
  assertRefused(
    () => decodeInPieces(latin1(`0\r\nX: a${filler}\r\n\r\n`)),
    400,
    /trailer section too large/,
  );
});

Deno.test("chunk extensions: ignored when well formed", () => {
  const ok = [
    "3;a\r\nabc\r\n0\r\n\r\n",
    "3;a=b\r\nabc\r\n0\r\n\r\n",
    '3;a="quoted; value"\r\nabc\r\n0\r\n\r\n',
    "3 ;a\r\nabc\r\n0\r\n\r\n",
    "3\t; a = b ;c\r\nabc\r\n0\r\n\r\n",
    "3;\r\nabc\r\n0;last=1\r\n\r\n",
    "3;v=\xE9\xFF\r\nabc\r\n0\r\n\r\n",
  ];
  for (const body of ok) {
    for (const sizes of [[body.length], [1]]) {
      const r = decodeInPieces(latin1(body), sizes);
      assert.equal(text(r.data), "abc", JSON.stringify(body));
      assert.equal(r.decoder.done, true);
    }
  }
});

Deno.test("chunk-size line: exactly MAX_CHUNK_LINE bytes pass, one more is refused", () => {
  const ext = ";" + "e".repeat(MAX_CHUNK_LINE - 2);
  const line = "3" + ext;
  assert.equal(line.length, MAX_CHUNK_LINE);
  const r = decodeInPieces(latin1(`${line}\r\nabc\r\n0\r\n\r\n`));
  assert.equal(text(r.data), "abc");
  assertRefused(
    () => decodeInPieces(latin1(`${line}e\r\nabc\r\n0\r\n\r\n`)),
    400,
    /chunk extension too long/,
  );
  // The limit is per line: many long lines are fine.
  const many = `${line}\r\nabc\r\n`.repeat(5) + `0${ext}\r\n\r\n`;
  assert.equal(text(decodeInPieces(latin1(many), [1000]).data), "abc".repeat(5));
});

Deno.test("chunk size: the largest safe integer is accepted, one past it is refused", () => {
  // 0x1fffffffffffff is Number.MAX_SAFE_INTEGER.
  const d = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  assert.equal(d.decode(latin1("1fffffffffffff\r\nabc"), out), 19);
  assert.equal(text(concat(out)), "abc");
  assert.equal(d.done, false);
  assertRefused(
    () => new ChunkedDecoder().decode(latin1("20000000000000\r\n"), []),
    400,
    /chunk size too large/,
  );
  // Leading zeros do not count towards the size.
  const zeros = new ChunkedDecoder();
  const padded = "0".repeat(40) + "1\r\nx\r\n0\r\n\r\n";
  assert.equal(zeros.decode(latin1(padded), out), padded.length);
  assert.equal(zeros.done, true);
});

Deno.test("decode: data longer than its size, or bare line ends around it, are refused", () => {
  const cases: [string, RegExp][] = [
    ["3\r\nabcd\r\n0\r\n\r\n", /chunk data does not match its size/],
    ["3\r\nab\r\n0\r\n\r\n", /chunk data does not match its size/],
    ["3\r\nabc\n0\r\n\r\n", /chunk data does not match its size/],
    ["3\r\nabc\rX0\r\n\r\n", /bare CR after chunk data/],
    ["3\rabc\r\n0\r\n\r\n", /bare CR after chunk size/],
    ["3\nabc\r\n0\r\n\r\n", /invalid chunk size/],
  ];
  for (const [input, message] of cases) {
    assertRefused(() => decodeInPieces(latin1(input)), 400, message);
    assertRefused(() => decodeInPieces(latin1(input), [1]), 400, message);
  }
});
