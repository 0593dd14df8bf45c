import assert from "node:assert/strict";
import { rawExchange } from "../_helpers/clients.ts";
import { type RawOrigin, startRawOrigin, writeText } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

/** A raw origin answering every request with a small 200, counting requests by their request-lines. */
function countingOrigin(): RawOrigin & { requests: () => number } {
  const origin = startRawOrigin(async (conn, readUntil) => {
    let answered = 0;
    for (;;) {
      const text = await readUntil(new RegExp(`(?:[^]*?\\r\\n\\r\\n){${answered + 1}}`));
      const heads = text.split("\r\n\r\n").length - 1;
      if (heads <= answered) return;
      answered = heads;
      await writeText(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  const requests = () =>
    origin.received.join("").match(/^[A-Z]+ \/\S* HTTP\/1\.1\r$/gm)?.length ?? 0;
  return Object.assign(origin, { requests });
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

Deno.test("bytes that are not HTTP (a TLS ClientHello) get 400 and a close, at once", async () => {
  await using proxy = await startTestProxy();
  const r = await rawExchange(
    proxy.port,
    new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]),
    3000,
  );
  assert.equal(statusOf(r.text), 400);
  assert.ok(r.closed, "hoard must close the connection");
  assert.match(r.text, /not an HTTP message/);
});

Deno.test("an unreadable request is logged with the reason (JSON detail) and, at debug, its first bytes", async () => {
  await using proxy = await startTestProxy({ logFormat: "json", logLevel: "debug" });
  await rawExchange(proxy.port, new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]), 3000);
  const lines = proxy.logs.map((l) => JSON.parse(l));
  const request = lines.find((l) => l.method === "-");
  assert.equal(request?.status, 400);
  assert.equal(request?.error, "http_request_error");
  assert.equal(request?.detail, "not an HTTP message");
  const debug = lines.find((l) => l.level === "debug" && /^unreadable request/.test(l.message));
  assert.match(
    debug?.message ?? "",
    /: not an HTTP message; it began "\\u0016\\u0003\\u0001\\u0002\\u0000\\u0001\\u0000"$/,
  );
});

Deno.test("a header section over 64 KiB gets 431", async () => {
  await using proxy = await startTestProxy();
  const big = `GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Big: ${
    "a".repeat(70 * 1024)
  }\r\n\r\n`;
  const r = await rawExchange(proxy.port, big);
  assert.equal(statusOf(r.text), 431);
  assert.ok(r.closed);
});

Deno.test("more than 100 header fields get 431", async () => {
  await using proxy = await startTestProxy();
  let head = "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n";
  for (let i = 0; i < 101; i++) head += `X-F${i}: ${i}\r\n`;
  const r = await rawExchange(proxy.port, head + "\r\n");
  assert.equal(statusOf(r.text), 431);
});

Deno.test("HTTP/2.0 in a request-line gets 505", async () => {
  await using proxy = await startTestProxy();
  const r = await rawExchange(
    proxy.port,
    "GET http://127.0.0.1:9/ HTTP/2.0\r\nHost: 127.0.0.1:9\r\n\r\n",
  );
  assert.equal(statusOf(r.text), 505);
});

// Each vector must be refused with 400 and a closed connection, and must never
// reach the origin as two requests (here: as any request, since the refusal
// comes before forwarding).
const SMUGGLING: [string, (o: string) => string][] = [
  [
    "CL.TE",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`,
  ],
  [
    "TE.CL",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
  ],
  [
    "TE.TE obfuscated (xchunked)",
    (o) => `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nTransfer-Encoding: xchunked\r\n\r\n`,
  ],
  [
    "TE.TE space before colon",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
  ],
  [
    "TE.TE two lines",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`,
  ],
  [
    "TE with NBSP",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nTransfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n`,
  ],
  [
    "duplicate CL",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok`,
  ],
  [
    "differing CL",
    (o) =>
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\nok`,
  ],
  [
    "CL with sign",
    (o) => `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nContent-Length: +2\r\n\r\nok`,
  ],
  [
    "CL with inner space",
    (o) => `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nContent-Length: 1 0\r\n\r\n0123456789`,
  ],
  ["bare LF", (o) => `GET http://${o}/ HTTP/1.1\nHost: ${o}\n\n`],
  ["bare CR in a value", (o) => `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nX-A: a\rb\r\n\r\n`],
  ["obs-fold", (o) => `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nX-A: a\r\n b\r\n\r\n`],
  ["NUL in a header", (o) => `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nX-A: a\x00b\r\n\r\n`],
  ["invalid Host", (o) => `GET http://${o}/ HTTP/1.1\r\nHost: a b\r\n\r\n`],
  ["two Host fields", (o) => `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nHost: ${o}\r\n\r\n`],
  ["no Host in HTTP/1.1", (o) => `GET http://${o}/ HTTP/1.1\r\nAccept: */*\r\n\r\n`],
  [
    "TE in HTTP/1.0",
    (o) =>
      `POST http://${o}/ HTTP/1.0\r\nHost: ${o}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  ],
];

for (const [name, build] of SMUGGLING) {
  Deno.test(`smuggling vector refused with 400 and close: ${name}`, async () => {
    await using origin = countingOrigin();
    await using proxy = await startTestProxy();
    const r = await rawExchange(proxy.port, build(`127.0.0.1:${origin.port}`));
    assert.equal(statusOf(r.text), 400, r.text);
    assert.ok(r.closed, "connection must be closed after the refusal");
    assert.equal(r.text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, "exactly one response");
    assert.equal(origin.requests(), 0, "nothing may reach the origin");
  });
}

// Body framing errors surface after the head was forwarded: the origin may see
// the start of one request, never a second one.
const BAD_CHUNKS: [string, string][] = [
  ["chunk-size overflow", "fffffffffffffffffff\r\n"],
  ["chunk-size with 0x", "0x5\r\nhello\r\n0\r\n\r\n"],
  ["chunk extension abuse", `5;${"x".repeat(5000)}\r\nhello\r\n0\r\n\r\n`],
  ["data longer than its size", "2\r\nhello\r\n0\r\n\r\n"],
  ["bare LF after size", "5\nhello\r\n0\r\n\r\n"],
];

for (const [name, body] of BAD_CHUNKS) {
  Deno.test(`bad chunked body refused, never two requests upstream: ${name}`, async () => {
    await using origin = countingOrigin();
    await using proxy = await startTestProxy();
    const o = `127.0.0.1:${origin.port}`;
    const smuggled = `GET http://${o}/smuggled HTTP/1.1\r\nHost: ${o}\r\n\r\n`;
    const r = await rawExchange(
      proxy.port,
      `POST http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nTransfer-Encoding: chunked\r\n\r\n${body}${smuggled}`,
    );
    assert.equal(statusOf(r.text), 400, r.text);
    assert.ok(r.closed);
    assert.ok(origin.requests() <= 1, `origin saw ${origin.requests()} requests`);
    assert.doesNotMatch(origin.received.join(""), /\/smuggled/);
  });
}

Deno.test("absolute-form wins over another Host: the origin gets Host from the URL, once", async () => {
  await using origin = countingOrigin();
  await using proxy = await startTestProxy();
  const o = `127.0.0.1:${origin.port}`;
  const r = await rawExchange(
    proxy.port,
    `GET http://${o}/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(statusOf(r.text), 200, r.text);
  assert.equal(origin.requests(), 1);
  const seen = origin.received.join("");
  assert.ok(seen.includes(`\r\nHost: ${o}\r\n`), seen);
  assert.ok(!seen.includes("evil.example"), seen);
});

Deno.test("pipelined requests are answered in order on one connection", async () => {
  await using origin = countingOrigin();
  await using proxy = await startTestProxy();
  const o = `127.0.0.1:${origin.port}`;
  const one = (p: string) => `GET http://${o}${p} HTTP/1.1\r\nHost: ${o}\r\n\r\n`;
  const r = await rawExchange(
    proxy.port,
    one("/a") + one("/b") + `GET http://${o}/c HTTP/1.1\r\nHost: ${o}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(r.text.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
  assert.ok(r.closed);
  assert.equal(origin.requests(), 3);
  assert.deepEqual(origin.received.join("").match(/GET \/[abc]/g), ["GET /a", "GET /b", "GET /c"]);
});

Deno.test("HTTP/1.0 client: closed after the response unless it asks for keep-alive", async () => {
  await using origin = countingOrigin();
  await using proxy = await startTestProxy();
  const o = `127.0.0.1:${origin.port}`;
  const plain = await rawExchange(proxy.port, `GET http://${o}/ HTTP/1.0\r\n\r\n`);
  assert.equal(statusOf(plain.text), 200);
  assert.ok(plain.closed);
  assert.match(plain.text, /\r\nConnection: close\r\n/i);

  const ka = await rawExchange(
    proxy.port,
    `GET http://${o}/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`,
    700,
  );
  assert.equal(statusOf(ka.text), 200);
  assert.match(ka.text, /\r\nConnection: keep-alive\r\n/i);
  assert.ok(!ka.closed, "a keep-alive HTTP/1.0 connection stays open");
});

Deno.test("a client that stalls inside its head gets 408; others are served meanwhile", async () => {
  await using origin = countingOrigin();
  await using proxy = await startTestProxy({ headerTimeoutMs: 300 });
  const o = `127.0.0.1:${origin.port}`;
  const slow = rawExchange(proxy.port, `GET http://${o}/ HTTP/1.1\r\nHost: `, 5000);
  const fast = await rawExchange(
    proxy.port,
    `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(statusOf(fast.text), 200);
  const r = await slow;
  assert.equal(statusOf(r.text), 408);
  assert.ok(r.closed, "the stalled client is cut off before the test's own 5 s timeout");
});

Deno.test("an idle keep-alive connection is closed after keepAliveTimeoutMs", async () => {
  await using origin = countingOrigin();
  await using proxy = await startTestProxy({ keepAliveTimeoutMs: 300 });
  const o = `127.0.0.1:${origin.port}`;
  const r = await rawExchange(proxy.port, `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\n\r\n`, 5000);
  assert.equal(statusOf(r.text), 200);
  assert.ok(r.closed, "closed by hoard, not by the test's timeout");
});
