/**
 * TLS interception end to end: real clients (curl, Node, Deno's fetch, a
 * shell that evals `hoard env`) reach https origins through hoard, which
 * decrypts the tunnel with a leaf signed by its CA and caches what is inside.
 * Each test checks the bytes, the origin's request count and Cache-Status.
 */

import assert from "node:assert/strict";
import { cacheSettled, get, pseudoRandom, sha256 } from "../_helpers/cache_origin.ts";
import { curl, runNode } from "../_helpers/clients.ts";
import { startOrigin, type TestOrigin } from "../_helpers/origin.ts";
import { runHoard, startHoardProcess } from "../_helpers/process.ts";
import { startTestProxy, type TestProxy } from "../_helpers/proxy.ts";
import { readToEnd, waitFor, writeAll } from "../_helpers/sockets.ts";
import { makeCert, type TestCert } from "../_helpers/tls.ts";

// So that a proxy which stops answering fails a test instead of hanging it.
const LIMIT = ["--max-time", "20"];
const MOD = new URL("../../mod.ts", import.meta.url).pathname;

const MISS_STORED = /^hoard; fwd=uri-miss; stored$/;
const HIT = /^hoard; hit; ttl=\d+$/;
const FRESH = { "cache-control": "max-age=60" };

/** 300 KiB of deterministic binary data and its SHA-256, computed once by hand. */
const BIG = pseudoRandom(300 * 1024, 0x1badb002);
const BIG_SHA256 = "f60b3905b2d6dd5c5daa6e2e074414ed951377b0df7e0c8932f55a2fd9727e10";

/** A temp directory (for PEM files) removed at the end of the test. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "hoard-intercept-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Everything a test of interception needs: an https origin, hoard intercepting it, its CA. */
interface Setup extends AsyncDisposable {
  origin: TestOrigin;
  proxy: TestProxy;
  /** The origin's self-signed certificate. */
  cert: TestCert;
  /** A file holding the origin's certificate (what a client trusts without hoard). */
  originCertFile: string;
  /** hoard's CA certificate file (in the proxy's cache directory). */
  caFile: string;
  /** `https://localhost:ORIGIN`. */
  base: string;
}

/** How {@linkcode setup} configures hoard. */
interface SetupOptions {
  /** Hosts to intercept. @default {["*"]} */
  intercept?: string[];
  /** Whether hoard trusts the origin's certificate. @default {true} */
  trustOrigin?: boolean;
  /** hoard's headerTimeoutMs, which also bounds the client's TLS handshake. */
  headerTimeoutMs?: number;
  /** hoard's log level. @default {"info"} */
  logLevel?: "debug" | "info";
}

/**
 * Starts an https origin (cert for localhost/127.0.0.1) and a proxy that may
 * CONNECT to its port, intercepting `intercept` and trusting the origin's
 * certificate unless `trustOrigin` is false.
 */
async function setup(
  handler: (req: Request) => Response | Promise<Response>,
  { intercept = ["*"], trustOrigin = true, headerTimeoutMs, logLevel }: SetupOptions = {},
): Promise<Setup> {
  const cert = await makeCert();
  const origin = startOrigin(handler, cert);
  const proxy = await startTestProxy({
    intercept,
    connectPorts: [origin.port],
    upstreamCaCerts: trustOrigin ? [cert.cert] : [],
    ...(headerTimeoutMs === undefined ? {} : { headerTimeoutMs }),
    ...(logLevel === undefined ? {} : { logLevel }),
  });
  const originCertFile = `${proxy.cacheDir}/origin-cert.pem`;
  await Deno.writeTextFile(originCertFile, cert.cert);
  return {
    origin,
    proxy,
    cert,
    originCertFile,
    caFile: `${proxy.cacheDir}/ca/ca.pem`,
    base: `https://localhost:${origin.port}`,
    // The origin first: a plain tunnel ends only when its origin side does.
    [Symbol.asyncDispose]: async () => {
      await origin.close();
      await proxy.close();
    },
  };
}

/** Log lines of `proxy` that match `re`. */
const linesOf = (proxy: TestProxy, re: RegExp) => proxy.logs.filter((l) => re.test(l));

Deno.test("curl: https through interception is cached — miss then hit, same bytes, one origin request", async () => {
  await using s = await setup(() =>
    new Response(BIG, { headers: { ...FRESH, "content-type": "application/octet-stream" } })
  );
  const url = `${s.base}/dist/pkg-1.0.tgz`;

  const first = await get(s.proxy, url, "--cacert", s.caFile);
  assert.equal(first.status, 200);
  assert.match(first.headers["cache-status"] ?? "", MISS_STORED);
  assert.equal(first.headers["via"], "1.1 hoard");
  assert.equal(first.body.length, BIG.length);
  assert.equal(sha256(first.body), BIG_SHA256);

  const second = await get(s.proxy, url, "--cacert", s.caFile);
  assert.equal(second.status, 200);
  assert.match(second.headers["cache-status"] ?? "", HIT);
  assert.equal(second.headers["content-length"], String(BIG.length));
  assert.equal(sha256(second.body), BIG_SHA256);
  assert.deepEqual(second.body, first.body);

  assert.equal(s.origin.requests.length, 1);
  assert.equal(s.origin.requests[0]!.path, "/dist/pkg-1.0.tgz");
  assert.equal(s.origin.requests[0]!.headers.get("host"), `localhost:${s.origin.port}`);
  // The stored entry is keyed by the https URL, and each request is logged as such.
  const meta = await findMeta(s.proxy.cacheDir);
  assert.deepEqual(meta.map((m) => m.key), [url]);
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 2, "two CONNECT log lines");
  assert.equal(linesOf(s.proxy, new RegExp(` GET ${url} 200 ${BIG.length}B \\S+ miss$`)).length, 1);
  assert.equal(linesOf(s.proxy, new RegExp(` GET ${url} 200 ${BIG.length}B \\S+ hit$`)).length, 1);
  assert.equal(
    linesOf(s.proxy, new RegExp(` CONNECT localhost:${s.origin.port} 200 \\S+ \\S+ intercept$`))
      .length,
    2,
  );
});

/** The metadata files of a cache directory, parsed (`key`, the URL, at least). */
async function findMeta(dir: string): Promise<{ key: string }[]> {
  const out: { key: string }[] = [];
  for await (const shard of Deno.readDir(`${dir}/data`)) {
    for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
      if (f.name.endsWith(".json")) {
        out.push(JSON.parse(await Deno.readTextFile(`${dir}/data/${shard.name}/${f.name}`)));
      }
    }
  }
  return out;
}

Deno.test("curl: two requests over one intercepted tunnel (keep-alive inside TLS)", async () => {
  await using s = await setup((req) => {
    const path = new URL(req.url).pathname;
    return new Response(`body of ${path};`, { headers: FRESH });
  });
  const out = await new Deno.Command("curl", {
    args: [
      ...LIMIT,
      "-sS",
      "-v",
      "-x",
      s.proxy.url,
      "--cacert",
      s.caFile,
      `${s.base}/ka/one`,
      `${s.base}/ka/two?q=1`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.equal(new TextDecoder().decode(out.stdout), "body of /ka/one;body of /ka/two;");
  // One CONNECT, one TLS handshake, and the second request reused the connection.
  assert.equal(stderr.match(/> CONNECT /g)?.length, 1, stderr);
  assert.equal(stderr.match(/SSL connection using/g)?.length, 1, stderr);
  assert.match(stderr, /Re-using existing connection/);
  assert.match(stderr, /issuer: CN=hoard CA/);

  assert.deepEqual(s.origin.requests.map((r) => r.path), ["/ka/one", "/ka/two?q=1"]);
  for (const r of s.origin.requests) {
    assert.equal(r.headers.get("host"), `localhost:${s.origin.port}`);
    assert.equal(r.headers.get("via"), "1.1 hoard");
  }
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 1, "the CONNECT log line");
  assert.equal(
    linesOf(s.proxy, / GET https:\/\/localhost:\d+\/ka\/(one|two\?q=1) 200 .* miss$/).length,
    2,
  );
});

Deno.test("curl: a CONNECT to an IP address (no SNI) gets a leaf with that IP and is cached", async () => {
  await using s = await setup(() => new Response("by address", { headers: FRESH }));
  const url = `https://127.0.0.1:${s.origin.port}/ip`;
  const first = await get(s.proxy, url, "-v", "--cacert", s.caFile);
  assert.equal(first.text, "by address");
  assert.match(first.stderr, /issuer: CN=hoard CA/);
  assert.match(first.stderr, /subject: CN=127\.0\.0\.1/);
  assert.match(first.headers["cache-status"] ?? "", MISS_STORED);
  const second = await get(s.proxy, url, "--cacert", s.caFile);
  assert.equal(second.text, "by address");
  assert.match(second.headers["cache-status"] ?? "", HIT);
  assert.equal(s.origin.requests.length, 1);
  assert.equal(s.origin.requests[0]!.headers.get("host"), `127.0.0.1:${s.origin.port}`);
});

Deno.test("curl: large bodies both ways inside the tunnel (upload relayed, 8 MiB download)", async () => {
  const download = pseudoRandom(8 * 1024 * 1024, 0xfeed);
  await using s = await setup(async (req) => {
    if (req.method === "POST") {
      const got = new Uint8Array(await req.arrayBuffer());
      return new Response(`${got.length} ${sha256(got)}`);
    }
    return new Response(download, { headers: FRESH });
  });
  await using tmp = await tempDir();
  const upload = pseudoRandom(3 * 1024 * 1024 + 7, 0xbeef);
  await Deno.writeFile(`${tmp.path}/up.bin`, upload);
  const post = await get(
    s.proxy,
    `${s.base}/upload`,
    "--cacert",
    s.caFile,
    "--data-binary",
    `@${tmp.path}/up.bin`,
  );
  assert.equal(post.status, 200);
  assert.equal(post.text, `${upload.length} ${sha256(upload)}`);
  for (const status of [MISS_STORED, HIT]) {
    const r = await get(s.proxy, `${s.base}/big.bin`, "--cacert", s.caFile);
    assert.match(r.headers["cache-status"] ?? "", status);
    assert.equal(r.body.length, download.length);
    assert.equal(sha256(r.body), sha256(download));
  }
  assert.deepEqual(s.origin.requests.map((r) => `${r.method} ${r.path}`), [
    "POST /upload",
    "GET /big.bin",
  ]);
});

function nodeAvailable(): boolean {
  try {
    return new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false; // not installed
  }
}
const NODE = nodeAvailable();

// A CONNECT tunnel opened by hand, then https over tls.connect on that socket:
// Node verifies the leaf against its roots plus NODE_EXTRA_CA_CERTS.
const NODE_CLIENT = `
const http = require("node:http");
const https = require("node:https");
const tls = require("node:tls");
const crypto = require("node:crypto");
const fail = (e) => { console.error(String(e && e.stack || e)); process.exit(2); };
const port = Number(process.env.ORIGIN_PORT);
const req = http.request({
  host: "127.0.0.1",
  port: Number(process.env.PROXY_PORT),
  method: "CONNECT",
  path: "localhost:" + port,
});
req.on("connect", (res, socket) => {
  if (res.statusCode !== 200) fail("CONNECT answered " + res.statusCode);
  const secure = tls.connect({ socket, servername: "localhost" });
  secure.on("error", fail);
  https.get({
    host: "localhost",
    port,
    path: process.env.TARGET_PATH,
    createConnection: () => secure,
  }, (r) => {
    const hash = crypto.createHash("sha256");
    let bytes = 0;
    r.on("data", (c) => { hash.update(c); bytes += c.length; });
    r.on("end", () => {
      const line = JSON.stringify({
        status: r.statusCode,
        cacheStatus: r.headers["cache-status"] ?? null,
        issuer: secure.getPeerCertificate().issuer.CN,
        bytes,
        sha256: hash.digest("hex"),
      });
      secure.end();
      process.stdout.write(line + "\\n", () => process.exit(0));
    });
  }).on("error", fail);
});
req.on("error", fail);
req.end();
`;

Deno.test({
  name: `node: CONNECT + tls.connect + https.get trusting NODE_EXTRA_CA_CERTS; second run is a hit${
    NODE ? "" : " (skipped: no `node` on PATH)"
  }`,
  ignore: !NODE,
  async fn() {
    await using s = await setup(() => new Response(BIG, { headers: FRESH }));
    const env = {
      PROXY_PORT: String(s.proxy.port),
      ORIGIN_PORT: String(s.origin.port),
      TARGET_PATH: "/node/blob.bin",
    };
    // Without hoard's CA Node refuses the leaf: the CA is what makes it work.
    const refused = await runNode(NODE_CLIENT, env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /certificate|UNABLE_TO|self.signed/i);
    assert.equal(s.origin.requests.length, 0);

    const results = [];
    for (let i = 0; i < 2; i++) {
      const r = await runNode(NODE_CLIENT, { ...env, NODE_EXTRA_CA_CERTS: s.caFile });
      assert.equal(r.code, 0, r.err);
      results.push(JSON.parse(r.out));
      await cacheSettled(s.proxy.cacheDir);
    }
    const [first, second] = results;
    assert.equal(first.status, 200);
    assert.match(first.cacheStatus, MISS_STORED);
    assert.match(first.issuer, /^hoard CA /);
    assert.equal(second.status, 200);
    assert.match(second.cacheStatus, HIT);
    for (const r of results) {
      assert.equal(r.bytes, BIG.length);
      assert.equal(r.sha256, BIG_SHA256);
    }
    assert.equal(s.origin.requests.length, 1);
    assert.equal(s.origin.requests[0]!.path, "/node/blob.bin");
  },
});

Deno.test("deno: fetch with createHttpClient({proxy, caCerts: [hoard CA]}); second call a hit", async () => {
  await using s = await setup(() => new Response(BIG, { headers: FRESH }));
  const caPem = await Deno.readTextFile(s.caFile);
  const url = `${s.base}/deno/blob.bin`;
  {
    // Without the CA the handshake fails (Deno's roots do not hold hoard's CA).
    using stranger = Deno.createHttpClient({ proxy: { url: s.proxy.url } });
    await assert.rejects(fetch(url, { client: stranger }));
  }
  using client = Deno.createHttpClient({ proxy: { url: s.proxy.url }, caCerts: [caPem] });
  const first = await fetch(url, { client });
  const firstBody = new Uint8Array(await first.arrayBuffer());
  assert.equal(first.status, 200);
  assert.match(first.headers.get("cache-status") ?? "", MISS_STORED);
  assert.equal(sha256(firstBody), BIG_SHA256);
  await cacheSettled(s.proxy.cacheDir);

  const second = await fetch(url, { client });
  const secondBody = new Uint8Array(await second.arrayBuffer());
  assert.equal(second.status, 200);
  assert.match(second.headers.get("cache-status") ?? "", HIT);
  assert.equal(sha256(secondBody), BIG_SHA256);
  assert.equal(s.origin.requests.length, 1);
});

/** The test's environment minus anything that points a client at a proxy or at CA files. */
function cleanEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (/proxy|ca_bundle|cainfo|ssl_cert|extra_ca|deno_cert|pip_cert/i.test(name)) delete env[name];
  }
  return env;
}

Deno.test("hoard env: eval its output in bash and plain `curl https://...` is intercepted and cached", async () => {
  await using tmp = await tempDir();
  const cert = await makeCert();
  await using origin = startOrigin(
    (req) => new Response(`env says ${new URL(req.url).pathname}\n`, { headers: FRESH }),
    cert,
  );
  const certFile = `${tmp.path}/origin.pem`;
  await Deno.writeTextFile(certFile, cert.cert);
  const cacheDir = `${tmp.path}/cache`;
  await using child = await startHoardProcess([
    "--intercept",
    "--cache-dir",
    cacheDir,
    "--connect-ports",
    String(origin.port),
    "--upstream-ca",
    certFile,
  ]);
  const caBefore = await Deno.readTextFile(`${cacheDir}/ca/ca.pem`);

  // `hoard env` with the same --port and --cache-dir, evaluated by the shell; curl gets no flags
  // but -D - (to show the headers).
  const envCommand =
    `${Deno.execPath()} run -A ${MOD} env --port ${child.port} --cache-dir ${cacheDir} --no-proxy ''`;
  const script = `set -e; eval "$(${envCommand})"; curl -sS -D - ${
    LIMIT.join(" ")
  } https://localhost:${origin.port}/x`;
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const out = await new Deno.Command("bash", {
      args: ["-c", script],
      clearEnv: true,
      env: cleanEnv(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const d = new TextDecoder();
    assert.equal(out.code, 0, d.decode(out.stderr));
    // The CONNECT's answer, then the response's head, then its body.
    const [connect, head, body, ...rest] = d.decode(out.stdout).split("\r\n\r\n");
    assert.equal(connect, "HTTP/1.1 200 Connection established");
    assert.deepEqual(rest, []);
    runs.push({ head: head ?? "", body });
    await cacheSettled(cacheDir);
  }
  for (const r of runs) {
    assert.match(r.head, /^HTTP\/1\.1 200 /);
    assert.equal(r.body, "env says /x\n");
  }
  assert.match(runs[0]!.head, /\r\ncache-status: hoard; fwd=uri-miss; stored(\r\n|$)/i);
  assert.match(runs[1]!.head, /\r\ncache-status: hoard; hit; ttl=\d+(\r\n|$)/i);
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.headers.get("host"), `localhost:${origin.port}`);
  // The child logged both requests inside its tunnels; env used (and kept) the child's CA.
  await waitFor(
    () => (child.stderr().match(/ CONNECT localhost:\d+ 200 .* intercept\n/g) ?? []).length === 2,
    "two intercepted CONNECT lines in the child's log",
  );
  assert.match(
    child.stderr(),
    new RegExp(` GET https://localhost:${origin.port}/x 200 12B \\S+ hit\\n`),
  );
  assert.equal(await Deno.readTextFile(`${cacheDir}/ca/ca.pem`), caBefore);
  assert.ok((await Deno.stat(`${cacheDir}/ca/bundle.pem`)).isFile);
});

Deno.test("origin with a certificate hoard does not trust: 502 naming the certificate, Proxy-Status, a log line", async () => {
  await using s = await setup(() => new Response("must not be reached"), { trustOrigin: false });
  const url = `${s.base}/untrusted`;
  for (let i = 0; i < 2; i++) {
    const r = await curl([...LIMIT, "-x", s.proxy.url, "--cacert", s.caFile, url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 502);
    assert.match(r.text, /certificate/i);
    assert.match(r.text, new RegExp(`localhost:${s.origin.port}`));
    assert.doesNotMatch(r.text.trimEnd(), /\n/, "a one-line body");
    assert.match(r.headers["proxy-status"] ?? "", /^hoard; error=tls_certificate_error/);
    assert.doesNotMatch(r.headers["cache-status"] ?? "", /hit/);
  }
  assert.equal(s.origin.requests.length, 0);
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 2, "two CONNECT lines");
  assert.equal(
    linesOf(s.proxy, new RegExp(` GET ${url} 502 .* error=tls_certificate_error$`)).length,
    2,
  );
});

Deno.test("a host not in --intercept stays a plain tunnel: the origin's own certificate, nothing cached", async () => {
  await using s = await setup(
    (req) => new Response(`plain tunnel ${new URL(req.url).pathname}`, { headers: FRESH }),
    { intercept: ["other.example"] },
  );
  const url = `${s.base}/through`;
  // Trusting only the origin's certificate works: the certificate is the origin's...
  const r1 = await curl([...LIMIT, "-v", "-x", s.proxy.url, "--cacert", s.originCertFile, url]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r1.text, "plain tunnel /through");
  assert.match(r1.stderr, /issuer: CN=localhost/);
  assert.doesNotMatch(r1.stderr, /hoard CA/);
  assert.equal(r1.headers["cache-status"], undefined);
  assert.equal(r1.headers["via"], undefined, "hoard did not see the response");
  // ...and trusting only hoard's CA (which exists, interception being on) fails.
  const r2 = await curl([...LIMIT, "-x", s.proxy.url, "--cacert", s.caFile, url]);
  assert.equal(r2.code, 60, `curl should fail certificate verification: ${r2.stderr}`);
  // Nothing cached: the next request reaches the origin again.
  const r3 = await curl([...LIMIT, "-x", s.proxy.url, "--cacert", s.originCertFile, url]);
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal(r3.text, "plain tunnel /through");
  assert.equal(r3.headers["cache-status"], undefined);
  assert.equal(s.origin.requests.length, 2);
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 3, "three CONNECT lines");
  assert.equal(linesOf(s.proxy, / CONNECT localhost:\d+ 200 .* tunnel/).length, 3);
  assert.equal(linesOf(s.proxy, / GET /).length, 0);
});

/** Reads hoard's answer to a CONNECT and fails unless it is the 200. */
async function readEstablished(conn: Deno.Conn): Promise<void> {
  const established = new Uint8Array(39);
  for (let got = 0; got < established.length;) {
    got += (await conn.read(established.subarray(got))) ?? established.length;
  }
  assert.equal(
    new TextDecoder().decode(established),
    "HTTP/1.1 200 Connection established\r\n\r\n",
  );
}

/** A TLS connection to the origin of `s` through hoard, trusting hoard's CA, as an ordinary client opens it. */
async function tlsThrough(s: Setup): Promise<Deno.TlsConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.proxy.port });
  await conn.write(new TextEncoder().encode(`CONNECT localhost:${s.origin.port} HTTP/1.1\r\n\r\n`));
  await readEstablished(conn);
  return await Deno.startTls(conn, {
    hostname: "localhost",
    caCerts: [await Deno.readTextFile(s.caFile)],
  });
}

/**
 * Opens a TLS connection to `host` through `proxy` the way a hasty client
 * does: the CONNECT and the ClientHello in one write, before hoard's 200. A
 * local relay between Deno's TLS client and hoard does the sending.
 */
async function hastyTls(proxy: TestProxy, host: string, ca: string): Promise<Deno.TlsConn> {
  using local = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = Deno.connectTls({ hostname: "localhost", port: local.addr.port, caCerts: [ca] });
  const inner = await local.accept();
  const hello = new Uint8Array(16 * 1024);
  const n = (await inner.read(hello))!;
  const upstream = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  const connect = new TextEncoder().encode(`CONNECT ${host} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const first = new Uint8Array(connect.length + n);
  first.set(connect);
  first.set(hello.subarray(0, n), connect.length);
  await upstream.write(first);
  await readEstablished(upstream);
  // Both ways until either side ends.
  const pipe = (from: Deno.Conn, to: Deno.Conn) =>
    from.readable.pipeTo(to.writable).catch(() => {}).finally(() => {
      try {
        from.close();
      } catch {
        // Closed by the other direction.
      }
    });
  pipe(inner, upstream);
  pipe(upstream, inner);
  return await client;
}

Deno.test("TLS on the client's socket; a client that sends its ClientHello before the 200 goes through the relay", async () => {
  await using s = await setup(() => new Response("either way", { headers: FRESH }), {
    logLevel: "debug",
  });
  const relayed = / debug: TLS for localhost:\d+ goes through a loopback relay: the client sent /;
  // An ordinary client waits for the 200: no relay.
  const first = await get(s.proxy, `${s.base}/both`, "--cacert", s.caFile);
  assert.equal(first.status, 200);
  assert.equal(first.text, "either way");
  assert.equal(
    linesOf(s.proxy, / goes through a loopback relay/).length,
    0,
    s.proxy.logs.join("\n"),
  );
  // A hasty one: the same answer, from the cache, through the relay.
  const tls = await hastyTls(
    s.proxy,
    `localhost:${s.origin.port}`,
    await Deno.readTextFile(s.caFile),
  );
  try {
    await tls.write(
      new TextEncoder().encode(
        `GET /both HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      ),
    );
    const text = await readToEnd(tls);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\r\ncache-status: hoard; hit; ttl=\d+\r\n/i);
    assert.ok(text.endsWith("\r\n\r\neither way"), text);
  } finally {
    tls.close();
  }
  assert.equal(linesOf(s.proxy, relayed).length, 1, s.proxy.logs.join("\n"));
  assert.equal(s.origin.requests.length, 1);
});

// What the client sent before it left still reaches the origin; then its end
// must be seen, though it arrived while hoard had stopped reading.
Deno.test("a client that leaves in the middle of an intercepted upload to a slow origin: its request ends", async () => {
  let received = 0;
  await using s = await setup(async (req) => {
    // A slow origin: a piece every 5 ms.
    const reader = req.body!.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
        await new Promise((r) => setTimeout(r, 5));
      }
    } catch {
      // The upload was cut.
    }
    return new Response("stored");
  });
  const tls = await tlsThrough(s);
  await writeAll(
    tls,
    `PUT /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${64 << 20}\r\n\r\n`,
  );
  // 4 MiB of 64, far ahead of the origin, then gone.
  await writeAll(tls, new Uint8Array(4 << 20));
  tls.close();
  // Well before any of hoard's timeouts (a minute).
  await waitFor(() => linesOf(s.proxy, / PUT /).length === 1, "the PUT line", 20_000);
  assert.match(linesOf(s.proxy, / PUT /)[0]!, / error=/);
  assert.ok(received <= 4 << 20, `the origin got ${received} bytes`);
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 1, "the CONNECT line");
});

Deno.test("a client that does not trust hoard's CA fails its handshake; one warning; hoard serves on", async () => {
  await using s = await setup(() => new Response("trusted only", { headers: FRESH }));
  const url = `${s.base}/strict`;
  // curl with the system bundle only.
  const bad = await curl([...LIMIT, "-x", s.proxy.url, url]);
  assert.equal(bad.code, 60, `curl should reject hoard's leaf: ${bad.stderr}`);
  assert.match(bad.stderr, /certificate/i);
  const warning = new RegExp(
    ` warn: TLS handshake with the client for localhost:${s.origin.port} failed: `,
  );
  await waitFor(() => linesOf(s.proxy, warning).length === 1, "the handshake warning");
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 1, "the CONNECT line");
  assert.equal(linesOf(s.proxy, / warn: /).length, 1, s.proxy.logs.join("\n"));
  assert.equal(linesOf(s.proxy, / error: /).length, 0, s.proxy.logs.join("\n"));
  assert.match(linesOf(s.proxy, / CONNECT /)[0]!, /intercept error=tls_handshake$/);
  assert.equal(s.origin.requests.length, 0);

  // A tunnel that carries no TLS at all: one warning, the tunnel closed.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.proxy.port });
  try {
    const w = (t: string) => conn.write(new TextEncoder().encode(t));
    await w(
      `CONNECT localhost:${s.origin.port} HTTP/1.1\r\nHost: localhost:${s.origin.port}\r\n\r\n`,
    );
    await w("GET /strict HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const text = await readToEnd(conn);
    assert.equal(text, "HTTP/1.1 200 Connection established\r\n\r\n");
  } finally {
    conn.close();
  }
  await waitFor(() => linesOf(s.proxy, / warn: /).length === 2, "the second warning");
  assert.match(
    linesOf(s.proxy, / warn: /)[1]!,
    /no TLS ClientHello from the client for localhost:\d+/,
  );

  // A client that trusts the CA is served as before.
  const good = await get(s.proxy, url, "--cacert", s.caFile);
  assert.equal(good.status, 200);
  assert.equal(good.text, "trusted only");
  assert.match(good.headers["cache-status"] ?? "", MISS_STORED);
  assert.equal(s.origin.requests.length, 1);
});

/** A real ClientHello for `hostname` (Deno's client), captured on a raw listener. */
async function captureClientHello(hostname: string): Promise<Uint8Array> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = (async () => {
    const port = (listener.addr as Deno.NetAddr).port;
    const tls = await Deno.startTls(await Deno.connect({ hostname: "127.0.0.1", port }), {
      hostname,
    });
    await tls.handshake().catch(() => {});
    tls.close();
  })();
  const conn = await listener.accept();
  const buf = new Uint8Array(16 * 1024);
  let n = 0;
  try {
    // The whole record: its length is in the 5-byte header.
    while (n < 5 || n < 5 + ((buf[3]! << 8) | buf[4]!)) {
      const got = await conn.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
  } finally {
    conn.close();
    await client;
  }
  return buf.slice(0, n);
}

/**
 * Opens a tunnel through `proxy` to localhost:`port`, sends `hello` and waits
 * for hoard's first TLS bytes: the handshake is then in progress, waiting for
 * the client's next flight.
 */
async function midHandshake(proxy: TestProxy, port: number, hello: Uint8Array): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  await conn.write(new TextEncoder().encode(`CONNECT localhost:${port} HTTP/1.1\r\n\r\n`));
  await conn.write(hello);
  const buf = new Uint8Array(16 * 1024);
  let text = "";
  while (text.length < 45) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += String.fromCharCode(...buf.subarray(0, n));
  }
  assert.match(text, /^HTTP\/1\.1 200 Connection established\r\n\r\n\x16\x03/);
  return conn;
}

/**
 * An intercepting proxy with a long header timeout and a short shutdown grace,
 * a TLS origin, and a ClientHello to start a handshake with.
 */
async function shutdownSetup() {
  const cert = await makeCert();
  const origin = startOrigin(() => new Response("unused"), cert);
  const hello = await captureClientHello("localhost");
  const proxy = await startTestProxy({
    intercept: ["*"],
    connectPorts: [origin.port],
    headerTimeoutMs: 5000,
    shutdownGraceMs: 200,
  });
  /** Closes the proxy; fails unless it took well under the header timeout. */
  const closesQuickly = async () => {
    const started = Date.now();
    await proxy.close();
    const took = Date.now() - started;
    assert.ok(took < 1500, `close took ${took} ms (shutdownGraceMs 200, headerTimeoutMs 5000)`);
  };
  return { origin, hello, proxy, closesQuickly };
}

Deno.test("proxy.close() cuts a tunnel whose client is silent in the middle of its TLS handshake", async () => {
  const { origin, hello, proxy, closesQuickly } = await shutdownSetup();
  await using _origin = origin;
  try {
    const conn = await midHandshake(proxy, origin.port, hello);
    try {
      await closesQuickly();
    } finally {
      conn.close();
    }
  } finally {
    await proxy.close();
  }
});

// A client that leaves mid-handshake without a TLS alert (Node refusing the
// leaf, any client that just closes) is noticed at once, not after the timeout.
Deno.test({
  name:
    "a client that drops the tunnel mid-handshake (no alert) is logged at once, not after the timeout",
  async fn() {
    await using s = await setup(() => new Response("unused"), { headerTimeoutMs: 5000 });
    const warning = / warn: TLS handshake with the client for localhost:\d+ failed: /;
    // A client that sends its ClientHello, reads hoard's answer, and closes.
    const conn = await midHandshake(s.proxy, s.origin.port, await captureClientHello("localhost"));
    conn.close();
    await waitFor(() => linesOf(s.proxy, warning).length === 1, "the first warning", 1500);
    // Deno's fetch refusing hoard's leaf.
    {
      using stranger = Deno.createHttpClient({ proxy: { url: s.proxy.url } });
      await assert.rejects(fetch(`${s.base}/x`, { client: stranger }));
    }
    await waitFor(() => linesOf(s.proxy, warning).length === 2, "the second warning", 1500);
    assert.equal(linesOf(s.proxy, / CONNECT .* error=tls_handshake$/).length, 2);
    for (const line of linesOf(s.proxy, warning)) assert.doesNotMatch(line, /timed out/);
  },
});

// GnuTLS clients (git, wget, apt on Debian) check the certificate after the
// handshake and, refusing it, close without an alert: the tunnel is logged
// with the reason, while tunnels that carried requests are not.
Deno.test("a client that completes the handshake and leaves without a request: a warning naming why", async () => {
  await using s = await setup(() => new Response("served", { headers: FRESH }));
  const warning = / warn: the client closed the TLS tunnel for localhost:\d+ without a request: /;
  const tls = await tlsThrough(s);
  await tls.handshake();
  tls.close();
  await waitFor(() => linesOf(s.proxy, warning).length === 1, "the warning");
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 1, "the CONNECT line");
  assert.match(linesOf(s.proxy, / CONNECT /)[0]!, /intercept error=tls_no_request$/);

  // A tunnel that carried a request closes without a word.
  const ok = await curl([...LIMIT, "-x", s.proxy.url, "--cacert", s.caFile, `${s.base}/x`]);
  assert.equal(ok.code, 0, ok.stderr);
  await waitFor(() => linesOf(s.proxy, / CONNECT /).length === 2, "the second CONNECT line");
  assert.match(linesOf(s.proxy, / CONNECT /)[1]!, / intercept$/);
  assert.equal(linesOf(s.proxy, / warn: /).length, 1, s.proxy.logs.join("\n"));
});

Deno.test({
  name: "proxy.close() does not wait for a tunnel whose client left mid-handshake",
  async fn() {
    const { origin, hello, proxy, closesQuickly } = await shutdownSetup();
    await using _origin = origin;
    try {
      (await midHandshake(proxy, origin.port, hello)).close();
      await new Promise((r) => setTimeout(r, 100));
      await closesQuickly();
    } finally {
      await proxy.close();
    }
  },
});

Deno.test("cache keys never mix http and https: same path, separate entries", async () => {
  const cert = await makeCert();
  await using plain = startOrigin(() => new Response("over plain http", { headers: FRESH }));
  await using secure = startOrigin(() => new Response("over https", { headers: FRESH }), cert);
  await using proxy = await startTestProxy({
    intercept: ["*"],
    connectPorts: [plain.port, secure.port],
    upstreamCaCerts: [cert.cert],
  });
  const caFile = `${proxy.cacheDir}/ca/ca.pem`;
  const httpUrl = `http://localhost:${plain.port}/same`;
  const httpsUrl = `https://localhost:${secure.port}/same`;

  const h1 = await get(proxy, httpUrl);
  assert.equal(h1.text, "over plain http");
  assert.match(h1.headers["cache-status"] ?? "", MISS_STORED);
  const s1 = await get(proxy, httpsUrl, "--cacert", caFile);
  assert.equal(s1.text, "over https");
  assert.match(s1.headers["cache-status"] ?? "", MISS_STORED);
  const h2 = await get(proxy, httpUrl);
  assert.equal(h2.text, "over plain http");
  assert.match(h2.headers["cache-status"] ?? "", HIT);
  const s2 = await get(proxy, httpsUrl, "--cacert", caFile);
  assert.equal(s2.text, "over https");
  assert.match(s2.headers["cache-status"] ?? "", HIT);
  assert.equal(plain.requests.length, 1);
  assert.equal(secure.requests.length, 1);

  // The same authority under the other scheme is not served from either entry: hoard goes
  // to the origin, which does not speak that scheme (so the request fails there).
  const crossHttp = await curl([...LIMIT, "-x", proxy.url, `http://localhost:${secure.port}/same`]);
  assert.equal(crossHttp.status, 502, crossHttp.text);
  assert.doesNotMatch(crossHttp.headers["cache-status"] ?? "", /hit/);
  const crossHttps = await curl([
    ...LIMIT,
    "-x",
    proxy.url,
    "--cacert",
    caFile,
    `https://localhost:${plain.port}/same`,
  ]);
  assert.equal(crossHttps.code, 0, crossHttps.stderr);
  assert.equal(crossHttps.status, 502, crossHttps.text);
  assert.doesNotMatch(crossHttps.headers["cache-status"] ?? "", /hit/);
  assert.equal(plain.requests.length, 1);
  assert.equal(secure.requests.length, 1);
  assert.deepEqual((await findMeta(proxy.cacheDir)).map((m) => m.key).sort(), [httpUrl, httpsUrl]);
});

Deno.test("hoard ca prints the CA's path, --pem its PEM; the CA is made once", async () => {
  await using tmp = await tempDir();
  const cacheDir = `${tmp.path}/cache`;
  const first = await runHoard(["ca", "--cache-dir", cacheDir]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, `${cacheDir}/ca/ca.pem\n`);
  const pemFile = await Deno.readTextFile(`${cacheDir}/ca/ca.pem`);
  const keyFile = await Deno.readTextFile(`${cacheDir}/ca/ca-key.pem`);
  assert.equal((await Deno.stat(`${cacheDir}/ca/ca-key.pem`)).mode! & 0o777, 0o600);

  const [pem, again, elsewhere, bad] = await Promise.all([
    runHoard(["ca", "--pem", "--cache-dir", cacheDir]),
    runHoard(["ca", "--cache-dir", cacheDir]),
    runHoard(["ca", "--ca-dir", `${tmp.path}/other-ca`, "--cache-dir", cacheDir]),
    runHoard(["ca", "--ca-cert", `${tmp.path}/nope.pem`, "--ca-key", `${tmp.path}/nope-key.pem`]),
  ]);
  assert.equal(pem.code, 0, pem.stderr);
  assert.match(pem.stdout, /^-----BEGIN CERTIFICATE-----\n/);
  assert.equal(pem.stdout, pemFile);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, first.stdout);
  // Not regenerated.
  assert.equal(await Deno.readTextFile(`${cacheDir}/ca/ca.pem`), pemFile);
  assert.equal(await Deno.readTextFile(`${cacheDir}/ca/ca-key.pem`), keyFile);
  // --ca-dir puts it elsewhere (a different CA).
  assert.equal(elsewhere.code, 0, elsewhere.stderr);
  assert.equal(elsewhere.stdout, `${tmp.path}/other-ca/ca.pem\n`);
  assert.notEqual(await Deno.readTextFile(`${tmp.path}/other-ca/ca.pem`), pemFile);
  // Files that cannot be read: exit 1 and one line.
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /^hoard: cannot load or create the CA: .*nope\.pem.*\n$/);
});
