import assert from "node:assert/strict";
import { FieldList } from "../../src/http1/fields.ts";
import {
  type BodyFraming,
  CHUNKED,
  NO_BODY,
  parseContentLength,
  requestFraming,
  responseEndsConnection,
  responseFraming,
  UNTIL_CLOSE,
  wantsKeepAlive,
} from "../../src/http1/framing.ts";
import type { RequestHead, ResponseHead } from "../../src/http1/parse_head.ts";
import { assertRefused } from "./_codec.ts";

function fields(...pairs: [string, string][]): FieldList {
  const f = new FieldList();
  for (const [n, v] of pairs) f.add(n, v);
  return f;
}

function request(minor: 0 | 1, ...pairs: [string, string][]): RequestHead {
  return { method: "POST", target: "/", minor, fields: fields(...pairs) };
}

function response(status: number, minor: 0 | 1, ...pairs: [string, string][]): ResponseHead {
  return { status, reason: "", minor, fields: fields(...pairs) };
}

Deno.test("framing constants are frozen and distinct", () => {
  assert.deepEqual(NO_BODY, { kind: "none" });
  assert.deepEqual(CHUNKED, { kind: "chunked" });
  assert.deepEqual(UNTIL_CLOSE, { kind: "close" });
  assert.ok(Object.isFrozen(NO_BODY) && Object.isFrozen(CHUNKED) && Object.isFrozen(UNTIL_CLOSE));
});

Deno.test("requestFraming: no body without Content-Length or Transfer-Encoding", () => {
  assert.deepEqual(requestFraming(request(1)), { kind: "none" });
  assert.deepEqual(requestFraming(request(0, ["Host", "h"])), { kind: "none" });
});

Deno.test("requestFraming: Content-Length gives a length (0 included)", () => {
  assert.deepEqual(requestFraming(request(1, ["Content-Length", "5"])), {
    kind: "length",
    length: 5,
  });
  assert.deepEqual(requestFraming(request(1, ["content-length", "0"])), {
    kind: "length",
    length: 0,
  });
  assert.deepEqual(requestFraming(request(0, ["CONTENT-LENGTH", "123456"])), {
    kind: "length",
    length: 123456,
  });
});

Deno.test("requestFraming: Transfer-Encoding chunked (any case) in HTTP/1.1", () => {
  assert.deepEqual(requestFraming(request(1, ["Transfer-Encoding", "chunked"])), {
    kind: "chunked",
  });
  assert.deepEqual(requestFraming(request(1, ["transfer-encoding", "Chunked"])), {
    kind: "chunked",
  });
  assert.deepEqual(requestFraming(request(1, ["Transfer-Encoding", "CHUNKED"])), {
    kind: "chunked",
  });
});

Deno.test("requestFraming: the refusals, with their statuses", () => {
  const cases: [RequestHead, number, RegExp][] = [
    [request(0, ["Transfer-Encoding", "chunked"]), 400, /HTTP\/1\.0/],
    [
      request(1, ["Transfer-Encoding", "chunked"], ["Content-Length", "3"]),
      400,
      /both Content-Length and Transfer-Encoding/,
    ],
    [request(1, ["Transfer-Encoding", "gzip"]), 400, /does not end in chunked/],
    [request(1, ["Transfer-Encoding", "chunked, gzip"]), 400, /does not end in chunked/],
    [request(1, ["Transfer-Encoding", "chunked, chunked"]), 400, /more than once/],
    [request(1, ["Transfer-Encoding", "gzip, chunked"]), 501, /transfer coding gzip not supported/],
    [request(1, ["Transfer-Encoding", "identity, chunked"]), 501, /identity not supported/],
    [request(1, ["Transfer-Encoding", ""]), 400, /malformed Transfer-Encoding/],
    [request(1, ["Transfer-Encoding", "chunked,"]), 400, /malformed Transfer-Encoding/],
    [request(1, ["Transfer-Encoding", "chunked;q=1"]), 400, /malformed Transfer-Encoding/],
    [request(1, ["Content-Length", "1"], ["Content-Length", "1"]), 400, /more than one/],
    [request(1, ["Content-Length", "abc"]), 400, /invalid Content-Length "abc"/],
    [request(1, ["Content-Length", ""]), 400, /invalid Content-Length ""/],
  ];
  for (const [head, status, message] of cases) {
    assertRefused(() => requestFraming(head), status as 400 | 501, message);
  }
});

Deno.test("parseContentLength: digits only, at most 15 of them", () => {
  assert.equal(parseContentLength("0"), 0);
  assert.equal(parseContentLength("007"), 7);
  assert.equal(parseContentLength("999999999999999"), 999999999999999);
  assertRefused(() => parseContentLength("1000000000000000"), 400, /^Content-Length too large$/);
  assertRefused(() => parseContentLength("99999999999999999999999"), 400, /too large/);
  for (const bad of ["", " 5", "5 ", "+5", "-1", "1 0", "5, 5", "0x10", "1e3", "5.0", "\u0665"]) {
    assertRefused(() => parseContentLength(bad), 400, /^invalid Content-Length /);
  }
});

Deno.test("responseFraming: HEAD, 1xx, 204 and 304 have no body whatever the fields say", () => {
  const withLength = (status: number) =>
    response(status, 1, ["Content-Length", "10"], ["Transfer-Encoding", "chunked"]);
  assert.deepEqual(responseFraming("HEAD", withLength(200)), { kind: "none" });
  assert.deepEqual(responseFraming("HEAD", response(200, 1)), { kind: "none" });
  for (const status of [100, 101, 103, 204, 304]) {
    assert.deepEqual(responseFraming("GET", withLength(status)), { kind: "none" }, `${status}`);
  }
  // 205 and 404 are not special.
  assert.deepEqual(responseFraming("GET", response(205, 1, ["Content-Length", "0"])), {
    kind: "length",
    length: 0,
  });
  assert.deepEqual(responseFraming("GET", response(404, 1)), { kind: "close" });
});

Deno.test("responseFraming: chunked, length, and close-delimited bodies", () => {
  assert.deepEqual(responseFraming("GET", response(200, 1, ["Transfer-Encoding", "chunked"])), {
    kind: "chunked",
  });
  assert.deepEqual(
    responseFraming("GET", response(200, 1, ["Transfer-Encoding", "identity, Chunked"])),
    { kind: "chunked" },
  );
  assert.deepEqual(responseFraming("GET", response(200, 1, ["Content-Length", "42"])), {
    kind: "length",
    length: 42,
  });
  assert.deepEqual(responseFraming("POST", response(200, 0)), { kind: "close" });
  // Transfer-Encoding whose last coding is not chunked: the body runs to close.
  assert.deepEqual(responseFraming("GET", response(200, 1, ["Transfer-Encoding", "gzip"])), {
    kind: "close",
  });
  assert.deepEqual(
    responseFraming("GET", response(200, 1, ["Transfer-Encoding", "chunked, gzip"])),
    { kind: "close" },
  );
});

Deno.test("responseFraming: Transfer-Encoding wins over Content-Length", () => {
  const head = response(200, 1, ["Content-Length", "3"], ["Transfer-Encoding", "chunked"]);
  assert.deepEqual(responseFraming("GET", head), { kind: "chunked" });
});

Deno.test("responseFraming: identical duplicate Content-Length is accepted", () => {
  assert.deepEqual(
    responseFraming("GET", response(200, 1, ["Content-Length", "5"], ["Content-Length", "5"])),
    { kind: "length", length: 5 },
  );
  assert.deepEqual(responseFraming("GET", response(200, 1, ["Content-Length", "5, 5,5"])), {
    kind: "length",
    length: 5,
  });
});

Deno.test("responseFraming: conflicting or malformed Content-Length is refused", () => {
  const cases: [ResponseHead, RegExp][] = [
    [response(200, 1, ["Content-Length", "5"], ["Content-Length", "6"]), /conflicting/],
    [response(200, 1, ["Content-Length", "5, 6"]), /conflicting/],
    [response(200, 1, ["Content-Length", "5,"]), /conflicting/],
    [response(200, 1, ["Content-Length", "+5"]), /invalid Content-Length "\+5"/],
    [response(200, 1, ["Content-Length", "-1"]), /invalid Content-Length/],
    [response(200, 1, ["Content-Length", "1 0"]), /invalid Content-Length/],
    [response(200, 1, ["Content-Length", ""]), /invalid Content-Length/],
    [response(200, 1, ["Content-Length", "12345678901234567890"]), /too large/],
  ];
  for (const [head, message] of cases) {
    assertRefused(() => responseFraming("GET", head), 400, message);
  }
});

Deno.test("responseFraming: unsupported or repeated codings before chunked are refused", () => {
  for (const te of ["gzip, chunked", "chunked, chunked", "x, identity, chunked"]) {
    assertRefused(
      () => responseFraming("GET", response(200, 1, ["Transfer-Encoding", te])),
      400,
      /unsupported Transfer-Encoding/,
    );
  }
  for (const te of ["chunked\xA0", "chunked,", ""]) {
    assertRefused(
      () => responseFraming("GET", response(200, 1, ["Transfer-Encoding", te])),
      400,
      /malformed Transfer-Encoding/,
    );
  }
});

Deno.test("responseEndsConnection: close framing, Connection: close, HTTP/1.0", () => {
  const len: BodyFraming = { kind: "length", length: 1 };
  assert.equal(responseEndsConnection(response(200, 1), len), false);
  assert.equal(responseEndsConnection(response(200, 1), CHUNKED), false);
  assert.equal(responseEndsConnection(response(200, 1), NO_BODY), false);
  assert.equal(responseEndsConnection(response(200, 1), UNTIL_CLOSE), true);
  assert.equal(responseEndsConnection(response(200, 1, ["Connection", "close"]), len), true);
  assert.equal(
    responseEndsConnection(response(200, 1, ["Connection", "Upgrade, CLOSE"]), len),
    true,
  );
  assert.equal(
    responseEndsConnection(
      response(200, 1, ["Connection", "keep-alive"], ["Connection", "close"]),
      len,
    ),
    true,
  );
  assert.equal(responseEndsConnection(response(200, 0), len), true);
  assert.equal(responseEndsConnection(response(200, 0, ["Connection", "Keep-Alive"]), len), false);
  assert.equal(
    responseEndsConnection(response(200, 0, ["Connection", "keep-alive, close"]), len),
    true,
  );
  assert.equal(responseEndsConnection(response(200, 1, ["Connection", "closed"]), len), false);
});

Deno.test("responseEndsConnection: a response with both framings ends the connection", () => {
  const head = response(200, 1, ["Transfer-Encoding", "chunked"], ["Content-Length", "3"]);
  const framing = responseFraming("GET", head);
  assert.deepEqual(framing, { kind: "chunked" });
  assert.equal(responseEndsConnection(head, framing), true);
  const chunkedOnly = response(200, 1, ["Transfer-Encoding", "chunked"]);
  assert.equal(responseEndsConnection(chunkedOnly, CHUNKED), false);
});

Deno.test("responseEndsConnection: Transfer-Encoding in an HTTP/1.0 response ends the connection", () => {
  // RFC 9112 §6.1: such framing is faulty; close after it even with keep-alive.
  const head = response(200, 0, ["Connection", "keep-alive"], ["Transfer-Encoding", "chunked"]);
  assert.equal(responseEndsConnection(head, responseFraming("GET", head)), true);
});

Deno.test("wantsKeepAlive: HTTP/1.1 persists unless close", () => {
  assert.equal(wantsKeepAlive(1, fields()), true);
  assert.equal(wantsKeepAlive(1, fields(["Connection", "keep-alive"])), true);
  assert.equal(wantsKeepAlive(1, fields(["Connection", "close"])), false);
  assert.equal(wantsKeepAlive(1, fields(["connection", " Upgrade ,Close"])), false);
  assert.equal(wantsKeepAlive(1, fields(["Connection", "te"], ["Connection", "close"])), false);
  assert.equal(wantsKeepAlive(1, fields(["Connection", "closed"])), true);
  assert.equal(wantsKeepAlive(1, fields(["Connection", "close\xA0"])), true);
});

Deno.test("wantsKeepAlive: HTTP/1.0 persists only with keep-alive and no close", () => {
  assert.equal(wantsKeepAlive(0, fields()), false);
  assert.equal(wantsKeepAlive(0, fields(["Connection", "keep-alive"])), true);
  assert.equal(wantsKeepAlive(0, fields(["Connection", "Keep-Alive"])), true);
  assert.equal(wantsKeepAlive(0, fields(["Connection", "close"])), false);
  assert.equal(wantsKeepAlive(0, fields(["Keep-Alive", "timeout=5"])), false);
  // RFC 9112 §9.3: close wins over keep-alive.
  assert.equal(wantsKeepAlive(0, fields(["Connection", "keep-alive, close"])), false);
  assert.equal(
    wantsKeepAlive(0, fields(["Connection", "close"], ["Connection", "keep-alive"])),
    false,
  );
});
