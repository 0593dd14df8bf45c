/**
 * The upstream proxy (src/origin/upstream.ts): proxy URLs, which proxy an
 * origin goes through (fixed, or HTTP_PROXY / HTTPS_PROXY minus NO_PROXY),
 * never hoard itself, and CONNECT through a proxy on a raw socket.
 */

import assert from "node:assert/strict";
import { ProxyError } from "../../src/errors.ts";
import type { Origin } from "../../src/origin/origin.ts";
import {
  connectThrough,
  parseProxyUrl,
  type UpstreamChooser,
  upstreamChooser,
  type UpstreamProxy,
} from "../../src/origin/upstream.ts";
import { startRawOrigin, writeText } from "../_helpers/origin.ts";

const basic = (userPass: string) =>
  `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(userPass)))}`;

const never = () => false;

function http(host: string, port = 80): Origin {
  return { scheme: "http", host, port };
}

function https(host: string, port = 443): Origin {
  return { scheme: "https", host, port };
}

Deno.test("parseProxyUrl: host and port, default port 80, scheme optional, IPv6", () => {
  assert.deepEqual(parseProxyUrl("http://proxy.corp:3128"), { host: "proxy.corp", port: 3128 });
  assert.deepEqual(parseProxyUrl("http://proxy.corp:3128/"), { host: "proxy.corp", port: 3128 });
  assert.deepEqual(parseProxyUrl("proxy.corp:8080"), { host: "proxy.corp", port: 8080 });
  assert.deepEqual(parseProxyUrl("http://proxy.corp"), { host: "proxy.corp", port: 80 });
  assert.deepEqual(parseProxyUrl("127.0.0.1:9"), { host: "127.0.0.1", port: 9 });
  assert.deepEqual(parseProxyUrl("http://[::1]:3128"), { host: "::1", port: 3128 });
  assert.deepEqual(parseProxyUrl("HTTP://Proxy.Corp:1"), { host: "proxy.corp", port: 1 });
});

Deno.test("parseProxyUrl: credentials become Basic Proxy-Authorization, percent-decoded", () => {
  assert.deepEqual(parseProxyUrl("http://u:p@127.0.0.1:3128"), {
    host: "127.0.0.1",
    port: 3128,
    authorization: basic("u:p"),
  });
  assert.equal(parseProxyUrl("http://u:p@h:1").authorization, "Basic dTpw");
  assert.equal(parseProxyUrl("u:p%40ss%3A@h:1").authorization, basic("u:p@ss:"));
  assert.equal(parseProxyUrl("http://user@h:1").authorization, basic("user:"));
  assert.equal(parseProxyUrl("http://%C3%BC:%E2%82%AC@h:1").authorization, basic("ü:€"));
});

Deno.test("parseProxyUrl: anything else is one error line", () => {
  const cases: [string, RegExp][] = [
    ["https://proxy.corp:443", /^only http:\/\/ upstream proxies are supported, got https:$/],
    ["socks5://proxy.corp:1080", /^only http:\/\/ upstream proxies are supported, got socks5:$/],
    ["http://proxy.corp:3128/path", /^a proxy URL has no path: "http:\/\/proxy\.corp:3128\/path"$/],
    ["http://pro xy:1", /^not a proxy URL: "http:\/\/pro xy:1"$/],
    ["http://h:99999", /^not a proxy URL: /],
    ["", /^not a proxy URL: ""$/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseProxyUrl(text), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, re, text);
      return true;
    });
  }
});

Deno.test("upstreamChooser: a fixed proxy for every origin", () => {
  const choose = upstreamChooser("http://u:p@10.0.0.1:3128", undefined, never)!;
  const want: UpstreamProxy = { host: "10.0.0.1", port: 3128, authorization: basic("u:p") };
  assert.deepEqual(choose(http("a.example")), want);
  assert.deepEqual(choose(https("b.example", 8443)), want);
  // The environment is ignored when a proxy is given.
  const fixed = upstreamChooser("http://p:1", { http: "http://q:2", noProxy: "*" }, never)!;
  assert.deepEqual(fixed(http("a.example")), { host: "p", port: 1 });
  // Nothing configured: no chooser at all.
  assert.equal(upstreamChooser(undefined, undefined, never), undefined);
  assert.equal(upstreamChooser(undefined, {}, never), undefined);
  assert.equal(upstreamChooser(undefined, { http: "", https: "", noProxy: "x" }, never), undefined);
  // A bad URL throws.
  assert.throws(() => upstreamChooser("ftp://p:1", undefined, never), /only http:\/\//);
  assert.throws(() => upstreamChooser(undefined, { https: "https://p:1" }, never), /only http/);
});

Deno.test("upstreamChooser: HTTP_PROXY for http origins, HTTPS_PROXY for https ones", () => {
  const both = upstreamChooser(undefined, { http: "http://hp:1", https: "http://sp:2" }, never)!;
  assert.deepEqual(both(http("a.example")), { host: "hp", port: 1 });
  assert.deepEqual(both(https("a.example")), { host: "sp", port: 2 });
  const httpOnly = upstreamChooser(undefined, { http: "http://hp:1" }, never)!;
  assert.deepEqual(httpOnly(http("a.example")), { host: "hp", port: 1 });
  assert.equal(httpOnly(https("a.example")), undefined, "no HTTPS_PROXY: https goes direct");
  const httpsOnly = upstreamChooser(undefined, { https: "http://sp:2" }, never)!;
  assert.equal(httpsOnly(http("a.example")), undefined, "no HTTP_PROXY: http goes direct");
  assert.deepEqual(httpsOnly(https("a.example")), { host: "sp", port: 2 });
});

Deno.test("upstreamChooser: NO_PROXY exact names, .suffix, *.suffix, *, host:port, any case", () => {
  const chooser = (noProxy: string): UpstreamChooser =>
    upstreamChooser(undefined, { http: "http://hp:1", https: "http://sp:2", noProxy }, never)!;
  const direct = (c: UpstreamChooser, o: Origin) => c(o) === undefined;

  const exact = chooser("localhost, internal.example ,127.0.0.1");
  assert.ok(direct(exact, http("localhost")));
  assert.ok(direct(exact, http("LOCALHOST")));
  assert.ok(direct(exact, https("internal.example")));
  assert.ok(direct(exact, http("127.0.0.1", 8080)), "no port in the entry: every port");
  assert.ok(!direct(exact, http("a.internal.example")), "an exact name is not a suffix");
  assert.ok(!direct(exact, http("xinternal.example")));
  assert.ok(!direct(exact, http("127.0.0.2")));

  const dot = chooser(".corp.example");
  assert.ok(direct(dot, http("a.corp.example")));
  assert.ok(direct(dot, http("a.b.corp.example")));
  assert.ok(direct(dot, http("corp.example")), ".corp.example covers corp.example itself");
  assert.ok(!direct(dot, http("xcorp.example")));
  assert.ok(!direct(dot, http("corp.example.org")));

  const star = chooser("*.corp.example");
  assert.ok(direct(star, http("a.corp.example")));
  assert.ok(direct(star, http("corp.example")));
  assert.ok(!direct(star, http("xcorp.example")));

  const all = chooser("*");
  assert.ok(direct(all, http("anything.example")));
  assert.ok(direct(all, https("10.1.2.3", 8443)));

  const ports = chooser("a.example:8080,.b.example:443,[::1]:9000");
  assert.ok(direct(ports, http("a.example", 8080)));
  assert.ok(!direct(ports, http("a.example", 80)));
  assert.ok(direct(ports, https("x.b.example", 443)));
  assert.ok(!direct(ports, http("x.b.example", 80)));
  assert.ok(direct(ports, http("::1", 9000)));
  assert.ok(!direct(ports, http("::1", 9001)));

  const upper = chooser("Internal.EXAMPLE");
  assert.ok(direct(upper, http("internal.example")));

  // Empty entries are ignored, not "match everything".
  const empty = chooser(" , ,");
  assert.ok(!direct(empty, http("a.example")));
  assert.deepEqual(empty(http("a.example")), { host: "hp", port: 1 });
});

Deno.test({
  name: "upstreamChooser: NO_PROXY lists IPv6 addresses without brackets (::1, as hoard env does)",
  fn: () => {
    const c = upstreamChooser(
      undefined,
      { http: "http://hp:1", noProxy: "localhost,127.0.0.1,::1" },
      never,
    )!;
    assert.equal(c(http("::1", 8080)), undefined);
    const full = upstreamChooser(undefined, { http: "http://hp:1", noProxy: "fd00::2" }, never)!;
    assert.equal(full(http("fd00::2")), undefined);
  },
});

Deno.test("upstreamChooser: a proxy that is hoard itself is never used", () => {
  const isSelf = (host: string, port: number) => host === "127.0.0.1" && port === 8080;
  assert.equal(upstreamChooser("http://127.0.0.1:8080", undefined, isSelf), undefined);
  // Another port of the same host is a different proxy.
  assert.deepEqual(
    upstreamChooser("http://127.0.0.1:8081", undefined, isSelf)!(http("a.example")),
    { host: "127.0.0.1", port: 8081 },
  );
  // Both environment proxies are hoard: nothing to choose.
  assert.equal(
    upstreamChooser(
      undefined,
      { http: "http://127.0.0.1:8080", https: "127.0.0.1:8080" },
      isSelf,
    ),
    undefined,
  );
  // Only one is: that scheme goes direct, the other through its proxy.
  const c = upstreamChooser(
    undefined,
    { http: "http://127.0.0.1:8080", https: "http://corp:3128" },
    isSelf,
  )!;
  assert.equal(c(http("a.example")), undefined);
  assert.deepEqual(c(https("a.example")), { host: "corp", port: 3128 });
  // isSelf sees the parsed host and port.
  const seen: [string, number][] = [];
  upstreamChooser("http://u:p@Proxy.Corp", undefined, (h, p) => (seen.push([h, p]), false));
  assert.deepEqual(seen, [["proxy.corp", 80]]);
});

/** A raw proxy that answers the CONNECT head with `answer` and records what it got. */
function rawProxy(answer: string) {
  return startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    await writeText(conn, answer);
    // Keep the connection until the client closes it.
    await readUntil(/$^/);
  });
}

Deno.test("connectThrough: CONNECT with Host and Proxy-Authorization, nothing past the head read", async () => {
  await using proxy = rawProxy("HTTP/1.1 200 Connection established\r\n\r\nTUNNEL-BYTES");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    const up = { host: "127.0.0.1", port: proxy.port, authorization: basic("u:p") };
    await connectThrough(conn, up, https("registry.example", 443));
    assert.equal(
      proxy.received[0],
      "CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n" +
        `Proxy-Authorization: ${basic("u:p")}\r\n\r\n`,
    );
    // The bytes after the 200 head are the tunnel's: still there to read.
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), "TUNNEL-BYTES");
  } finally {
    conn.close();
  }
});

Deno.test("connectThrough: an IPv6 origin is bracketed; no credentials, no Proxy-Authorization", async () => {
  await using proxy = rawProxy("HTTP/1.1 200 OK\r\n\r\n");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    await connectThrough(conn, { host: "127.0.0.1", port: proxy.port }, https("::1", 8443));
    assert.equal(proxy.received[0], "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
  } finally {
    conn.close();
  }
});

Deno.test("connectThrough: a refusal is a 502 naming the proxy and its status", async () => {
  const cases: [string, RegExp, string][] = [
    [
      "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
      /^upstream proxy 127\.0\.0\.1:\d+ answered CONNECT a\.example:443 with 407 Proxy Authentication Required$/,
      "destination_unavailable",
    ],
    [
      "HTTP/1.1 403 \r\n\r\n",
      /^upstream proxy 127\.0\.0\.1:\d+ answered CONNECT a\.example:443 with 403$/,
      "destination_unavailable",
    ],
    ["SSH-2.0-OpenSSH\r\n\r\n", /sent a bad answer to CONNECT$/, "http_protocol_error"],
    ["", /closed the connection$/, "connection_terminated"],
  ];
  for (const [answer, message, type] of cases) {
    await using proxy = startRawOrigin(async (conn, readUntil) => {
      await readUntil(/\r\n\r\n/);
      if (answer !== "") await writeText(conn, answer);
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    try {
      await assert.rejects(
        connectThrough(conn, { host: "127.0.0.1", port: proxy.port }, https("a.example")),
        (err: unknown) => {
          assert.ok(err instanceof ProxyError, `${err}`);
          assert.equal(err.status, 502);
          assert.equal(err.type, type);
          assert.match(err.message, message);
          return true;
        },
      );
    } finally {
      conn.close();
    }
  }
});
