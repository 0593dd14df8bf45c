import assert from "node:assert/strict";
import { FieldList } from "../../src/http1/fields.ts";
import { findHeadEnd } from "../../src/http1/head_end.ts";
import { parseRequestHead, parseResponseHead } from "../../src/http1/parse_head.ts";
import {
  chunkFrame,
  encodeLatin1,
  fieldBlock,
  serializeRequestHead,
  serializeResponseHead,
} from "../../src/http1/serialize.ts";
import { latin1, text } from "./_codec.ts";

Deno.test("serializeRequestHead: request-line, fields in order, empty line; always HTTP/1.1", () => {
  const out = serializeRequestHead("GET", "/a?b=c", [["Host", "example.com"], ["Accept", "*/*"]]);
  assert.equal(text(out), "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
  assert.equal(text(serializeRequestHead("OPTIONS", "*", [])), "OPTIONS * HTTP/1.1\r\n\r\n");
});

Deno.test("serializeResponseHead: status-line, fields, empty line; empty reason keeps its space", () => {
  const out = serializeResponseHead(200, "OK", [["Content-Length", "2"], ["Set-Cookie", "a=1"], [
    "Set-Cookie",
    "b=2",
  ]]);
  assert.equal(
    text(out),
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
  );
  assert.equal(text(serializeResponseHead(204, "", [])), "HTTP/1.1 204 \r\n\r\n");
});

Deno.test("serialize: takes a FieldList and keeps its order, case and repeats", () => {
  const f = new FieldList();
  f.add("x-lower", "1");
  f.add("Set-Cookie", "a=1");
  f.add("X-UPPER", "2");
  f.add("set-cookie", "b=2");
  assert.equal(
    text(serializeResponseHead(200, "OK", f)),
    "HTTP/1.1 200 OK\r\nx-lower: 1\r\nSet-Cookie: a=1\r\nX-UPPER: 2\r\nset-cookie: b=2\r\n\r\n",
  );
});

Deno.test("fieldBlock: one CRLF-terminated line per field, empty for none", () => {
  assert.equal(fieldBlock([]), "");
  assert.equal(fieldBlock([["A", "1"], ["B", ""]]), "A: 1\r\nB: \r\n");
});

Deno.test("serialized heads parse back to the same heads", () => {
  const fields: [string, string][] = [["Host", "h:8080"], ["X-Obs", "\x80\xA0\xFF"], ["E", ""]];
  const req = serializeRequestHead("PUT", "http://h:8080/p?q", fields);
  assert.equal(findHeadEnd(req), req.length);
  const r = parseRequestHead(req);
  assert.equal(r.method, "PUT");
  assert.equal(r.target, "http://h:8080/p?q");
  assert.equal(r.minor, 1);
  assert.deepEqual([...r.fields], fields);

  const res = serializeResponseHead(404, "Not Found", fields);
  assert.equal(findHeadEnd(res), res.length);
  const s = parseResponseHead(res);
  assert.equal(s.status, 404);
  assert.equal(s.reason, "Not Found");
  assert.deepEqual([...s.fields], fields);
});

Deno.test("encodeLatin1: one byte per char on both paths", () => {
  assert.deepEqual(encodeLatin1(""), new Uint8Array(0));
  assert.deepEqual(encodeLatin1("AZ\r\n"), new Uint8Array([0x41, 0x5a, 0x0d, 0x0a]));
  const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
  assert.deepEqual(encodeLatin1(all), new Uint8Array(256).map((_, i) => i));
  // Not UTF-8: U+00E9 is the one byte E9, not C3 A9.
  assert.deepEqual(encodeLatin1("caf\xE9"), latin1("caf\xE9"));
  assert.equal(encodeLatin1("caf\xE9").length, 4);
});

Deno.test("chunkFrame: hex size, CRLF, data, CRLF", () => {
  assert.equal(text(chunkFrame(latin1("abc"))), "3\r\nabc\r\n");
  assert.equal(text(chunkFrame(new Uint8Array(255))), "ff\r\n" + "\0".repeat(255) + "\r\n");
  const big = new Uint8Array(0x1234).fill(0x61);
  const framed = chunkFrame(big);
  assert.equal(framed.length, 4 + 2 + 0x1234 + 2);
  assert.equal(text(framed.subarray(0, 6)), "1234\r\n");
  assert.deepEqual(framed.subarray(6, 6 + 0x1234), big);
  assert.equal(text(framed.subarray(framed.length - 2)), "\r\n");
});

Deno.test("chunkFrame: copies the data; a view into a larger buffer frames only the view", () => {
  const buf = latin1("xxhelloxx");
  const framed = chunkFrame(buf.subarray(2, 7));
  assert.equal(text(framed), "5\r\nhello\r\n");
  buf.fill(0x7a);
  assert.equal(text(framed), "5\r\nhello\r\n");
});

Deno.test("chunkFrame: frames into scratch when it is large enough", () => {
  const scratch = new Uint8Array(64);
  const framed = chunkFrame(latin1("hello"), scratch);
  assert.equal(framed.buffer, scratch.buffer, "no new buffer");
  assert.equal(text(framed), "5\r\nhello\r\n");
  const big = chunkFrame(new Uint8Array(100), scratch);
  assert.notEqual(big.buffer, scratch.buffer);
  assert.equal(big.length, 2 + 2 + 100 + 2);
});
