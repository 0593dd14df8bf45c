import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { startOrigin, startRawHttpOrigin, startRawOrigin, writeText } from "../_helpers/origin.ts";
import { pseudoRandom } from "../_helpers/cache_origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

// So that a proxy which stops answering fails a test instead of hanging it.
const LIMIT = ["--max-time", "20"];

/** Runs curl with its output on stdout (for several URLs in one invocation). */
async function curlStdout(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command("curl", { args: ["-sS", ...args], stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

function sha256(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** An origin that answers every request with `METHOD sha256-of-body length`. */
function startHashingOrigin() {
  return startOrigin(async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    return new Response(`${req.method} ${sha256(body)} ${body.length}`);
  });
}

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("curl -x: GET through hoard reaches the origin once and returns its bytes", async () => {
  await using origin = startOrigin(() =>
    new Response("hello from origin", { headers: { "x-origin": "yes" } })
  );
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/greeting?x=1`]);
  assert.equal(r.code, 0);
  assert.equal(r.status, 200);
  assert.equal(r.text, "hello from origin");
  assert.equal(r.headers["x-origin"], "yes");
  assert.equal(r.headers["via"], "1.1 hoard");
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.path, "/greeting?x=1");
});

Deno.test("curl -x: two URLs in one invocation reuse the client and the origin connection", async () => {
  await using origin = startRawHttpOrigin((head) => {
    const path = head.split(" ")[1]!;
    const body = `body of ${path}`;
    return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  });
  await using proxy = await startTestProxy();
  const r = await curlStdout([
    ...LIMIT,
    "-v",
    "-x",
    proxy.url,
    `${origin.url}/one`,
    `${origin.url}/two`,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /Re-using existing connection/);
  assert.equal(r.out, "body of /onebody of /two");
  assert.equal(origin.connections, 1, "both requests must reach the origin on one connection");
  assert.equal(origin.heads.length, 2);
  assert.match(origin.heads[0]!, /^GET \/one HTTP\/1\.1\r\n/);
  assert.match(origin.heads[1]!, /^GET \/two HTTP\/1\.1\r\n/);
});

Deno.test("curl -x: a chunked upload reaches the origin byte for byte", async () => {
  await using origin = startHashingOrigin();
  await using proxy = await startTestProxy();
  const body = pseudoRandom(300_000);
  const file = await Deno.makeTempFile({ prefix: "hoard-upload-" });
  try {
    await Deno.writeFile(file, body);
    const r = await curl([
      ...LIMIT,
      "-v",
      "-x",
      proxy.url,
      "-H",
      "Transfer-Encoding: chunked",
      "-H",
      "Content-Type: application/octet-stream",
      "--data-binary",
      `@${file}`,
      `${origin.url}/upload`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /> Transfer-Encoding: chunked/i, "curl must really send it chunked");
    assert.equal(r.status, 200);
    assert.equal(r.text, `POST ${sha256(body)} ${body.length}`);
    assert.equal(origin.requests.length, 1);
    const seen = origin.requests[0]!.headers;
    assert.equal(seen.get("transfer-encoding"), "chunked");
    assert.equal(seen.get("content-length"), null);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("curl -x: Expect: 100-continue upload gets 100 Continue and the exact bytes arrive", async () => {
  await using origin = startHashingOrigin();
  await using proxy = await startTestProxy();
  const body = pseudoRandom(1_500_000, 7);
  const file = await Deno.makeTempFile({ prefix: "hoard-upload-" });
  try {
    await Deno.writeFile(file, body);
    const started = performance.now();
    const r = await curl([
      ...LIMIT,
      "-v",
      "-x",
      proxy.url,
      "-H",
      "Expect: 100-continue",
      // Without a 100 curl would send the body anyway after this long; the
      // elapsed-time check below tells a real 100 from that fallback.
      "--expect100-timeout",
      "10",
      "--data-binary",
      `@${file}`,
      `${origin.url}/big`,
    ]);
    const elapsed = performance.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /> Expect: 100-continue/);
    assert.match(r.stderr, /< HTTP\/1\.1 100 Continue/);
    assert.ok(elapsed < 8000, `took ${elapsed} ms: curl waited out its 100-continue timeout`);
    assert.equal(r.status, 200);
    assert.equal(r.text, `POST ${sha256(body)} ${body.length}`);
    assert.equal(origin.requests.length, 1);
    assert.equal(origin.requests[0]!.headers.get("content-length"), String(body.length));
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("curl -x: HEAD gets no body and keeps the origin's Content-Length", async () => {
  await using origin = startRawHttpOrigin((head) =>
    head.startsWith("HEAD ")
      ? "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n"
      : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"
  );
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-I", "-x", proxy.url, `${origin.url}/doc`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-length"], "1234");
  // (With -I curl writes the head to its output file, so the body is checked on a raw socket.)

  // On one raw connection: HEAD then GET. Had hoard waited for (or relayed)
  // 1234 body bytes after the HEAD, the GET's answer would be missing or wrong.
  const raw = await rawExchange(
    proxy.port,
    `HEAD ${origin.url}/doc HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n` +
      `GET ${origin.url}/next HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`,
  );
  assert.ok(raw.closed, "hoard must close after the Connection: close request");
  const [first, second, ...rest] = raw.text.split(/(?=HTTP\/1\.1 )/);
  assert.equal(rest.length, 0, raw.text);
  assert.match(first!, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(first!, /\r\ncontent-length: 1234\r\n/i);
  assert.ok(first!.endsWith("\r\n\r\n"), `HEAD response carried a body: ${JSON.stringify(first)}`);
  assert.match(second!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nafter$/);
  assert.equal(origin.heads.filter((h) => h.startsWith("HEAD ")).length, 2);
});

Deno.test("curl -x: a 50 MiB streamed body arrives intact", async () => {
  const BLOCK = 64 * 1024;
  const BLOCKS = 800; // 50 MiB
  const base = pseudoRandom(BLOCK, 42);
  // Each block is stamped with its index, so a lost, repeated or reordered block changes the hash.
  const block = (i: number) => {
    const b = base.slice();
    new DataView(b.buffer).setUint32(0, i);
    return b;
  };
  await using origin = startOrigin(() => {
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i === BLOCKS) c.close();
        else c.enqueue(block(i++));
      },
    });
    return new Response(stream, { headers: { "content-type": "application/octet-stream" } });
  });
  await using proxy = await startTestProxy();
  const expected = createHash("sha256");
  for (let i = 0; i < BLOCKS; i++) expected.update(block(i));

  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/large`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 200);
  assert.equal(r.body.length, BLOCK * BLOCKS);
  assert.equal(sha256(r.body), expected.digest("hex"));
  assert.equal(origin.requests.length, 1);
});

Deno.test("curl -x: POST, PUT, DELETE and PATCH are relayed with method and body intact", async () => {
  await using origin = startHashingOrigin();
  await using proxy = await startTestProxy();
  const methods = ["POST", "PUT", "DELETE", "PATCH"];
  for (const [i, method] of methods.entries()) {
    const body = `${method} body \u00e9\u0000 #${i}`;
    const bytes = new TextEncoder().encode(body);
    const r = await curl(
      ["-x", proxy.url, "-X", method, "--data-binary", "@-", `${origin.url}/m/${i}`],
      bytes,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200);
    assert.equal(r.text, `${method} ${sha256(bytes)} ${bytes.length}`);
  }
  assert.deepEqual(origin.requests.map((q) => `${q.method} ${q.path}`), [
    "POST /m/0",
    "PUT /m/1",
    "DELETE /m/2",
    "PATCH /m/3",
  ]);
});

Deno.test("curl -x: repeated Set-Cookie fields arrive separately and in order", async () => {
  await using origin = startRawHttpOrigin(() =>
    "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nX-Between: x\r\n" +
    "Set-Cookie: b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT\r\nSet-Cookie: c=3\r\n" +
    "Content-Length: 2\r\n\r\nok"
  );
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/cookies`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.text, "ok");
  assert.equal(
    r.headers["set-cookie"],
    "a=1; Path=/\nb=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT\nc=3",
  );
});

Deno.test("curl -x: hop-by-hop fields are removed in both directions", async () => {
  await using origin = startRawHttpOrigin(() =>
    "HTTP/1.1 200 OK\r\nConnection: X-Bar\r\nX-Bar: secret\r\nKeep-Alive: timeout=5\r\n" +
    "Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic realm=x\r\n" +
    "X-End: yes\r\nContent-Length: 2\r\n\r\nok"
  );
  await using proxy = await startTestProxy();
  const r = await curl([
    ...LIMIT,
    "-x",
    proxy.url,
    "-H",
    "Connection: X-Foo",
    "-H",
    "X-Foo: 1",
    "-H",
    "Proxy-Connection: keep-alive",
    "-H",
    "Keep-Alive: timeout=5",
    "-H",
    "TE: trailers",
    "-H",
    "Upgrade: websocket",
    "-H",
    "X-Keep: kept",
    `${origin.url}/hop`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.text, "ok");

  const head = origin.heads[0]!;
  assert.match(head, /\r\nX-Keep: kept(\r\n|$)/i, "end-to-end fields must pass");
  for (const name of ["x-foo", "proxy-connection", "keep-alive", "te", "upgrade"]) {
    assert.doesNotMatch(head, new RegExp(`\r\n${name}:`, "i"), `origin saw ${name}: ${head}`);
  }
  assert.doesNotMatch(head, /\r\nconnection:[^\r]*x-foo/i, `origin saw Connection: X-Foo`);

  assert.equal(r.headers["x-end"], "yes");
  for (const name of ["x-bar", "keep-alive", "proxy-connection", "upgrade", "proxy-authenticate"]) {
    assert.equal(r.headers[name], undefined, `client saw ${name}`);
  }
  assert.doesNotMatch(r.headers["connection"] ?? "", /x-bar/i);
});

Deno.test("curl -x: Via is added in both directions, after earlier hops", async () => {
  await using origin = startOrigin(() => new Response("v", { headers: { via: "1.1 cdn" } }));
  await using proxy = await startTestProxy();
  const plain = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/a`]);
  assert.equal(plain.headers["via"], "1.1 cdn, 1.1 hoard");
  assert.equal(origin.requests[0]!.headers.get("via"), "1.1 hoard");

  const chained = await curl([
    ...LIMIT,
    "-x",
    proxy.url,
    "-H",
    "Via: 1.0 upstream",
    `${origin.url}/b`,
  ]);
  assert.equal(chained.code, 0, chained.stderr);
  assert.equal(origin.requests[1]!.headers.get("via"), "1.0 upstream, 1.1 hoard");
});

Deno.test("hoard sets Host from the request URL", async () => {
  await using origin = startRawHttpOrigin(() => "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nh");
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/with-curl`]);
  assert.equal(r.code, 0, r.stderr);
  // An HTTP/1.0 client may leave Host out; the origin still gets one, from the URL.
  const raw = await rawExchange(proxy.port, `GET ${origin.url}/no-host HTTP/1.0\r\n\r\n`);
  assert.match(raw.text, /^HTTP\/1\.1 200 /);
  assert.ok(raw.text.endsWith("\r\n\r\nh"), raw.text);
  assert.equal(origin.heads.length, 2);
  for (const head of origin.heads) {
    const hosts = head.split("\r\n").filter((l) => /^host:/i.test(l));
    assert.deepEqual(hosts, [`Host: 127.0.0.1:${origin.port}`], head);
  }
  assert.match(origin.heads[1]!, /^GET \/no-host HTTP\/1\.1\r\n/);
});

Deno.test("curl -x: a close-delimited origin response arrives complete, chunked", async () => {
  const parts = [pseudoRandom(70_000, 1), pseudoRandom(3, 2), pseudoRandom(130_000, 3)];
  const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
  await using origin = startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    await writeText(conn, "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    for (const p of parts) {
      let s = "";
      for (let i = 0; i < p.length; i += 8192) s += latin1(p.subarray(i, i + 8192));
      await writeText(conn, s);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Returning closes the connection: that is the end of the body.
  });
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/until-close`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 200);
  assert.equal(r.headers["transfer-encoding"], "chunked");
  assert.equal(r.headers["content-length"], undefined);
  assert.equal(sha256(r.body), sha256(...parts));
});

Deno.test("curl -x: a gzip body passes through byte for byte, not decompressed", async () => {
  const plain = new TextEncoder().encode("compress me, ".repeat(5000));
  const gz = new Uint8Array(gzipSync(plain));
  await using origin = startOrigin(() =>
    new Response(gz, {
      headers: { "content-encoding": "gzip", "content-type": "text/plain" },
    })
  );
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/gz`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.headers["content-encoding"], "gzip");
  assert.equal(r.headers["content-length"], String(gz.length));
  assert.deepEqual(r.body, gz);
  assert.equal(origin.requests[0]!.headers.get("accept-encoding"), null);
});

Deno.test("curl -x: an origin that refuses connections gets a one-line 502", async () => {
  const port = closedPort();
  await using proxy = await startTestProxy();
  const r = await curl([...LIMIT, "-x", proxy.url, `http://127.0.0.1:${port}/down`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 502);
  assert.match(r.text, /^[^\n]+\n$/, `body must be one line: ${JSON.stringify(r.text)}`);
  assert.ok(r.text.includes(`127.0.0.1:${port}`), r.text);
  assert.match(r.text, /connection refused/i);
  assert.match(r.headers["proxy-status"] ?? "", /^hoard; error=connection_refused; details="/);
});

Deno.test("curl -x: an origin that never answers gets 504 after responseTimeoutMs", async () => {
  await using proxy = await startTestProxy({ responseTimeoutMs: 300 });
  // Declared after the proxy so it closes first: if hoard stopped timing out,
  // this test fails at curl's --max-time instead of hanging in cleanup.
  await using origin = startRawOrigin(async (_conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    await readUntil(/(?!)/); // say nothing until hoard gives up and closes
  });
  const started = performance.now();
  const r = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/silent`]);
  const elapsed = performance.now() - started;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 504);
  assert.ok(elapsed >= 250 && elapsed < 5000, `answered after ${elapsed} ms`);
  assert.match(r.text, /^[^\n]+\n$/);
  assert.ok(r.text.includes(`127.0.0.1:${origin.port}`), r.text);
  assert.match(r.headers["proxy-status"] ?? "", /error=connection_read_timeout/);
  assert.equal(origin.connections, 1);
});

Deno.test({
  name: "proxy.close() cuts a request stalled on its origin within shutdownGraceMs",
  async fn() {
    await using origin = startRawOrigin(async (_conn, readUntil) => {
      await readUntil(/(?!)/); // never answers
    });
    const proxy = await startTestProxy({ shutdownGraceMs: 200, responseTimeoutMs: 5000 });
    const child = new Deno.Command("curl", {
      args: ["-sS", ...LIMIT, "-x", proxy.url, `${origin.url}/stalled`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      while (origin.connections === 0) await new Promise((r) => setTimeout(r, 10));
      const started = performance.now();
      await proxy.close();
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1500, `close() took ${Math.round(elapsed)} ms with shutdownGraceMs 200`);
    } finally {
      await proxy.close();
      await child.status;
    }
  },
});
