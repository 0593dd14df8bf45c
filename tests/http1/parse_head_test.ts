import assert from "node:assert/strict";
import {
  decodeLatin1,
  MAX_FIELDS,
  parseFieldLines,
  parseRequestHead,
  parseResponseHead,
  splitHead,
} from "../../src/http1/parse_head.ts";
import { encodeLatin1, serializeRequestHead } from "../../src/http1/serialize.ts";
import { assertRefused, latin1, text } from "./_codec.ts";

/** A head from its lines, with CRLF line ends and the terminating empty line. */
function head(...lines: string[]): Uint8Array {
  return latin1(lines.map((l) => l + "\r\n").join("") + "\r\n");
}

Deno.test("parseRequestHead: request-line and fields of an HTTP/1.1 request", () => {
  const h = parseRequestHead(
    head("GET /index.html?q=1 HTTP/1.1", "Host: example.com", "Accept: */*"),
  );
  assert.equal(h.method, "GET");
  assert.equal(h.target, "/index.html?q=1");
  assert.equal(h.minor, 1);
  assert.deepEqual([...h.fields], [["Host", "example.com"], ["Accept", "*/*"]]);
});

Deno.test("parseRequestHead: HTTP/1.0 has minor 0, later 1.x is answered as 1.1", () => {
  assert.equal(parseRequestHead(head("GET / HTTP/1.0")).minor, 0);
  assert.equal(parseRequestHead(head("GET / HTTP/1.1")).minor, 1);
  assert.equal(parseRequestHead(head("GET / HTTP/1.9")).minor, 1);
});

Deno.test("parseRequestHead: a head without fields has an empty field list", () => {
  const h = parseRequestHead(head("OPTIONS * HTTP/1.1"));
  assert.equal(h.method, "OPTIONS");
  assert.equal(h.target, "*");
  assert.equal(h.fields.size, 0);
});

Deno.test("parseRequestHead: method case and extension methods are kept as received", () => {
  assert.equal(parseRequestHead(head("get / HTTP/1.1")).method, "get");
  assert.equal(parseRequestHead(head("M-SEARCH * HTTP/1.1")).method, "M-SEARCH");
  assert.equal(parseRequestHead(head("PROPFIND /d/ HTTP/1.1")).method, "PROPFIND");
});

Deno.test("parseRequestHead: the target is kept byte for byte", () => {
  const raw = "http://Example.COM:8080/a/../b/%2e%2E/c?x=%41&y#frag";
  assert.equal(parseRequestHead(head(`GET ${raw} HTTP/1.1`)).target, raw);
  assert.equal(parseRequestHead(head("CONNECT [::1]:443 HTTP/1.1")).target, "[::1]:443");
});

Deno.test("parseRequestHead: HTTP versions other than 1.x get 505", () => {
  assertRefused(() => parseRequestHead(head("GET / HTTP/2.0")), 505, /HTTP\/2\.0 is not supported/);
  assertRefused(() => parseRequestHead(head("GET / HTTP/0.9")), 505, /HTTP\/0\.9/);
  assertRefused(() => parseRequestHead(head("GET / HTTP/3.0")), 505);
});

Deno.test("parseRequestHead: malformed request-lines get 400", () => {
  const bad = [
    "GET /",
    "GET / HTTP/1.1 extra",
    "GET  / HTTP/1.1",
    "GET /  HTTP/1.1",
    " GET / HTTP/1.1",
    "GET / HTTP/1.1 ",
    "GET\t/ HTTP/1.1",
    "GET / http/1.1",
    "GET / HTTP/11",
    "GET / HTTP/1.10",
    "GET / HTTP/1",
    "G(T / HTTP/1.1",
    "GET /a b HTTP/1.1",
    "GET",
    "/ HTTP/1.1",
  ];
  for (const line of bad) assertRefused(() => parseRequestHead(head(line)), 400);
  assertRefused(
    () => parseRequestHead(head("GET /a b HTTP/1.1")),
    400,
    /^malformed request-line$/,
  );
  assertRefused(
    () => parseRequestHead(head("GET /")),
    400,
    /^request-line does not end in an HTTP version$/,
  );
});

Deno.test("parseRequestHead: control characters in the request-line are named as such", () => {
  for (const c of ["\x00", "\x01", "\x0b", "\x1f", "\x7f", "\r"]) {
    assertRefused(
      () => parseRequestHead(head(`G${c}T / HTTP/1.1`)),
      400,
      /^control character in request-line$/,
    );
  }
  // Whitespace controls split the target, so the line no longer matches.
  for (const c of ["\x0b", "\x0c", "\r"]) {
    assertRefused(
      () => parseRequestHead(head(`GET /a${c}b HTTP/1.1`)),
      400,
      /^control character in request-line$/,
    );
  }
});

Deno.test("parseRequestHead: other bytes in the target are left to parseRequestTarget", () => {
  // The head parser keeps the target as received; parseRequestTarget (always
  // called next) refuses anything but visible ASCII.
  assert.equal(parseRequestHead(head("GET /a\x00b HTTP/1.1")).target, "/a\x00b");
  assert.equal(parseRequestHead(head("GET /a\x7fb HTTP/1.1")).target, "/a\x7fb");
  assert.equal(parseRequestHead(head("GET /\xE9 HTTP/1.1")).target, "/\xE9");
});

Deno.test("parseRequestHead: an empty start line is refused", () => {
  assertRefused(() => parseRequestHead(latin1("\r\nHost: a\r\n\r\n")), 400, /empty start line/);
});

Deno.test("parseRequestHead: header order and repeated fields are preserved", () => {
  const h = parseRequestHead(head(
    "GET / HTTP/1.1",
    "host: a",
    "Cookie: a=1",
    "X-B: 2",
    "cookie: b=2",
    "X-A: 1",
    "COOKIE: c=3",
  ));
  assert.deepEqual([...h.fields], [
    ["host", "a"],
    ["Cookie", "a=1"],
    ["X-B", "2"],
    ["cookie", "b=2"],
    ["X-A", "1"],
    ["COOKIE", "c=3"],
  ]);
  assert.deepEqual(h.fields.getAll("cookie"), ["a=1", "b=2", "c=3"]);
});

Deno.test("parseResponseHead: Set-Cookie lines stay separate and in order", () => {
  const h = parseResponseHead(head(
    "HTTP/1.1 200 OK",
    "Set-Cookie: a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
    "Content-Length: 0",
    "Set-Cookie: b=2",
  ));
  assert.deepEqual(h.fields.getAll("set-cookie"), [
    "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
    "b=2",
  ]);
  assert.deepEqual([...h.fields].map(([n]) => n), ["Set-Cookie", "Content-Length", "Set-Cookie"]);
});

Deno.test("parseFieldLines: surrounding OWS is trimmed, inner whitespace kept", () => {
  const f = parseFieldLines([
    "A:value",
    "B:   spaced   ",
    "C:\t\ttabbed\t",
    "D: inner  \t space",
    "E:",
    "F:   ",
  ]);
  assert.deepEqual([...f], [
    ["A", "value"],
    ["B", "spaced"],
    ["C", "tabbed"],
    ["D", "inner  \t space"],
    ["E", ""],
    ["F", ""],
  ]);
});

Deno.test("parseFieldLines: only the first colon separates name and value", () => {
  const f = parseFieldLines(["Host: example.com:8080", "X: a:b: c"]);
  assert.deepEqual([...f], [["Host", "example.com:8080"], ["X", "a:b: c"]]);
});

Deno.test("parseFieldLines: `start` skips the start line", () => {
  const f = parseFieldLines(["GET / HTTP/1.1", "A: 1"], 1);
  assert.deepEqual([...f], [["A", "1"]]);
});

Deno.test("parseFieldLines: every tchar is allowed in a name", () => {
  const name = "!#$%&'*+-.^_`|~09azAZ";
  assert.deepEqual([...parseFieldLines([`${name}: v`])], [[name, "v"]]);
});

Deno.test("parseFieldLines: malformed field lines get 400", () => {
  const cases: [string, RegExp][] = [
    [" folded", /obs-fold/],
    ["\tfolded", /obs-fold/],
    [": no name", /without a field name/],
    ["no colon at all", /without a field name/],
    ["", /without a field name/],
    ["Host : a", /invalid header field name "Host "/],
    ["Host\t: a", /invalid header field name/],
    ["Ho st: a", /invalid header field name/],
    ["Host\r: a", /invalid header field name/],
    ["H\xE9st: a", /invalid header field name/],
    ["(x): a", /invalid header field name/],
    ["X: a\x00b", /control character in header field X/],
    ["X: a\rb", /control character in header field X/],
    ["X: a\nb", /control character in header field X/],
    ["X: a\x7fb", /control character in header field X/],
    ["X: a\x1bb", /control character in header field X/],
    ["X: value\r", /control character/],
  ];
  for (const [line, message] of cases) {
    assertRefused(() => parseFieldLines(["A: 1", line]), 400, message);
  }
});

Deno.test("parseFieldLines: obs-fold after a field is refused inside a whole head", () => {
  assertRefused(
    () => parseRequestHead(head("GET / HTTP/1.1", "X-Long: part one", "  part two")),
    400,
    /obs-fold/,
  );
});

Deno.test("parseFieldLines: exactly MAX_FIELDS fields pass, one more is 431", () => {
  assert.equal(MAX_FIELDS, 100);
  const lines = Array.from({ length: MAX_FIELDS }, (_, i) => `X-${i}: ${i}`);
  const ok = parseRequestHead(head("GET / HTTP/1.1", ...lines));
  assert.equal(ok.fields.size, 100);
  assert.equal(ok.fields.get("x-99"), "99");
  assertRefused(
    () => parseRequestHead(head("GET / HTTP/1.1", ...lines, "X-100: 100")),
    431,
    /more than 100 header fields/,
  );
  assertRefused(() => parseFieldLines([...lines, "X: y"]), 431);
});

Deno.test("obs-text bytes 0x80-0xFF in a value survive parse and serialize byte for byte", () => {
  const obs = new Uint8Array(128).map((_, i) => 0x80 + i);
  const prefix = latin1("GET / HTTP/1.1\r\nX-Obs: <");
  const suffix = latin1(">\r\nHost: h\r\n\r\n");
  const bytes = new Uint8Array(prefix.length + obs.length + suffix.length);
  bytes.set(prefix);
  bytes.set(obs, prefix.length);
  bytes.set(suffix, prefix.length + obs.length);

  const h = parseRequestHead(bytes);
  const value = h.fields.get("x-obs")!;
  assert.equal(value.length, 130);
  for (let i = 0; i < 128; i++) assert.equal(value.charCodeAt(i + 1), 0x80 + i);

  const out = serializeRequestHead(h.method, h.target, h.fields);
  assert.deepEqual(out, bytes);
  assert.deepEqual(encodeLatin1(value), new Uint8Array([0x3c, ...obs, 0x3e]));
});

Deno.test("a UTF-8 value is kept as its bytes, not decoded as UTF-8", () => {
  // "é" in UTF-8 is C3 A9: it must stay two chars (Ã©), so it goes out as the same two bytes.
  const bytes = latin1("HTTP/1.1 200 OK\r\nContent-Disposition: x\xC3\xA9\r\n\r\n");
  const h = parseResponseHead(bytes);
  assert.equal(h.fields.get("content-disposition"), "x\xC3\xA9");
  assert.deepEqual(encodeLatin1(h.fields.get("content-disposition")!), latin1("x\xC3\xA9"));
});

Deno.test("decodeLatin1: one char per byte on the ASCII fast path and the slow path", () => {
  assert.equal(decodeLatin1(new Uint8Array(0)), "");
  assert.equal(decodeLatin1(latin1("plain ascii\r\n")), "plain ascii\r\n");
  const all = new Uint8Array(256).map((_, i) => i);
  const s = decodeLatin1(all);
  assert.equal(s.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(s.charCodeAt(i), i);
  // 0x80-0x9F must not be remapped as windows-1252 would (0x80 -> U+20AC).
  assert.equal(decodeLatin1(new Uint8Array([0x80, 0x9f])), "\x80\x9f");
  // Valid UTF-8 (a BOM, a 4-byte sequence, U+FFFD itself) is still read byte by byte.
  assert.equal(decodeLatin1(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), "\xef\xbb\xbfA");
  assert.equal(decodeLatin1(new Uint8Array([0xf0, 0x9f, 0x98, 0x80])), "\xf0\x9f\x98\x80");
  assert.equal(decodeLatin1(new Uint8Array([0xef, 0xbf, 0xbd])), "\xef\xbf\xbd");
  // Larger than one 8192-byte slice.
  const big = new Uint8Array(20000).map((_, i) => 0x80 | (i & 0x7f));
  assert.equal(decodeLatin1(big), text(big));
});

Deno.test("splitHead: drops the final CRLFCRLF and splits on CRLF only", () => {
  assert.deepEqual(splitHead(latin1("GET / HTTP/1.1\r\n\r\n")), ["GET / HTTP/1.1"]);
  assert.deepEqual(splitHead(latin1("A\r\nB: 1\r\nC: 2\r\n\r\n")), ["A", "B: 1", "C: 2"]);
  // A bare CR stays inside its line, where the character checks refuse it.
  assert.deepEqual(splitHead(latin1("A\r\nB: 1\rC: 2\r\n\r\n")), ["A", "B: 1\rC: 2"]);
  assertRefused(() => splitHead(latin1("\r\n\r\n")), 400, /empty start line/);
});

Deno.test("bare CR in a header value or name is refused", () => {
  assertRefused(
    () => parseRequestHead(latin1("GET / HTTP/1.1\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n")),
    400,
    /control character/,
  );
  assertRefused(() => parseRequestHead(latin1("GET / HTTP/1.1\r\n\rX: a\r\n\r\n")), 400);
  assertRefused(() => parseRequestHead(latin1("GET / HTTP/1.1\r\r\nX: a\r\n\r\n")), 400);
});

Deno.test("parseResponseHead: status-line with and without a reason phrase", () => {
  const ok = parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length: 2"));
  assert.equal(ok.status, 200);
  assert.equal(ok.reason, "OK");
  assert.equal(ok.minor, 1);
  assert.deepEqual([...ok.fields], [["Content-Length", "2"]]);

  const multi = parseResponseHead(head("HTTP/1.0 404 Not  Found here"));
  assert.equal(multi.status, 404);
  assert.equal(multi.reason, "Not  Found here");
  assert.equal(multi.minor, 0);

  const empty = parseResponseHead(head("HTTP/1.1 204 "));
  assert.equal(empty.status, 204);
  assert.equal(empty.reason, "");

  const none = parseResponseHead(head("HTTP/1.1 304"));
  assert.equal(none.status, 304);
  assert.equal(none.reason, "");

  // obs-text in the reason is allowed.
  assert.equal(parseResponseHead(head("HTTP/1.1 200 \xC7a va")).reason, "\xC7a va");
});

Deno.test("parseResponseHead: malformed status-lines are refused with 400", () => {
  const bad = [
    "HTTP/2.0 200 OK",
    "HTTP/0.9 200 OK",
    "HTTP/1.1 20 OK",
    "HTTP/1.1 2000 OK",
    "HTTP/1.1 200OK",
    "HTTP/1.1  200 OK",
    "http/1.1 200 OK",
    "HTTP/1.1",
    "ICY 200 OK",
    "HTTP/1.1 abc OK",
  ];
  for (const line of bad) {
    assertRefused(() => parseResponseHead(head(line)), 400, /^malformed status-line$/);
  }
  for (const c of ["\x00", "\x07", "\x7f", "\r"]) {
    assertRefused(() => parseResponseHead(head(`HTTP/1.1 200 O${c}K`)), 400);
  }
  assertRefused(
    () => parseResponseHead(head("HTTP/1.1 200 O\x00K")),
    400,
    /control character in reason phrase/,
  );
});

Deno.test("parseResponseHead: fields are checked as strictly as a request's", () => {
  assertRefused(
    () => parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length : 5")),
    400,
    /invalid header field name/,
  );
  assertRefused(() => parseResponseHead(head("HTTP/1.1 200 OK", "A: 1", " b")), 400, /obs-fold/);
  const many = Array.from({ length: 101 }, (_, i) => `X-${i}: ${i}`);
  assertRefused(() => parseResponseHead(head("HTTP/1.1 200 OK", ...many)), 431);
});
