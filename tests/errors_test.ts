import assert from "node:assert/strict";
import { isDisconnect, oneLine, ProxyError, toProxyError } from "../src/errors.ts";
import { HttpSyntaxError } from "../src/http1/syntax_error.ts";
import { UnexpectedEofError } from "../src/io/buffered_conn.ts";

Deno.test("toProxyError: codec errors are the client's fault on the client side, 502 on the origin side", () => {
  const c = toProxyError(new HttpSyntaxError("bad", 431), "client");
  assert.deepEqual([c.status, c.type, c.message], [431, "http_request_error", "bad"]);
  const o = toProxyError(new HttpSyntaxError("bad"), "origin", "h:80");
  assert.deepEqual([o.status, o.type, o.message], [
    502,
    "http_protocol_error",
    "bad response from h:80: bad",
  ]);
});

Deno.test("toProxyError: network failures name the host and the cause", () => {
  const cases: [unknown, number, string, RegExp][] = [
    [
      new Deno.errors.ConnectionRefused("x"),
      502,
      "connection_refused",
      /^cannot connect to h:80: connection refused$/,
    ],
    [new Deno.errors.TimedOut("x"), 504, "connection_timeout", /h:80: timed out/],
    [new Deno.errors.ConnectionReset("x"), 502, "connection_terminated", /h:80 was reset/],
    [
      new Error("dns error: failed to lookup address information"),
      502,
      "dns_error",
      /cannot resolve h:80/,
    ],
    [
      new Error("invalid peer certificate: UnknownIssuer"),
      502,
      "tls_certificate_error",
      /UnknownIssuer/,
    ],
    [
      new UnexpectedEofError("body"),
      502,
      "http_response_incomplete",
      /origin h:80 connection closed/,
    ],
  ];
  for (const [err, status, type, message] of cases) {
    const pe = toProxyError(err, "origin", "h:80");
    assert.equal(pe.status, status, String(err));
    assert.equal(pe.type, type);
    assert.match(pe.message, message);
  }
});

Deno.test("toProxyError: a ProxyError passes through untouched", () => {
  const pe = new ProxyError(403, "http_request_denied", "no");
  assert.equal(toProxyError(pe, "origin"), pe);
});

Deno.test("oneLine and isDisconnect", () => {
  assert.equal(oneLine("first\nsecond"), "first");
  assert.equal(isDisconnect(new Deno.errors.BrokenPipe("x")), true);
  assert.equal(isDisconnect(new Error("x")), false);
});
