/**
 * Request-smuggling vectors fed to the codec. Every one must be refused with
 * an HttpSyntaxError: a proxy that picks a winner where peers might disagree
 * is a proxy that can be desynchronised from its clients or origins.
 */

import assert from "node:assert/strict";
import { ChunkedDecoder } from "../../src/http1/chunked.ts";
import { requestFraming } from "../../src/http1/framing.ts";
import { findHeadEnd } from "../../src/http1/head_end.ts";
import { parseRequestHead } from "../../src/http1/parse_head.ts";
import type { RefusalStatus } from "../../src/http1/syntax_error.ts";
import { assertRefused, decodeInPieces, latin1 } from "./_codec.ts";

/** Runs a request head through the codec the way the server does. */
function frameRequest(head: string): ReturnType<typeof requestFraming> {
  const bytes = latin1(head);
  const end = findHeadEnd(bytes);
  assert.equal(end, bytes.length, "the vector must be one complete head");
  return requestFraming(parseRequestHead(bytes));
}

function req(...fieldLines: string[]): string {
  return ["POST / HTTP/1.1", "Host: h", ...fieldLines].map((l) => l + "\r\n").join("") + "\r\n";
}

interface HeadVector {
  name: string;
  head: string;
  status: RefusalStatus;
  message: RegExp;
}

const HEAD_VECTORS: HeadVector[] = [
  // CL.TE / TE.CL: both framings in one request.
  {
    name: "CL.TE",
    head: req("Content-Length: 6", "Transfer-Encoding: chunked"),
    status: 400,
    message: /both Content-Length and Transfer-Encoding/,
  },
  {
    name: "TE.CL",
    head: req("Transfer-Encoding: chunked", "Content-Length: 4"),
    status: 400,
    message: /both Content-Length and Transfer-Encoding/,
  },
  {
    name: "CL.TE with CL 0",
    head: req("Content-Length: 0", "Transfer-Encoding: chunked"),
    status: 400,
    message: /both/,
  },
  // TE.TE: obfuscated Transfer-Encoding.
  {
    name: "TE xchunked",
    head: req("Transfer-Encoding: xchunked"),
    status: 400,
    message: /end in chunked/,
  },
  {
    name: "TE chunked, identity",
    head: req("Transfer-Encoding: chunked, identity"),
    status: 400,
    message: /does not end in chunked/,
  },
  {
    name: "TE chunked followed by NBSP",
    head: req("Transfer-Encoding: chunked\xA0"),
    status: 400,
    message: /malformed Transfer-Encoding/,
  },
  {
    name: "TE NBSP before chunked",
    head: req("Transfer-Encoding: \xA0chunked"),
    status: 400,
    message: /malformed Transfer-Encoding/,
  },
  {
    name: "TE chunked with vertical tab",
    head: req("Transfer-Encoding: chunked\x0b"),
    status: 400,
    message: /control character/,
  },
  {
    name: "TE chunked with form feed",
    head: req("Transfer-Encoding:\x0cchunked"),
    status: 400,
    message: /control character/,
  },
  {
    name: "space before the colon",
    head: req("Transfer-Encoding : chunked"),
    status: 400,
    message: /invalid header field name "Transfer-Encoding "/,
  },
  {
    name: "tab before the colon",
    head: req("Transfer-Encoding\t: chunked"),
    status: 400,
    message: /invalid header field name/,
  },
  {
    name: "duplicated TE lines chunked + chunked",
    head: req("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
    status: 400,
    message: /chunked applied more than once/,
  },
  {
    name: "duplicated TE lines chunked + identity",
    head: req("Transfer-Encoding: chunked", "Transfer-Encoding: identity"),
    status: 400,
    message: /does not end in chunked/,
  },
  {
    name: "duplicated TE lines chunked + empty",
    head: req("Transfer-Encoding: chunked", "Transfer-Encoding:"),
    status: 400,
    message: /malformed Transfer-Encoding/,
  },
  {
    name: "TE with a quoted coding",
    head: req('Transfer-Encoding: "chunked"'),
    status: 400,
    message: /malformed Transfer-Encoding/,
  },
  {
    name: "TE obs-fold",
    head: req("Transfer-Encoding:", " chunked"),
    status: 400,
    message: /obs-fold/,
  },
  {
    name: "TE with a NUL",
    head: req("Transfer-Encoding: chunked\x00"),
    status: 400,
    message: /control character/,
  },
  {
    name: "unsupported coding gzip, chunked",
    head: req("Transfer-Encoding: gzip, chunked"),
    status: 501,
    message: /transfer coding gzip not supported/,
  },
  {
    name: "Transfer-Encoding in an HTTP/1.0 request",
    head: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    status: 400,
    message: /Transfer-Encoding in an HTTP\/1\.0 request/,
  },
  {
    name: "Transfer-Encoding and Content-Length in an HTTP/1.0 request",
    head: "POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    status: 400,
    message: /HTTP\/1\.0/,
  },
  // Content-Length games.
  {
    name: "two Content-Length, same value",
    head: req("Content-Length: 5", "Content-Length: 5"),
    status: 400,
    message: /more than one Content-Length/,
  },
  {
    name: "two Content-Length, differing values",
    head: req("Content-Length: 5", "Content-Length: 6"),
    status: 400,
    message: /more than one Content-Length/,
  },
  {
    name: "CL list 5, 5",
    head: req("Content-Length: 5, 5"),
    status: 400,
    message: /invalid Content-Length "5, 5"/,
  },
  {
    name: "CL +5",
    head: req("Content-Length: +5"),
    status: 400,
    message: /invalid Content-Length/,
  },
  {
    name: "CL -1",
    head: req("Content-Length: -1"),
    status: 400,
    message: /invalid Content-Length/,
  },
  {
    name: "CL 1 0",
    head: req("Content-Length: 1 0"),
    status: 400,
    message: /invalid Content-Length/,
  },
  { name: "CL hex", head: req("Content-Length: 0x5"), status: 400, message: /invalid/ },
  {
    name: "CL empty",
    head: req("Content-Length:"),
    status: 400,
    message: /invalid Content-Length ""/,
  },
  {
    name: "CL with NBSP",
    head: req("Content-Length: 5\xA0"),
    status: 400,
    message: /invalid Content-Length/,
  },
  {
    name: "huge CL",
    head: req("Content-Length: 99999999999999999999999999"),
    status: 400,
    message: /Content-Length too large/,
  },
  {
    name: "CL just past 15 digits",
    head: req("Content-Length: 1000000000000000"),
    status: 400,
    message: /too large/,
  },
  {
    name: "space before the colon in Content-Length",
    head: req("Content-Length : 5"),
    status: 400,
    message: /invalid header field name/,
  },
  // Line ends and field syntax.
  {
    name: "bare LF in the head",
    head: "POST / HTTP/1.1\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    status: 400,
    message: /bare LF/,
  },
  {
    name: "bare LF hiding a field",
    head: "POST / HTTP/1.1\r\nHost: h\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n",
    status: 400,
    message: /bare LF/,
  },
  {
    name: "bare CR hiding a field",
    head: "POST / HTTP/1.1\r\nHost: h\r\nX: y\rTransfer-Encoding: chunked\r\n\r\n",
    status: 400,
    message: /control character/,
  },
  {
    name: "obs-fold",
    head: req("X-Folded: a", "\tb"),
    status: 400,
    message: /obs-fold/,
  },
  {
    name: "NUL in a header value",
    head: req("X-Nul: a\x00b"),
    status: 400,
    message: /control character in header field X-Nul/,
  },
  {
    name: "empty header name",
    head: req(": value"),
    status: 400,
    message: /without a field name/,
  },
  {
    name: "header over 100 fields",
    // Host and 100 more: 101 field lines.
    head: req(...Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`)),
    status: 431,
    message: /more than 100 header fields/,
  },
];

for (const v of HEAD_VECTORS) {
  Deno.test(`smuggling (head): ${v.name} is refused with ${v.status}`, () => {
    assertRefused(() => frameRequest(v.head), v.status, v.message);
  });
}

Deno.test("smuggling (head): the control cases next to the vectors are accepted", () => {
  // Without these, a codec that refused everything would pass the table above.
  assert.deepEqual(frameRequest(req("Transfer-Encoding: chunked")), { kind: "chunked" });
  assert.deepEqual(frameRequest(req("Content-Length: 5")), { kind: "length", length: 5 });
  assert.deepEqual(frameRequest(req("Content-Length: 999999999999999")), {
    kind: "length",
    length: 999999999999999,
  });
  // Host and 99 more: exactly 100 field lines.
  assert.deepEqual(frameRequest(req(...Array.from({ length: 99 }, (_, i) => `X-${i}: ${i}`))), {
    kind: "none",
  });
  // Trailing OWS (SP or HTAB) is not part of the value (RFC 9110 §5.5), so
  // "chunked<TAB>" is plain chunked to every conforming parser.
  assert.deepEqual(frameRequest(req("Transfer-Encoding: chunked\t")), { kind: "chunked" });
  assert.deepEqual(frameRequest(req("Transfer-Encoding:\t chunked \t")), { kind: "chunked" });
  assert.deepEqual(frameRequest(req("Content-Length:\t5 ")), { kind: "length", length: 5 });
});

interface BodyVector {
  name: string;
  body: string;
  message: RegExp;
}

const BODY_VECTORS: BodyVector[] = [
  {
    name: "chunk-size overflow",
    body: "ffffffffffffffffff\r\n",
    message: /chunk size too large/,
  },
  {
    name: "chunk-size with 0x prefix",
    body: "0x5\r\nhello\r\n0\r\n\r\n",
    message: /invalid chunk size/,
  },
  { name: "negative chunk-size", body: "-1\r\nx\r\n0\r\n\r\n", message: /invalid chunk size/ },
  {
    name: "chunk-size with a sign",
    body: "+5\r\nhello\r\n0\r\n\r\n",
    message: /invalid chunk size/,
  },
  { name: "empty chunk-size", body: "\r\n0\r\n\r\n", message: /invalid chunk size/ },
  { name: "leading space before chunk-size", body: " 5\r\nhello\r\n0\r\n\r\n", message: /invalid/ },
  {
    name: "chunk extension longer than 4096 bytes",
    body: `5;${"a".repeat(4100)}\r\nhello\r\n0\r\n\r\n`,
    message: /chunk extension too long/,
  },
  {
    name: "NUL in a chunk extension",
    body: "5;a=\x00\r\nhello\r\n0\r\n\r\n",
    message: /control character in chunk extension/,
  },
  {
    name: "DEL in a chunk extension",
    body: "5;a\x7f\r\nhello\r\n0\r\n\r\n",
    message: /control character in chunk extension/,
  },
  {
    name: "ESC in a chunk extension",
    body: "5;a=\x1b\r\nhello\r\n0\r\n\r\n",
    message: /control character in chunk extension/,
  },
  {
    name: "bare LF in a chunk extension",
    body: "5;a\nhello\r\n0\r\n\r\n",
    message: /control character in chunk extension/,
  },
  {
    name: "whitespace after chunk-size without ;",
    body: "5 \r\nhello\r\n0\r\n\r\n",
    message: /whitespace after chunk size/,
  },
  {
    name: "tab after chunk-size without ;",
    body: "5\t\r\nhello\r\n0\r\n\r\n",
    message: /whitespace after chunk size/,
  },
  {
    name: "garbage after whitespace after chunk-size",
    body: "5 x\r\nhello\r\n0\r\n\r\n",
    message: /invalid chunk size/,
  },
  {
    name: "bare LF after chunk-size",
    body: "5\nhello\r\n0\r\n\r\n",
    message: /invalid chunk size/,
  },
  {
    name: "bare LF after chunk data",
    body: "5\r\nhello\n0\r\n\r\n",
    message: /chunk data does not match its size/,
  },
  {
    name: "bare LF after the last chunk",
    body: "5\r\nhello\r\n0\n\r\n",
    message: /invalid chunk size/,
  },
  { name: "bare LF ending the trailer section", body: "0\r\n\n", message: /bare LF in trailer/ },
  {
    name: "bare CR after chunk-size",
    body: "5\rhello\r\n0\r\n\r\n",
    message: /bare CR after chunk size/,
  },
  {
    name: "bare CR after chunk data",
    body: "5\r\nhello\r0\r\n\r\n",
    message: /bare CR after chunk data/,
  },
  {
    name: "chunk data longer than its size",
    body: "3\r\nhello\r\n0\r\n\r\n",
    message: /chunk data does not match its size/,
  },
];

for (const v of BODY_VECTORS) {
  Deno.test(`smuggling (chunked): ${v.name} is refused with 400`, () => {
    const input = latin1(v.body);
    assertRefused(() => decodeInPieces(input), 400, v.message);
    assertRefused(() => decodeInPieces(input, [1]), 400, v.message);
    assertRefused(() => decodeInPieces(input, [3, 1, 2]), 400, v.message);
  });
}

Deno.test("smuggling (chunked): a refused decoder never reports done", () => {
  const d = new ChunkedDecoder();
  assertRefused(() => d.decode(latin1("5 \r\nhello\r\n0\r\n\r\n"), []), 400);
  assert.equal(d.done, false);
});

Deno.test("smuggling (chunked): the control cases next to the vectors are accepted", () => {
  const ok = (body: string) => {
    const r = decodeInPieces(latin1(body));
    assert.equal(r.decoder.done, true, JSON.stringify(body));
    return new TextDecoder().decode(r.data);
  };
  assert.equal(ok("5\r\nhello\r\n0\r\n\r\n"), "hello");
  assert.equal(ok("5 ;a\r\nhello\r\n0\r\n\r\n"), "hello");
  assert.equal(ok("5;a=b\r\nhello\r\n0\r\n\r\n"), "hello");
  assert.equal(ok(`5;${"a".repeat(4094)}\r\nhello\r\n0\r\n\r\n`), "hello");
  assert.equal(ok("ffff\r\n" + "x".repeat(0xffff) + "\r\n0\r\n\r\n").length, 0xffff);
});
