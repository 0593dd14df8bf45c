import assert from "node:assert/strict";
import { runNode } from "../_helpers/clients.ts";
import { startOrigin, startRawHttpOrigin } from "../_helpers/origin.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

function nodeVersion(): string | undefined {
  try {
    const out = new Deno.Command("node", { args: ["--version"], stdout: "piped", stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined; // not installed
  }
}

const NODE = nodeVersion();
const SKIP = NODE === undefined ? " (skipped: no `node` on PATH)" : "";

/** Runs `script` in real Node with `env`, returning stdout; fails the test on a non-zero exit. */
async function nodeOut(script: string, env: Record<string, string>): Promise<string> {
  const r = await runNode(script, env);
  assert.equal(r.code, 0, `node failed: ${r.err}`);
  return r.out;
}

// The classic way to use an HTTP proxy from node:http: connect to the proxy
// and put the absolute URL in the request-line.
const ONE_REQUEST = `
const http = require("node:http");
const target = new URL(process.env.TARGET);
const req = http.request({
  host: "127.0.0.1",
  port: Number(process.env.PROXY_PORT),
  method: process.env.METHOD,
  path: target.href,
  headers: process.env.SET_HOST ? { host: target.host } : {},
}, (res) => {
  const chunks = [];
  res.on("data", (c) => chunks.push(c));
  res.on("end", () => {
    console.log(JSON.stringify({
      status: res.statusCode,
      via: res.headers.via ?? null,
      body: Buffer.concat(chunks).toString(),
    }));
  });
});
req.on("error", (e) => { console.error(e); process.exit(2); });
req.end(process.env.BODY);
`;

Deno.test({
  name: `node:http via hoard: GET and POST with the absolute URL as path${SKIP}`,
  ignore: NODE === undefined,
  async fn() {
    await using origin = startOrigin(async (req) =>
      new Response(`${req.method} ${new URL(req.url).pathname} [${await req.text()}]`)
    );
    await using proxy = await startTestProxy();
    const env = { PROXY_PORT: String(proxy.port), SET_HOST: "1" };

    const get = JSON.parse(
      await nodeOut(ONE_REQUEST, { ...env, TARGET: `${origin.url}/n/get`, METHOD: "GET" }),
    );
    assert.deepEqual(get, { status: 200, via: "1.1 hoard", body: "GET /n/get []" });

    const post = JSON.parse(
      await nodeOut(ONE_REQUEST, {
        ...env,
        TARGET: `${origin.url}/n/post`,
        METHOD: "POST",
        BODY: "from node \u2713",
      }),
    );
    assert.deepEqual(post, {
      status: 200,
      via: "1.1 hoard",
      body: "POST /n/post [from node \u2713]",
    });

    assert.deepEqual(origin.requests.map((r) => `${r.method} ${r.path}`), [
      "GET /n/get",
      "POST /n/post",
    ]);
    for (const r of origin.requests) {
      assert.equal(r.headers.get("host"), `127.0.0.1:${origin.port}`);
      assert.equal(r.headers.get("via"), "1.1 hoard");
    }
  },
});

// RFC 9112 §3.2.2: with an absolute-form target the proxy ignores Host and
// replaces it from the URL; plain node:http sends the proxy's own address.
Deno.test({
  name: `node:http via hoard: without a Host of its own (node sends the proxy's)${SKIP}`,
  ignore: NODE === undefined,
  async fn() {
    await using origin = startOrigin(() => new Response("plain"));
    await using proxy = await startTestProxy();
    const out = JSON.parse(
      await nodeOut(ONE_REQUEST, {
        PROXY_PORT: String(proxy.port),
        TARGET: `${origin.url}/n/plain`,
        METHOD: "GET",
      }),
    );
    assert.deepEqual(out, { status: 200, via: "1.1 hoard", body: "plain" });
    assert.equal(origin.requests.length, 1);
    assert.equal(origin.requests[0]!.headers.get("host"), `127.0.0.1:${origin.port}`);
  },
});

const KEEP_ALIVE = `
const http = require("node:http");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = process.env.TARGET;
const get = (path) => new Promise((resolve, reject) => {
  const target = new URL(path, base);
  const req = http.request({
    agent,
    host: "127.0.0.1",
    port: Number(process.env.PROXY_PORT),
    path: target.href,
    headers: { host: target.host },
  }, (res) => {
    let body = "";
    res.setEncoding("latin1");
    res.on("data", (c) => body += c);
    res.on("end", () => resolve({ status: res.statusCode, body, reused: req.reusedSocket }));
  });
  req.on("error", reject);
  req.end();
});
(async () => {
  const results = [];
  for (const p of ["/k/1", "/k/2", "/k/3"]) results.push(await get(p));
  agent.destroy();
  console.log(JSON.stringify(results));
})().catch((e) => { console.error(e); process.exit(2); });
`;

Deno.test({
  name: `node:http keep-alive Agent: 3 requests on one client and one origin connection${SKIP}`,
  ignore: NODE === undefined,
  async fn() {
    await using origin = startRawHttpOrigin((head) => {
      const body = `answer for ${head.split(" ")[1]}`;
      return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    });
    await using proxy = await startTestProxy();
    const results = JSON.parse(
      await nodeOut(KEEP_ALIVE, { PROXY_PORT: String(proxy.port), TARGET: origin.url }),
    );
    assert.deepEqual(results, [
      { status: 200, body: "answer for /k/1", reused: false },
      { status: 200, body: "answer for /k/2", reused: true },
      { status: 200, body: "answer for /k/3", reused: true },
    ]);
    assert.equal(origin.heads.length, 3);
    assert.equal(origin.connections, 1, "hoard must reuse its origin connection");
  },
});
