/**
 * Faults on the origin's side and on the cache's: an origin that closes or
 * stalls in the middle of a body, one that answers with garbage, a host that
 * does not resolve, a full disk during a fill, and a cache directory removed
 * while hoard runs. In every case the client is told the truth (a complete
 * answer, a truncated one it can recognise, or a 5xx naming the cause),
 * nothing partial is stored, and hoard goes on serving.
 *
 * The disk-full test needs to mount a tmpfs and the DNS test a network
 * namespace (so the lookup stays on this machine); both need root, and are
 * ignored, with the reason in their names, where that is not possible.
 *
 * @module
 */

import assert from "node:assert/strict";
import { curl, rawExchange } from "../_helpers/clients.ts";
import { cacheSettled, pseudoRandom, sha256 } from "../_helpers/cache_origin.ts";
import { startOrigin, startRawOrigin, writeText } from "../_helpers/origin.ts";
import { startTestProxy, type TestProxy } from "../_helpers/proxy.ts";

// So that a proxy which stops answering fails a test instead of hanging it.
const LIMIT = ["--max-time", "15"];

/** Files under `dir` (recursively), relative paths; none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${prefix}${e.name}/`);
      else out.push(`${prefix}${e.name}`);
    }
  };
  try {
    await walk(dir, "");
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

/** Entries (metadata or bodies) and temp files in a cache directory. */
async function stored(cacheDir: string): Promise<string[]> {
  return [
    ...(await filesUnder(`${cacheDir}/data`)).map((f) => `data/${f}`),
    ...(await filesUnder(`${cacheDir}/tmp`)).map((f) => `tmp/${f}`),
  ];
}

/** The request log lines (`TIME METHOD URL STATUS ...`) for `url`. */
function requestLines(proxy: TestProxy, url: string): string[] {
  return proxy.logs.filter((l) => l.split(" ")[2] === url && /^\d{3}$/.test(l.split(" ")[3] ?? ""));
}

/** Log lines that say hoard failed on its own. */
function internalErrors(proxy: TestProxy): string[] {
  return proxy.logs.filter((l) => / error: /.test(l) || /proxy_internal_error/.test(l));
}

/** A raw origin that sends `head` and `part` of a body on every connection, then `then`. */
function cuttingOrigin(head: string, part: string, then: "close" | "stall") {
  return startRawOrigin(async (conn, readUntil) => {
    await readUntil(/\r\n\r\n/);
    await writeText(conn, head + part);
    // Stall: hold the connection open (until the test closes the origin).
    if (then === "stall") await readUntil(/(?!)/);
  });
}

// --- (a) origin closes mid-body -------------------------------------------------

Deno.test("fault: origin closes mid-body (Content-Length): curl sees exit 18, nothing stored", async () => {
  await using origin = cuttingOrigin(
    "HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\nContent-Length: 1000\r\n\r\n",
    "x".repeat(400),
    "close",
  );
  await using proxy = await startTestProxy();
  const url = `http://127.0.0.1:${origin.port}/cut-length`;
  const first = await curl([...LIMIT, "-x", proxy.url, url]);
  assert.equal(first.code, 18, `curl: ${first.code} ${first.stderr}`);
  assert.equal(first.status, 200);
  assert.equal(first.body.length, 400, "every byte the origin sent, and no more");
  await cacheSettled(proxy.cacheDir);
  assert.deepEqual(await stored(proxy.cacheDir), []);
  const second = await curl([...LIMIT, "-x", proxy.url, url]);
  assert.equal(second.code, 18);
  assert.equal(origin.connections, 2, "the second request went to the origin again");
  for (const line of requestLines(proxy, url)) {
    assert.match(line, / 400B .* miss error=http_response_incomplete$/);
  }
  assert.deepEqual(internalErrors(proxy), []);
});

Deno.test("fault: origin closes mid-body (chunked): the client's chunked stream has no last-chunk", async () => {
  await using origin = cuttingOrigin(
    "HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\nTransfer-Encoding: chunked\r\n\r\n",
    `100\r\n${"y".repeat(256)}\r\n80\r\n${"z".repeat(64)}`,
    "close",
  );
  await using proxy = await startTestProxy();
  const o = `127.0.0.1:${origin.port}`;
  const url = `http://${o}/cut-chunked`;
  const r = await rawExchange(
    proxy.port,
    `GET ${url} HTTP/1.1\r\nHost: ${o}\r\n\r\n`,
    5000,
  );
  assert.ok(r.closed, "hoard closes the connection (not the test's timeout)");
  const [head = "", body = ""] = r.text.split(/\r\n\r\n([^]*)/);
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /\r\nTransfer-Encoding: chunked/i);
  assert.ok(body.includes("y".repeat(256)), "the data that arrived was relayed");
  assert.ok(!/(^|\r\n)0\r\n\r\n$/.test(body), `a last-chunk marks a cut body complete: ${body}`);
  // curl agrees that the transfer was cut.
  const c = await curl([...LIMIT, "-x", proxy.url, url]);
  assert.equal(c.code, 18, `curl: ${c.code} ${c.stderr}`);
  await cacheSettled(proxy.cacheDir);
  assert.deepEqual(await stored(proxy.cacheDir), []);
  assert.equal(origin.connections, 2, "each request went to the origin");
  assert.deepEqual(internalErrors(proxy), []);
});

// --- (b) garbage instead of a response --------------------------------------------

for (
  const [name, garbage] of [
    ["bytes that are not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n"],
    ["a malformed status-line", "HTTP/1.1 2xx Maybe\r\nContent-Length: 2\r\n\r\nok"],
    ["a bare LF in the head", "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok"],
    [
      "a smuggling-shaped response",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    ],
  ] as const
) {
  Deno.test(`fault: origin answers with ${name}: 502 with a one-line reason`, async () => {
    await using origin = startRawOrigin(async (conn, readUntil) => {
      await readUntil(/\r\n\r\n/);
      await writeText(conn, garbage);
    });
    await using proxy = await startTestProxy();
    const url = `http://127.0.0.1:${origin.port}/garbage`;
    const r = await curl([...LIMIT, "-x", proxy.url, url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 502);
    assert.match(r.text, /^502 Bad Gateway: bad response from 127\.0\.0\.1:\d+: [^\n]+\n$/);
    assert.match(r.headers["proxy-status"] ?? "", /^hoard; error=http_protocol_error; details="/);
    await cacheSettled(proxy.cacheDir);
    assert.deepEqual(await stored(proxy.cacheDir), []);
    assert.deepEqual(internalErrors(proxy), []);
  });
}

// --- (c) DNS failure ----------------------------------------------------------------

/** Whether this process may make a network namespace with its own loopback. */
function canUnshareNet(): boolean {
  try {
    const out = new Deno.Command("unshare", {
      args: ["-n", "sh", "-c", "ip link set lo up"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success;
  } catch {
    return false;
  }
}

const NETNS = canUnshareNet();

// The lookup runs in a network namespace of its own that has only a loopback:
// it fails at once and no query leaves this machine, whatever its resolver
// would have said about the name.
Deno.test({
  name: NETNS
    ? "fault: a host that does not resolve (.invalid) gets 502 dns_error"
    : "fault: a host that does not resolve (.invalid) gets 502 dns_error " +
      "(ignored: cannot make a network namespace here: `unshare -n` needs root)",
  ignore: !NETNS,
  async fn() {
    const here = new URL(".", import.meta.url);
    const code = `
      import { startTestProxy } from "${new URL("../_helpers/proxy.ts", here).href}";
      import { rawExchange } from "${new URL("../_helpers/clients.ts", here).href}";
      await using proxy = await startTestProxy();
      const r = await rawExchange(proxy.port,
        "GET http://hoard-fault.invalid/x HTTP/1.1\\r\\nHost: hoard-fault.invalid\\r\\nConnection: close\\r\\n\\r\\n");
      const health = await rawExchange(proxy.port, "GET /_hoard/health HTTP/1.1\\r\\nHost: h\\r\\nConnection: close\\r\\n\\r\\n");
      console.log(JSON.stringify({ text: r.text, health: health.text, logs: proxy.logs }));
    `;
    const out = await new Deno.Command("unshare", {
      args: [
        "-n",
        "sh",
        "-c",
        'ip link set lo up && exec "$0" eval --ext=ts "$1"',
        Deno.execPath(),
        code,
      ],
      cwd: new URL("../..", here).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `child failed: ${stderr}`);
    const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      text: string;
      health: string;
      logs: string[];
    };
    assert.match(r.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(r.text, /\r\nProxy-Status: hoard; error=dns_error; details="/);
    const body = r.text.split("\r\n\r\n")[1] ?? "";
    assert.match(
      body,
      /^502 Bad Gateway: cannot resolve hoard-fault\.invalid:80: DNS lookup failed\n$/,
    );
    assert.match(r.health, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok\n$/);
    assert.ok(
      r.logs.some((l) => / GET http:\/\/hoard-fault\.invalid\/x 502 .* error=dns_error$/.test(l)),
      r.logs.join("\n"),
    );
  },
});

// --- (d) disk full during a fill ----------------------------------------------------

/** Mounts a 1 MiB tmpfs on a new directory; undefined (with why) when that is not allowed. */
function tryMountTmpfs(): { dir: string } | { why: string } {
  const dir = Deno.makeTempDirSync({ prefix: "hoard-full-" });
  try {
    const out = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (out.success) return { dir };
    Deno.removeSync(dir);
    return { why: new TextDecoder().decode(out.stderr).trim().split("\n")[0] || "mount failed" };
  } catch (err) {
    Deno.removeSync(dir);
    return { why: String(err) };
  }
}

function unmount(dir: string): void {
  new Deno.Command("umount", { args: [dir], stdout: "null", stderr: "null" }).outputSync();
  Deno.removeSync(dir, { recursive: true });
}

// Probed once at load: the name has to say whether the test can run.
const PROBE = tryMountTmpfs();
if ("dir" in PROBE) unmount(PROBE.dir);

Deno.test({
  name: "why" in PROBE
    ? `fault: disk full during a fill (ignored: cannot mount a tmpfs: ${PROBE.why})`
    : "fault: disk full during a fill: the client gets every byte, nothing partial is stored",
  ignore: "why" in PROBE,
  async fn() {
    const big = pseudoRandom(3 * 1024 * 1024, 42);
    const small = new TextEncoder().encode("small and cacheable");
    await using origin = startOrigin((req) => {
      const path = new URL(req.url).pathname;
      return new Response(path === "/big" ? big : small, {
        headers: { "cache-control": "max-age=300" },
      });
    });
    const mounted = tryMountTmpfs();
    if (!("dir" in mounted)) throw new Error(`tmpfs mount failed now: ${mounted.why}`);
    try {
      await using proxy = await startTestProxy({ cacheDir: mounted.dir });
      const url = `${origin.url}/big`;
      const first = await curl([...LIMIT, "-x", proxy.url, url]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.status, 200);
      assert.equal(first.body.length, big.length);
      assert.equal(sha256(first.body), sha256(big), "every byte, unchanged");
      await cacheSettled(proxy.cacheDir);
      assert.deepEqual(await stored(proxy.cacheDir), [], "no partial body or metadata");

      // Later requests are relayed (the disk is still full, so not stored).
      const again = await curl([...LIMIT, "-x", proxy.url, url]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(sha256(again.body), sha256(big));
      const other = await curl([...LIMIT, "-x", proxy.url, `${origin.url}/small`]);
      assert.equal(other.text, "small and cacheable");
      assert.equal(origin.requests.length, 3, "nothing was served from a broken entry");
      await cacheSettled(proxy.cacheDir);
      assert.deepEqual(await stored(proxy.cacheDir), []);

      const warnings = proxy.logs.filter((l) => / warn: cache write failed/.test(l));
      assert.equal(warnings.length, 1, proxy.logs.join("\n"));
      assert.match(warnings[0]!, /No space left on device/);
      assert.deepEqual(internalErrors(proxy), []);
    } finally {
      unmount(mounted.dir);
    }
  },
});

// --- (e) cache directory removed while running ----------------------------------------

Deno.test("fault: the cache directory is removed while hoard runs: requests keep succeeding", async () => {
  await using origin = startOrigin((req) =>
    new Response(`body of ${new URL(req.url).pathname}`, {
      headers: { "cache-control": "max-age=300" },
    })
  );
  const cacheDir = await Deno.makeTempDir({ prefix: "hoard-gone-" });
  try {
    await using proxy = await startTestProxy({ cacheDir });
    const get = (path: string) => curl([...LIMIT, "-x", proxy.url, `${origin.url}${path}`]);
    const before = await get("/stored");
    assert.match(before.headers["cache-status"] ?? "", /stored/);
    await cacheSettled(cacheDir);
    assert.ok((await stored(cacheDir)).length >= 1, "an entry was stored");

    await Deno.remove(cacheDir, { recursive: true });

    for (const path of ["/stored", "/new-1", "/new-2", "/stored", "/new-1"]) {
      const r = await get(path);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(r.text, `body of ${path}`);
    }
    const health = await curl([...LIMIT, `${proxy.url}/_hoard/health`]);
    assert.equal(health.text, "ok\n");
    const warnings = proxy.logs.filter((l) => / warn: cache \w+ failed/.test(l));
    assert.ok(warnings.length >= 1, `a warning: ${proxy.logs.join("\n")}`);
    // One warning per kind of failure, not one per request.
    assert.equal(new Set(warnings.map((w) => w.replace(/^\S+ /, ""))).size, warnings.length);
    assert.deepEqual(internalErrors(proxy), []);
  } finally {
    await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  }
});

// --- (f) origin stalls mid-body ---------------------------------------------------------

Deno.test("fault: origin stalls mid-body past originIdleTimeoutMs: client cut, nothing stored", async () => {
  await using origin = cuttingOrigin(
    "HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\nContent-Length: 1000\r\n\r\n",
    "s".repeat(300),
    "stall",
  );
  await using proxy = await startTestProxy({ originIdleTimeoutMs: 300 });
  const url = `http://127.0.0.1:${origin.port}/stall`;
  const started = performance.now();
  const r = await curl([...LIMIT, "-x", proxy.url, url]);
  const ms = performance.now() - started;
  assert.equal(r.code, 18, `curl: ${r.code} ${r.stderr}`);
  assert.equal(r.body.length, 300);
  assert.ok(ms >= 250 && ms < 5000, `cut after ${ms.toFixed(0)} ms`);
  await cacheSettled(proxy.cacheDir);
  assert.deepEqual(await stored(proxy.cacheDir), []);
  const second = await curl([...LIMIT, "-x", proxy.url, url]);
  assert.equal(second.code, 18);
  assert.equal(origin.connections, 2, "the second request went to the origin again");
  const lines = requestLines(proxy, url);
  assert.equal(lines.length, 2, proxy.logs.join("\n"));
  // The 504 hoard decided on (Proxy-Status connection_read_timeout) is in the log as
  // the error type; the status column is what the client was sent: its head had gone out.
  for (const line of lines) assert.match(line, / 300B .* miss error=connection_read_timeout$/);
  assert.ok(
    proxy.logs.some((l) => / info: fill of \S+\/stall failed: .*stalled for 300 ms/.test(l)),
  );
  assert.deepEqual(internalErrors(proxy), []);
});
