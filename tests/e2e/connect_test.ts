import assert from "node:assert/strict";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { startOrigin, startRawOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { makeCert } from "../_helpers/tls.ts";

// So that a proxy which stops answering fails a test instead of hanging it.
const LIMIT = ["--max-time", "20"];

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Closes `origin` ahead of the proxy when declared after both: a tunnel ends
 * only when its origin side does, so a tunnel broken by a regression then
 * fails its test instead of deadlocking the test's cleanup.
 */
function closeFirst(origin: { close(): Promise<void> }): AsyncDisposable {
  return { [Symbol.asyncDispose]: () => origin.close() };
}

const latin1 = new TextDecoder("latin1");
const encode = (s: string) => new TextEncoder().encode(s);

/** Reads from `conn` until `done(text)` holds or the peer closes; throws after `ms`. */
async function readUntil(
  conn: Deno.Conn,
  done: (text: string) => boolean,
  ms = 5000,
): Promise<{ text: string; eof: boolean }> {
  const timer = setTimeout(() => conn.close(), ms);
  let text = "";
  try {
    const buf = new Uint8Array(16 * 1024);
    while (!done(text)) {
      const n = await conn.read(buf);
      if (n === null) return { text, eof: true };
      text += latin1.decode(buf.subarray(0, n));
    }
    return { text, eof: false };
  } catch (err) {
    throw new Error(
      `read failed (timed out after ${ms} ms?), got so far: ${JSON.stringify(text)}`,
      {
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("curl -x https: CONNECT tunnel to a TLS origin returns its body", async () => {
  const cert = await makeCert();
  await using origin = startOrigin(
    (req) => new Response(`tls hello ${new URL(req.url).pathname}`, { headers: { "x-tls": "1" } }),
    cert,
  );
  await using proxy = await startTestProxy({ connectPorts: [origin.port] });
  await using _originFirst = closeFirst(origin);
  const caFile = await Deno.makeTempFile({ prefix: "hoard-ca-", suffix: ".pem" });
  try {
    await Deno.writeTextFile(caFile, cert.cert);
    const r = await curl([
      ...LIMIT,
      "-v",
      "-x",
      proxy.url,
      "--cacert",
      caFile,
      `https://127.0.0.1:${origin.port}/secret`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`> CONNECT 127\\.0\\.0\\.1:${origin.port} HTTP/1\\.1`));
    assert.match(r.stderr, /< HTTP\/1\.1 200 Connection established/);
    assert.equal(r.status, 200);
    assert.equal(r.text, "tls hello /secret");
    assert.equal(r.headers["x-tls"], "1");
    assert.equal(origin.requests.length, 1);
  } finally {
    await Deno.remove(caFile);
  }
});

Deno.test("CONNECT to a port outside connectPorts is refused with 403 and never dialed", async () => {
  await using allowed = startRawOrigin(async () => {});
  await using forbidden = startRawOrigin(async () => {});
  await using proxy = await startTestProxy({ connectPorts: [allowed.port] });

  const raw = await rawExchange(
    proxy.port,
    `CONNECT 127.0.0.1:${forbidden.port} HTTP/1.1\r\nHost: 127.0.0.1:${forbidden.port}\r\n\r\n`,
  );
  assert.match(raw.text, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(raw.text, /\r\nProxy-Status: hoard; error=http_request_denied/i);
  assert.ok(raw.text.includes(`port ${forbidden.port} is not allowed`), raw.text);

  const r = await curl([...LIMIT, "-x", proxy.url, `https://127.0.0.1:${forbidden.port}/`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /CONNECT tunnel failed, response 403/);
  assert.equal(forbidden.connections, 0, "hoard must not even open the connection");
});

Deno.test("CONNECT to an allowed port where nothing listens gets 502", async () => {
  const port = closedPort();
  await using proxy = await startTestProxy({ connectPorts: [port] });
  const raw = await rawExchange(
    proxy.port,
    `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
  );
  assert.match(raw.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.match(raw.text, /\r\nProxy-Status: hoard; error=connection_refused/i);
  const body = raw.text.slice(raw.text.indexOf("\r\n\r\n") + 4);
  assert.match(body, /^[^\n]+\n$/, `one-line body: ${JSON.stringify(body)}`);
  assert.ok(body.includes(`127.0.0.1:${port}`), body);
  assert.match(body, /connection refused/i);
});

Deno.test("CONNECT tunnel passes a client half-close on and still delivers the reply", async () => {
  // Echoes until the client's EOF comes through the tunnel, then says bye and closes.
  await using origin = startRawOrigin(async (conn) => {
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      await conn.write(buf.slice(0, n));
    }
    await conn.write(encode("bye"));
  });
  await using proxy = await startTestProxy({ connectPorts: [origin.port] });
  await using _originFirst = closeFirst(origin);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    await conn.write(
      encode(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`),
    );
    const head = await readUntil(conn, (t) => t.includes("\r\n\r\n"));
    assert.match(head.text, /^HTTP\/1\.1 200 /);
    assert.ok(head.text.endsWith("\r\n\r\n"), `nothing may follow the 200 yet: ${head.text}`);

    await conn.write(encode("hello"));
    const echo = await readUntil(conn, (t) => t === "hello" || t.length > 5);
    assert.equal(echo.text, "hello");

    await conn.closeWrite();
    const rest = await readUntil(conn, () => false);
    assert.ok(rest.eof, "the tunnel must close once both sides are done");
    assert.equal(rest.text, "bye");
  } finally {
    try {
      conn.close();
    } catch { /* already closed by a read timeout */ }
  }
  assert.equal(origin.connections, 1);
});

Deno.test({
  name: "proxy.close() cuts a half-closed tunnel within shutdownGraceMs",
  async fn() {
    // Ignores the client's EOF and keeps its side open for a few seconds.
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    const timer = setTimeout(release, 4000);
    await using origin = startRawOrigin(async (_conn, readUntil) => {
      await readUntil(/(?!)/);
      await held;
    });
    const proxy = await startTestProxy({ shutdownGraceMs: 200, connectPorts: [origin.port] });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    try {
      await conn.write(encode(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`));
      const head = await readUntil(conn, (t) => t.includes("\r\n\r\n"));
      assert.match(head.text, /^HTTP\/1\.1 200 /);
      await conn.closeWrite();
      await new Promise((r) => setTimeout(r, 50));
      const started = performance.now();
      await proxy.close();
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1500, `close() took ${Math.round(elapsed)} ms with shutdownGraceMs 200`);
    } finally {
      clearTimeout(timer);
      release();
      await proxy.close();
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  },
});
