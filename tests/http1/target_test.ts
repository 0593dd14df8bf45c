import assert from "node:assert/strict";
import {
  DEFAULT_PORT,
  formatAuthority,
  parseAuthority,
  parseRequestTarget,
} from "../../src/http1/target.ts";
import { assertRefused } from "./_codec.ts";

Deno.test("DEFAULT_PORT: 80 for http, 443 for https", () => {
  assert.deepEqual({ ...DEFAULT_PORT }, { http: 80, https: 443 });
});

Deno.test("origin-form: the path is kept byte for byte", () => {
  for (
    const raw of [
      "/",
      "/index.html",
      "/a/../b/./c",
      "/%2e%2E/x?y=%41&z=a/b?c",
      "//double/slash",
      "/p?",
      "/p;params",
    ]
  ) {
    assert.deepEqual(parseRequestTarget("GET", raw), { form: "origin", path: raw });
  }
  assert.deepEqual(parseRequestTarget("POST", "/submit"), { form: "origin", path: "/submit" });
});

Deno.test("absolute-form: http and https, default and explicit ports", () => {
  assert.deepEqual(parseRequestTarget("GET", "http://example.com/a/b?c=d"), {
    form: "absolute",
    scheme: "http",
    host: "example.com",
    port: 80,
    path: "/a/b?c=d",
  });
  assert.deepEqual(parseRequestTarget("GET", "https://example.com/"), {
    form: "absolute",
    scheme: "https",
    host: "example.com",
    port: 443,
    path: "/",
  });
  assert.deepEqual(parseRequestTarget("GET", "http://example.com:8080/x"), {
    form: "absolute",
    scheme: "http",
    host: "example.com",
    port: 8080,
    path: "/x",
  });
  assert.deepEqual(parseRequestTarget("GET", "https://example.com:8443"), {
    form: "absolute",
    scheme: "https",
    host: "example.com",
    port: 8443,
    path: "/",
  });
  // An explicit default port is the same port.
  assert.deepEqual(parseRequestTarget("GET", "http://h:80/"), {
    form: "absolute",
    scheme: "http",
    host: "h",
    port: 80,
    path: "/",
  });
});

Deno.test("absolute-form: scheme and host are lower-cased, the path is not", () => {
  assert.deepEqual(parseRequestTarget("GET", "HTTP://Example.COM/Some/PATH?Q=A"), {
    form: "absolute",
    scheme: "http",
    host: "example.com",
    port: 80,
    path: "/Some/PATH?Q=A",
  });
  assert.deepEqual(parseRequestTarget("GET", "HtTpS://WWW.x.org"), {
    form: "absolute",
    scheme: "https",
    host: "www.x.org",
    port: 443,
    path: "/",
  });
});

Deno.test("absolute-form: an empty path becomes / and a query-only target gets a /", () => {
  assert.deepEqual(parseRequestTarget("GET", "http://h"), {
    form: "absolute",
    scheme: "http",
    host: "h",
    port: 80,
    path: "/",
  });
  assert.deepEqual(parseRequestTarget("GET", "http://h?x"), {
    form: "absolute",
    scheme: "http",
    host: "h",
    port: 80,
    path: "/?x",
  });
  assert.deepEqual(parseRequestTarget("GET", "http://h:81?a=1&b=2"), {
    form: "absolute",
    scheme: "http",
    host: "h",
    port: 81,
    path: "/?a=1&b=2",
  });
});

Deno.test("absolute-form: the fragment is dropped", () => {
  const path = (raw: string) => {
    const t = parseRequestTarget("GET", raw);
    assert.equal(t.form, "absolute");
    return t.form === "absolute" ? t.path : "";
  };
  assert.equal(path("http://h/p#frag"), "/p");
  assert.equal(path("http://h/p?q=1#frag"), "/p?q=1");
  assert.equal(path("http://h#frag"), "/");
  assert.equal(path("http://h?q#f?g"), "/?q");
  assert.equal(path("http://h/a#b#c"), "/a");
});

Deno.test("absolute-form: the path keeps dot segments and percent-encoding", () => {
  const t = parseRequestTarget("GET", "http://h/a/../b/%2e%2E/%41?x=%2F");
  assert.deepEqual(t, {
    form: "absolute",
    scheme: "http",
    host: "h",
    port: 80,
    path: "/a/../b/%2e%2E/%41?x=%2F",
  });
});

Deno.test("absolute-form: IPv6 literals lose their brackets", () => {
  assert.deepEqual(parseRequestTarget("GET", "http://[::1]:8080/x"), {
    form: "absolute",
    scheme: "http",
    host: "::1",
    port: 8080,
    path: "/x",
  });
  assert.deepEqual(parseRequestTarget("GET", "https://[2001:DB8::A]/"), {
    form: "absolute",
    scheme: "https",
    host: "2001:db8::a",
    port: 443,
    path: "/",
  });
  assert.deepEqual(parseRequestTarget("GET", "http://[::ffff:1.2.3.4]"), {
    form: "absolute",
    scheme: "http",
    host: "::ffff:1.2.3.4",
    port: 80,
    path: "/",
  });
});

Deno.test("absolute-form: an IPv4 host and an empty port (default) are accepted", () => {
  assert.deepEqual(parseRequestTarget("GET", "http://127.0.0.1:3128/"), {
    form: "absolute",
    scheme: "http",
    host: "127.0.0.1",
    port: 3128,
    path: "/",
  });
  assert.deepEqual(parseRequestTarget("GET", "http://h:/p"), {
    form: "absolute",
    scheme: "http",
    host: "h",
    port: 80,
    path: "/p",
  });
});

Deno.test("absolute-form: schemes other than http and https are refused", () => {
  for (const raw of ["ftp://h/", "ws://h/", "file:///etc/passwd", "httpx://h/"]) {
    assertRefused(() => parseRequestTarget("GET", raw), 400, /unsupported URL scheme/);
  }
});

Deno.test("absolute-form: malformed targets are refused", () => {
  const cases: [string, RegExp][] = [
    ["http:/h/", /malformed request-target/],
    ["http:h", /malformed request-target/],
    ["h/path", /malformed request-target/],
    ["example.com", /malformed request-target/],
    ["1http://h/", /malformed request-target/],
    ["http:///path", /invalid host/],
    ["http://h h/", /invalid character/],
    ["http://user:pw@h/", /userinfo/],
    ["http://@h/", /userinfo/],
    ["http://h:0/", /invalid port/],
    ["http://h:65536/", /invalid port/],
    ["http://h:123456/", /invalid port/],
    ["http://h:-1/", /invalid port/],
    ["http://h:+80/", /invalid port/],
    ["http://h:8o/", /invalid port/],
    ["http://h:1:2/", /invalid host/],
    ['http://h"/', /invalid host/],
    ["http://h<x>/", /invalid host/],
    ["http://[::1/", /unterminated IPv6/],
    ["http://[::1]x/", /malformed authority/],
    ["http://[::1]:0/", /invalid port/],
    ["http://[1.2.3.4]/", /invalid IPv6/],
    ["http://[fe80::1%25eth0]/", /invalid IPv6/],
    ["http://[g::1]/", /invalid IPv6/],
    ["http://[]/", /invalid IPv6/],
  ];
  for (const [raw, message] of cases) {
    assertRefused(() => parseRequestTarget("GET", raw), 400, message);
  }
});

Deno.test("the target must be visible ASCII", () => {
  for (const raw of ["", "/a b", "/a\tb", "/\x00", "/\x7f", "/\xE9", "http://h/\x80"]) {
    assertRefused(
      () => parseRequestTarget("GET", raw),
      400,
      /^invalid character in request-target$/,
    );
  }
});

Deno.test("authority-form: CONNECT takes host:port and requires the port", () => {
  assert.deepEqual(parseRequestTarget("CONNECT", "example.com:443"), {
    form: "authority",
    host: "example.com",
    port: 443,
  });
  assert.deepEqual(parseRequestTarget("CONNECT", "Example.COM:8443"), {
    form: "authority",
    host: "example.com",
    port: 8443,
  });
  assert.deepEqual(parseRequestTarget("CONNECT", "[::1]:443"), {
    form: "authority",
    host: "::1",
    port: 443,
  });
  assertRefused(() => parseRequestTarget("CONNECT", "example.com"), 400, /needs host:port/);
  assertRefused(() => parseRequestTarget("CONNECT", "example.com:"), 400, /needs host:port/);
  assertRefused(() => parseRequestTarget("CONNECT", "[::1]"), 400, /needs host:port/);
  assertRefused(() => parseRequestTarget("CONNECT", "/path"), 400, /invalid host/);
  assertRefused(() => parseRequestTarget("CONNECT", "http://h:443/"), 400, /invalid host/);
  assertRefused(() => parseRequestTarget("CONNECT", "u@h:443"), 400, /userinfo/);
  assertRefused(() => parseRequestTarget("CONNECT", "h:99999"), 400, /invalid port/);
});

Deno.test("authority-form is only for CONNECT (method is case-sensitive)", () => {
  assertRefused(() => parseRequestTarget("GET", "example.com:443"), 400, /malformed/);
  assertRefused(() => parseRequestTarget("connect", "example.com:443"), 400, /malformed/);
});

Deno.test("asterisk-form: only for OPTIONS", () => {
  assert.deepEqual(parseRequestTarget("OPTIONS", "*"), { form: "asterisk" });
  for (const method of ["GET", "HEAD", "POST", "options"]) {
    assertRefused(() => parseRequestTarget(method, "*"), 400, /only allowed for OPTIONS/);
  }
  // OPTIONS may still use the other forms.
  assert.deepEqual(parseRequestTarget("OPTIONS", "/x"), { form: "origin", path: "/x" });
});

Deno.test("parseAuthority: default port, explicit port, bounds", () => {
  assert.deepEqual(parseAuthority("h", 80), { host: "h", port: 80 });
  assert.deepEqual(parseAuthority("H.Example", 443), { host: "h.example", port: 443 });
  assert.deepEqual(parseAuthority("h:1", 80), { host: "h", port: 1 });
  assert.deepEqual(parseAuthority("h:65535", 80), { host: "h", port: 65535 });
  assert.deepEqual(parseAuthority("h:0080", 443), { host: "h", port: 80 });
  assert.deepEqual(parseAuthority("[::1]", 80), { host: "::1", port: 80 });
  assert.deepEqual(parseAuthority("[::1]:", 80), { host: "::1", port: 80 });
  assert.deepEqual(parseAuthority("xn--bcher-kva.example:8080", undefined), {
    host: "xn--bcher-kva.example",
    port: 8080,
  });
  assertRefused(() => parseAuthority("", 80), 400, /invalid host/);
  assertRefused(() => parseAuthority(":80", 80), 400, /invalid host/);
  assertRefused(() => parseAuthority("h:65536", 80), 400, /invalid port/);
  assertRefused(() => parseAuthority("h:000000", 80), 400, /invalid port/);
  assertRefused(() => parseAuthority("h:00000", 80), 400, /invalid port/);
  assertRefused(() => parseAuthority("h:", undefined), 400, /needs host:port/);
});

Deno.test("formatAuthority: brackets IPv6, omits the default port", () => {
  assert.equal(formatAuthority("example.com", 80, 80), "example.com");
  assert.equal(formatAuthority("example.com", 8080, 80), "example.com:8080");
  assert.equal(formatAuthority("example.com", 443), "example.com:443");
  assert.equal(formatAuthority("::1", 443, 443), "[::1]");
  assert.equal(formatAuthority("::1", 8080, 80), "[::1]:8080");
  assert.equal(formatAuthority("::1", 443), "[::1]:443");
});

Deno.test("formatAuthority and parseAuthority round-trip", () => {
  for (const [host, port] of [["h", 80], ["h", 81], ["::1", 80], ["2001:db8::1", 9000]] as const) {
    assert.deepEqual(parseAuthority(formatAuthority(host, port, 80), 80), { host, port });
  }
});
