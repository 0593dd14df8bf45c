import assert from "node:assert/strict";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { startOrigin } from "../_helpers/origin.ts";
import { runHoard } from "../_helpers/process.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

Deno.test("a client outside --allow-clients gets 403 and a log line; nothing reaches the origin", async () => {
  await using origin = startOrigin(() => new Response("secret"));
  await using proxy = await startTestProxy({ allowClients: ["10.0.0.0/8"] });
  const r = await curl(["-x", proxy.url, `${origin.url}/x`]);
  assert.equal(r.status, 403);
  assert.match(r.text, /client not allowed/);
  assert.equal(origin.requests.length, 0);
  assert.ok(
    proxy.logs.some((l) => /warn: refused 127\.0\.0\.1:\d+: client not allowed/.test(l)),
    proxy.logs.join("\n"),
  );
});

Deno.test("--auth: 407 with Proxy-Authenticate without credentials, 200 with them; never logged", async () => {
  await using origin = startOrigin(() => new Response("ok"));
  await using proxy = await startTestProxy({ auth: "ci:s3cret" });
  const none = await curl(["-x", proxy.url, `${origin.url}/x`]);
  assert.equal(none.status, 407);
  assert.equal(none.headers["proxy-authenticate"], 'Basic realm="hoard"');
  const wrong = await curl(["-x", proxy.url, "-U", "ci:nope", `${origin.url}/x`]);
  assert.equal(wrong.status, 407);
  const good = await curl(["-x", proxy.url, "-U", "ci:s3cret", `${origin.url}/x`]);
  assert.equal(good.status, 200);
  assert.equal(good.text, "ok");
  assert.equal(origin.requests.length, 1);
  // Credentials are hop-by-hop: the origin never sees them, and no log line holds them.
  assert.equal(origin.requests[0]!.headers.get("proxy-authorization"), null);
  assert.ok(!proxy.logs.join("\n").includes("s3cret"));
  assert.ok(!proxy.logs.join("\n").includes(btoa("ci:s3cret")));
  // Health checks need no credentials.
  const health = await curl([`${proxy.url}/_hoard/health`]);
  assert.equal(health.status, 200);
});

Deno.test("--deny-hosts, --allow-hosts and --deny-private refuse with 403, before any connection", async () => {
  await using origin = startOrigin(() => new Response("ok"));
  {
    await using proxy = await startTestProxy({ denyHosts: ["127.0.0.1"] });
    const r = await curl(["-x", proxy.url, `${origin.url}/x`]);
    assert.equal(r.status, 403);
    assert.match(r.text, /requests to 127\.0\.0\.1 are not allowed/);
    const c = await rawExchange(
      proxy.port,
      "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n",
    );
    assert.match(c.text, /^HTTP\/1\.1 403 /);
  }
  {
    await using proxy = await startTestProxy({ allowHosts: ["*.example.test"] });
    const r = await curl(["-x", proxy.url, `${origin.url}/x`]);
    assert.equal(r.status, 403);
  }
  {
    await using proxy = await startTestProxy({ denyPrivate: true });
    const r = await curl(["-x", proxy.url, `${origin.url}/x`]);
    assert.equal(r.status, 403);
    assert.match(r.text, /private address/);
    assert.equal(r.headers["proxy-status"]?.includes("destination_ip_prohibited"), true);
  }
  assert.equal(origin.requests.length, 0);
});

Deno.test("--max-connections: the connection beyond the limit gets 503 with Retry-After", async () => {
  await using proxy = await startTestProxy({ maxConnections: 2 });
  const held = await Promise.all(
    [0, 1].map(() => Deno.connect({ hostname: "127.0.0.1", port: proxy.port })),
  );
  try {
    // Let the accept loop register both.
    await new Promise((r) => setTimeout(r, 100));
    const r = await rawExchange(proxy.port, "GET /_hoard/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(r.text, /^HTTP\/1\.1 503 /);
    assert.match(r.text, /\r\nRetry-After: 1\r\n/);
  } finally {
    for (const c of held) c.close();
  }
  await new Promise((r) => setTimeout(r, 100));
  const after = await rawExchange(
    proxy.port,
    "GET /_hoard/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.match(after.text, /^HTTP\/1\.1 200 /);
});

Deno.test("a GET body over --max-request-body gets 413", async () => {
  await using origin = startOrigin(() => new Response("ok"));
  await using proxy = await startTestProxy({ maxRequestBody: 10 });
  const o = `127.0.0.1:${origin.port}`;
  const r = await rawExchange(
    proxy.port,
    `GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nContent-Length: 11\r\n\r\nhello world`,
  );
  assert.match(r.text, /^HTTP\/1\.1 413 /);
  assert.equal(origin.requests.length, 0);
});

Deno.test("binding beyond loopback without --allow-clients or --auth: refused, exit 2", async () => {
  const r = await runHoard(["--host", "0.0.0.0", "--port", "0"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^hoard: --host 0\.0\.0\.0 exposes hoard to the network: give --allow-clients/,
  );
});
