import assert from "node:assert/strict";
import { parseRequestHead } from "../../src/http1/parse_head.ts";
import { HttpSyntaxError } from "../../src/http1/syntax_error.ts";
import {
  interpretRequest,
  isRequestStart,
  type ProxyRequest,
} from "../../src/request/read_request.ts";

function interpret(head: string): ProxyRequest {
  return interpretRequest(
    parseRequestHead(Uint8Array.from(head + "\r\n\r\n", (c) => c.charCodeAt(0))),
  );
}

function refused(head: string, status: number, message: RegExp): void {
  assert.throws(() => interpret(head), (err: unknown) => {
    assert.ok(err instanceof HttpSyntaxError, String(err));
    assert.equal(err.status, status);
    assert.match(err.message, message);
    return true;
  });
}

Deno.test("interpretRequest: absolute-form GET", () => {
  const r = interpret(
    "GET http://Example.TEST:8080/a/../b?q=1 HTTP/1.1\r\nHost: example.test:8080",
  );
  assert.deepEqual(r.target, {
    form: "absolute",
    scheme: "http",
    host: "example.test",
    port: 8080,
    path: "/a/../b?q=1",
  });
  assert.equal(r.url, "http://example.test:8080/a/../b?q=1");
  assert.deepEqual(r.framing, { kind: "none" });
  assert.equal(r.keepAlive, true);
  assert.equal(r.expectContinue, false);
});

Deno.test("interpretRequest: default port in URL equals an explicit one in Host", () => {
  assert.equal(interpret("GET http://h.test/ HTTP/1.1\r\nHost: h.test:80").url, "http://h.test/");
  assert.equal(
    interpret("GET https://h.test:443/ HTTP/1.1\r\nHost: h.test").url,
    "https://h.test/",
  );
});

Deno.test("interpretRequest: CONNECT needs no Host; URL is host:port", () => {
  const r = interpret("CONNECT [::1]:443 HTTP/1.1");
  assert.deepEqual(r.target, { form: "authority", host: "::1", port: 443 });
  assert.equal(r.url, "[::1]:443");
});

Deno.test("interpretRequest: keep-alive follows version and Connection", () => {
  assert.equal(
    interpret("GET http://h/ HTTP/1.1\r\nHost: h\r\nConnection: close").keepAlive,
    false,
  );
  assert.equal(interpret("GET http://h/ HTTP/1.0").keepAlive, false);
  assert.equal(interpret("GET http://h/ HTTP/1.0\r\nConnection: Keep-Alive").keepAlive, true);
});

Deno.test("interpretRequest: Expect: 100-continue only matters with a body and HTTP/1.1", () => {
  const base = "PUT http://h/ HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue";
  assert.equal(interpret(`${base}\r\nContent-Length: 5`).expectContinue, true);
  assert.equal(interpret(base).expectContinue, false);
  assert.equal(
    interpret("PUT http://h/ HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5").expectContinue,
    false,
  );
  refused("PUT http://h/ HTTP/1.1\r\nHost: h\r\nExpect: teapot", 417, /unsupported expectation/);
});

Deno.test("interpretRequest: framing from Content-Length and chunked", () => {
  assert.deepEqual(interpret("POST http://h/ HTTP/1.1\r\nHost: h\r\nContent-Length: 42").framing, {
    kind: "length",
    length: 42,
  });
  assert.deepEqual(
    interpret("POST http://h/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked").framing,
    {
      kind: "chunked",
    },
  );
});

Deno.test("interpretRequest: Host rules", () => {
  refused("GET http://h/ HTTP/1.1", 400, /missing Host/);
  refused("GET http://h/ HTTP/1.1\r\nHost: h\r\nHost: h", 400, /more than one Host/);
  // RFC 9112 §3.2.2: the absolute-form target wins over Host (which is replaced when forwarding).
  assert.equal(interpret("GET http://h/ HTTP/1.1\r\nHost: other:8080").url, "http://h/");
  refused("GET http://h/ HTTP/1.1\r\nHost: h/x", 400, /invalid host/);
  refused("GET /x HTTP/1.1\r\nHost: a b", 400, /invalid/);
  // HTTP/1.0 may leave Host out.
  assert.equal(interpret("GET http://h/ HTTP/1.0").url, "http://h/");
});

Deno.test("interpretRequest: target errors", () => {
  refused("GET ftp://h/ HTTP/1.1\r\nHost: h", 400, /unsupported URL scheme ftp/);
  refused("GET http://user@h/ HTTP/1.1\r\nHost: h", 400, /userinfo/);
  refused("CONNECT h HTTP/1.1\r\nHost: h", 400, /host:port/);
  refused("GET * HTTP/1.1\r\nHost: h", 400, /asterisk/);
});

Deno.test("isRequestStart: token bytes only", () => {
  assert.equal(isRequestStart("G".charCodeAt(0)), true);
  assert.equal(isRequestStart("m".charCodeAt(0)), true);
  for (const b of [0x16, 0x00, 0x20, 0x0d, 0x80, "(".charCodeAt(0)]) {
    assert.equal(isRequestStart(b), false);
  }
});
