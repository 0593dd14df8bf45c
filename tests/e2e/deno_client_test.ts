import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { makeCert } from "../_helpers/tls.ts";

Deno.test("Deno fetch via proxy: GET reaches the origin through hoard", async () => {
  await using origin = startOrigin((req) =>
    new Response(`got ${new URL(req.url).pathname}`, { headers: { "x-origin": "1" } })
  );
  await using proxy = await startTestProxy();
  using client = Deno.createHttpClient({ proxy: { url: proxy.url } });
  const res = await fetch(`${origin.url}/hello?q=1`, { client });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "got /hello");
  assert.equal(res.headers.get("x-origin"), "1");
  assert.equal(res.headers.get("via"), "1.1 hoard");
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.path, "/hello?q=1");
  assert.equal(origin.requests[0]!.headers.get("via"), "1.1 hoard");
  assert.ok(
    proxy.logs.some((l) => l.includes(`GET ${origin.url}/hello?q=1 200`)),
    "hoard logged it",
  );
});

Deno.test("Deno fetch via proxy: POST with a body", async () => {
  await using origin = startOrigin(async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    const hash = createHash("sha256").update(body).digest("hex");
    return new Response(`${req.method} ${req.headers.get("content-type")} ${body.length} ${hash}`);
  });
  await using proxy = await startTestProxy();
  using client = Deno.createHttpClient({ proxy: { url: proxy.url } });
  const body = new TextEncoder().encode(JSON.stringify({ items: Array(5000).fill("x") }));
  const res = await fetch(`${origin.url}/submit`, {
    client,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  assert.equal(res.status, 200);
  const hash = createHash("sha256").update(body).digest("hex");
  assert.equal(await res.text(), `POST application/json ${body.length} ${hash}`);
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.headers.get("via"), "1.1 hoard");
});

Deno.test("Deno fetch via proxy: a streamed response arrives piece by piece and whole", async () => {
  const PIECES = 64;
  const piece = (i: number) => new Uint8Array(32 * 1024).fill(i);
  await using origin = startOrigin(() => {
    let i = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(c) {
          if (i === PIECES) return c.close();
          // Spread over time, so the client sees the body before the origin has finished it.
          if (i % 16 === 0) await new Promise((r) => setTimeout(r, 5));
          c.enqueue(piece(i++));
        },
      }),
    );
  });
  await using proxy = await startTestProxy();
  using client = Deno.createHttpClient({ proxy: { url: proxy.url } });
  const res = await fetch(`${origin.url}/stream`, { client });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), null);
  const got = createHash("sha256");
  const want = createHash("sha256");
  for (let i = 0; i < PIECES; i++) want.update(piece(i));
  let bytes = 0, reads = 0;
  for await (const chunk of res.body!) {
    got.update(chunk);
    bytes += chunk.length;
    reads++;
  }
  assert.equal(bytes, PIECES * 32 * 1024);
  assert.ok(reads > 1, "the body should arrive in several pieces");
  assert.equal(got.digest("hex"), want.digest("hex"));
  assert.equal(origin.requests.length, 1);
});

Deno.test("Deno fetch via proxy: https goes through a CONNECT tunnel to a TLS origin", async () => {
  const cert = await makeCert();
  await using origin = startOrigin(
    (req) => new Response(`secure ${req.method} ${new URL(req.url).pathname}`),
    cert,
  );
  await using proxy = await startTestProxy({ connectPorts: [origin.port] });
  using client = Deno.createHttpClient({ proxy: { url: proxy.url }, caCerts: [cert.cert] });
  const res = await fetch(`https://127.0.0.1:${origin.port}/tls`, { client });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "secure GET /tls");
  // Inside a tunnel hoard sees only ciphertext: it adds no Via.
  assert.equal(res.headers.get("via"), null);
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.headers.get("via"), null);
  client.close();
  // The tunnel's log line is written when it ends; closing the client ends it.
  const deadline = Date.now() + 2000;
  const tunnelLine = () =>
    proxy.logs.find((l) => l.includes(`CONNECT 127.0.0.1:${origin.port} 200`));
  while (tunnelLine() === undefined && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(tunnelLine(), `no CONNECT in the log: ${proxy.logs.join("\n")}`);
});
