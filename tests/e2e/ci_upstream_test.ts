/**
 * An upstream proxy end to end: hoard B reaches origins through hoard A (the
 * "corporate proxy") — plain HTTP in absolute-form, intercepted HTTPS and
 * plain tunnels through a CONNECT on A — and through raw proxies that check
 * the credentials sent and refuse CONNECT.
 */

import assert from "node:assert/strict";
import { get } from "../_helpers/cache_origin.ts";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { startOrigin, startRawHttpOrigin, startRawOrigin, writeText } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { waitFor } from "../_helpers/sockets.ts";
import { makeCert } from "../_helpers/tls.ts";
import { withEnv } from "./ci_helpers.ts";

const LIMIT = ["--max-time", "10"];

/** Log lines of a test proxy matching `re`. */
const linesOf = (logs: string[], re: RegExp) => logs.filter((l) => re.test(l));

Deno.test("upstream proxy: plain HTTP, intercepted HTTPS and a plain tunnel all go through it", async () => {
  const cert = await makeCert();
  await using tlsOrigin = startOrigin(
    (req) =>
      new Response(`secure ${new URL(req.url).pathname}\n`, {
        headers: { "cache-control": "max-age=60" },
      }),
    cert,
  );
  await using plainOrigin = startOrigin(() =>
    new Response("plain body\n", { headers: { "cache-control": "max-age=60" } })
  );
  await using a = await startTestProxy({ connectPorts: [tlsOrigin.port] });
  const b = await startTestProxy({
    upstreamProxy: a.url,
    intercept: ["localhost"],
    upstreamCaCerts: [cert.cert],
    connectPorts: [tlsOrigin.port],
  });
  try {
    // Plain HTTP: B sends the absolute-form request to A, which fetches it.
    const plainUrl = `${plainOrigin.url}/file.txt`;
    const plain = await get(b, plainUrl);
    assert.equal(plain.status, 200);
    assert.equal(plain.text, "plain body\n");
    assert.equal(plainOrigin.requests.length, 1);
    assert.equal(plainOrigin.requests[0]!.headers.get("via"), "1.1 hoard, 1.1 hoard");
    assert.equal(
      linesOf(a.logs, new RegExp(` GET ${plainUrl} 200 11B `)).length,
      1,
      a.logs.join("\n"),
    );
    // B's cache works as usual: the second request reaches neither A nor the origin.
    // Cache-Status lists A's entry (stored with the response), then B's own (RFC 9211 §2).
    const again = await get(b, plainUrl);
    assert.equal(again.text, "plain body\n");
    assert.match(
      again.headers["cache-status"] ?? "",
      /^hoard; fwd=uri-miss; stored\nhoard; hit; ttl=\d+$/,
    );
    assert.equal(plainOrigin.requests.length, 1);
    assert.equal(linesOf(a.logs, / GET /).length, 1);

    // HTTPS intercepted by B: B opens TLS to the origin inside a CONNECT on A.
    const caFile = `${b.cacheDir}/ca/ca.pem`;
    const secureUrl = `https://localhost:${tlsOrigin.port}/secure.bin`;
    const secure = await get(b, secureUrl, "--cacert", caFile);
    assert.equal(secure.status, 200);
    assert.equal(secure.text, "secure /secure.bin\n");
    assert.equal(secure.headers["cache-status"], "hoard; fwd=uri-miss; stored");
    assert.equal(tlsOrigin.requests.length, 1);
    assert.equal(tlsOrigin.requests[0]!.headers.get("via"), "1.1 hoard", "A saw only bytes");

    // Not intercepted by B (127.0.0.1): a plain tunnel through A to the origin.
    const originCert = `${b.cacheDir}/origin.pem`;
    await Deno.writeTextFile(originCert, cert.cert);
    const tunnelled = await curl([
      ...LIMIT,
      "-x",
      b.url,
      "--cacert",
      originCert,
      `https://127.0.0.1:${tlsOrigin.port}/tunnelled`,
    ]);
    assert.equal(tunnelled.code, 0, tunnelled.stderr);
    assert.equal(tunnelled.text, "secure /tunnelled\n");
    assert.equal(tunnelled.headers["via"], undefined, "nobody decrypted it");
    assert.equal(tlsOrigin.requests.length, 2);
    await waitFor(
      () =>
        linesOf(a.logs, new RegExp(` CONNECT 127\\.0\\.0\\.1:${tlsOrigin.port} 200 `)).length === 1,
      "A to log the tunnel",
    );
    // Each proxy logs a tunnel when it closes, which may come after curl is done.
    await waitFor(
      () =>
        linesOf(b.logs, new RegExp(` CONNECT 127\\.0\\.0\\.1:${tlsOrigin.port} 200 .* tunnel$`))
          .length === 1,
      "B to log the tunnel",
    );
  } finally {
    await b.close();
  }
  // B's pooled connection to the origin was a tunnel on A: logged once B closed it.
  await waitFor(
    () => linesOf(a.logs, new RegExp(` CONNECT localhost:${tlsOrigin.port} 200 `)).length === 1,
    `A to log B's CONNECT:\n${a.logs.join("\n")}`,
  );
  assert.equal(linesOf(a.logs, / CONNECT /).length, 2);
});

/** A raw proxy that records request heads and answers each with a small 200. */
function recordingProxy() {
  return startRawHttpOrigin(() =>
    "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nCache-Control: max-age=60\r\n\r\nfrom upstream\n"
  );
}

Deno.test("upstream proxy credentials: Proxy-Authorization on every request, none to the client's origin", async () => {
  await using upstream = recordingProxy();
  await using b = await startTestProxy({
    upstreamProxy: `http://u:p%40ss@127.0.0.1:${upstream.port}`,
  });
  // The host never resolves: only the upstream proxy is ever connected to.
  const r = await get(b, "http://registry.invalid/pkg/meta?x=1");
  assert.equal(r.status, 200);
  assert.equal(r.text, "from upstream\n");
  const r2 = await get(b, "http://registry.invalid:8080/other");
  assert.equal(r2.text, "from upstream\n");
  assert.equal(upstream.heads.length, 2);
  const [first, second] = upstream.heads as [string, string];
  const lines = first.split("\r\n");
  assert.equal(lines[0], "GET http://registry.invalid/pkg/meta?x=1 HTTP/1.1");
  assert.equal(lines[1], "Host: registry.invalid");
  const auth = `Proxy-Authorization: Basic ${btoa("u:p@ss")}`;
  assert.equal(lines.filter((l) => l === auth).length, 1, first);
  assert.equal(second.split("\r\n")[0], "GET http://registry.invalid:8080/other HTTP/1.1");
  assert.ok(second.split("\r\n").includes(auth), second);
});

Deno.test("upstream proxy from the environment: HTTP_PROXY used, NO_PROXY respected", async () => {
  await using upstream = recordingProxy();
  await using direct = startOrigin(() => new Response("direct\n"));
  await using b = await withEnv({
    HTTP_PROXY: `http://127.0.0.1:${upstream.port}`,
    http_proxy: undefined,
    HTTPS_PROXY: undefined,
    https_proxy: undefined,
    NO_PROXY: `localhost,.internal.invalid,127.0.0.1:${direct.port}`,
    no_proxy: undefined,
  }, () => startTestProxy({ useEnvProxy: true }));
  const via = await get(b, "http://registry.invalid/a");
  assert.equal(via.text, "from upstream\n");
  assert.equal(upstream.heads.length, 1);
  assert.match(upstream.heads[0]!, /^GET http:\/\/registry\.invalid\/a HTTP\/1\.1\r\n/);
  assert.doesNotMatch(upstream.heads[0]!, /Proxy-Authorization/i);
  // NO_PROXY host:port: straight to the origin.
  const d = await get(b, `${direct.url}/b`);
  assert.equal(d.text, "direct\n");
  assert.equal(direct.requests.length, 1);
  assert.equal(upstream.heads.length, 1);
});

Deno.test({
  name: "upstream proxy from the environment: a plain CONNECT tunnel uses HTTPS_PROXY",
  fn: async () => {
    await using upstream = startRawOrigin(async (conn, readUntil) => {
      await readUntil(/\r\n\r\n/);
      await writeText(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    });
    await using b = await withEnv({
      HTTP_PROXY: undefined,
      http_proxy: undefined,
      HTTPS_PROXY: `http://127.0.0.1:${upstream.port}`,
      https_proxy: undefined,
      NO_PROXY: undefined,
      no_proxy: undefined,
    }, () => startTestProxy({ useEnvProxy: true }));
    await rawExchange(
      b.port,
      "CONNECT registry.invalid:443 HTTP/1.1\r\nHost: registry.invalid:443\r\n\r\n",
      3000,
    );
    assert.equal(upstream.connections, 1, "the tunnel went to HTTPS_PROXY");
    assert.match(upstream.received[0] ?? "", /^CONNECT registry\.invalid:443 HTTP\/1\.1\r\n/);
  },
});

Deno.test("upstream proxy that refuses CONNECT with 407: the client gets a 502 naming it and the status", async () => {
  await using upstream = startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    await writeText(
      conn,
      "HTTP/1.1 407 Proxy Authentication Required\r\n" +
        'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n',
    );
  });
  await using b = await startTestProxy({
    upstreamProxy: `http://127.0.0.1:${upstream.port}`,
    intercept: ["intercepted.invalid"],
  });
  const why =
    `upstream proxy 127.0.0.1:${upstream.port} answered CONNECT registry.invalid:443 with 407 Proxy Authentication Required`;
  // A plain tunnel.
  const r = await rawExchange(
    b.port,
    "CONNECT registry.invalid:443 HTTP/1.1\r\nHost: registry.invalid:443\r\n\r\n",
  );
  assert.match(r.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.ok(r.text.includes(`\r\n\r\n502 Bad Gateway: ${why}\n`), r.text);
  assert.match(r.text, /\r\nProxy-Status: hoard; error=destination_unavailable/);
  // hoard's client is not asked for credentials meant for hoard's upstream.
  assert.doesNotMatch(r.text, /Proxy-Authenticate/i);
  assert.equal(upstream.connections, 1);
  assert.match(upstream.received[0]!, /^CONNECT registry\.invalid:443 HTTP\/1\.1\r\n/);

  // An https request hoard intercepts: the same 502, inside the TLS tunnel.
  const ca = `${b.cacheDir}/ca/ca.pem`;
  const s = await curl([...LIMIT, "-x", b.url, "--cacert", ca, "https://intercepted.invalid/x"]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.status, 502);
  assert.equal(
    s.text,
    `502 Bad Gateway: upstream proxy 127.0.0.1:${upstream.port} answered CONNECT intercepted.invalid:443 with 407 Proxy Authentication Required\n`,
  );
});

Deno.test("HTTP_PROXY naming hoard itself is ignored: requests go direct instead of looping", async () => {
  // A free port, known before hoard starts on it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  await using origin = startOrigin(() => new Response("direct\n"));
  await using b = await withEnv({
    HTTP_PROXY: `http://localhost:${port}`,
    http_proxy: undefined,
    HTTPS_PROXY: `http://127.0.0.1:${port}`,
    https_proxy: undefined,
    NO_PROXY: undefined,
    no_proxy: undefined,
  }, () => startTestProxy({ useEnvProxy: true, port }));
  const r = await get(b, `${origin.url}/x`);
  assert.equal(r.status, 200);
  assert.equal(r.text, "direct\n");
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.headers.get("via"), "1.1 hoard", "through hoard once");
  assert.equal(b.logs.filter((l) => / GET /.test(l)).length, 1);
});
