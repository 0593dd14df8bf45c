/**
 * The GitHub Action, run as the runner runs it (the committed bundle under
 * node, see _runner.ts), with hoard from the checkout and the cache in a
 * directory: one step starts hoard and exports its environment, a client's
 * download is cached, the post step stops hoard, writes the job summary and
 * saves; the next job restores and hits; a job that stores nothing saves
 * nothing; two jobs that end with the same entries upload once; a start that
 * fails exports nothing and the job reaches the origin directly; what is
 * saved holds no CA key.
 */

import assert from "node:assert/strict";
import { newJob, parseFileCommands, type StepResult, tarList } from "./_runner.ts";
import { tempDir } from "../e2e/ci_helpers.ts";

const BODY = "tarball bytes ".repeat(20_000); // 280 kB: a body file, not inline

/** An origin on 127.0.0.2: 127.0.0.1 is in hoard env's NO_PROXY, and clients would skip the proxy. */
function startOrigin() {
  const hits = new Map<string, number>();
  const server = Deno.serve(
    { hostname: "127.0.0.2", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      return new Response(`${BODY}${path}`, { headers: { "cache-control": "max-age=3600" } });
    },
  );
  return {
    url: `http://127.0.0.2:${server.addr.port}`,
    count: (path: string) => hits.get(path) ?? 0,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** curl as a later `run:` step: status and Cache-Status of a download. */
async function download(job: Awaited<ReturnType<typeof newJob>>, url: string) {
  const r = await job.run(
    `curl -sS --max-time 20 -o /dev/null -D - ${url} | tr -d '\\r' | awk 'NR==1{print $2} tolower($1)=="cache-status:"{sub(/^[^:]*: */, ""); print}'`,
  );
  assert.equal(r.code, 0, r.stderr);
  const [status, cacheStatus = ""] = r.stdout.trim().split("\n");
  return { status: Number(status), cacheStatus };
}

function ok(step: StepResult): void {
  assert.equal(step.code, 0, step.stdout + step.stderr);
  assert.deepEqual(step.warnings, [], step.stdout);
}

/** The keys the cache store holds, oldest first. */
async function savedKeys(store: string): Promise<string[]> {
  try {
    return JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  } catch {
    return [];
  }
}

Deno.test("one step: start, env exported, download cached, post saves; the next job restores and hits; a job that stores nothing saves nothing", async () => {
  await using store = await tempDir("hoard-action-store-");
  await using origin = startOrigin();
  let firstKey: string;
  {
    await using job = await newJob({ cacheStore: store.path });
    const main = await job.main({ port: "0" });
    ok(main);
    const proxy = main.outputs["proxy"]!;
    assert.match(proxy, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]) {
      assert.equal(main.exported[name], proxy, name);
    }
    // The CA is this job's, in RUNNER_TEMP, outside the cache directory.
    const ca = `${job.temp}/hoard-ca/ca.pem`;
    assert.equal(main.exported["NODE_EXTRA_CA_CERTS"], ca);
    assert.equal(main.outputs["ca-cert"], ca);
    assert.match(await Deno.readTextFile(ca), /BEGIN CERTIFICATE/);
    assert.equal(main.outputs["cache-restored"], "");
    await assert.rejects(Deno.stat(`${job.temp}/hoard/ca`));

    const first = await download(job, `${origin.url}/pkg-1.0.0.tgz`);
    assert.equal(first.status, 200);
    assert.match(first.cacheStatus, /fwd=uri-miss; stored/);
    assert.equal(origin.count("/pkg-1.0.0.tgz"), 1);

    const post = await job.post();
    ok(post);
    // Later post steps must not go through the stopped hoard.
    assert.equal(post.exported["HTTPS_PROXY"], "");
    assert.equal(post.exported["NODE_EXTRA_CA_CERTS"], "");
    assert.match(post.stdout, /::group::hoard log/);
    const keys = await savedKeys(store.path);
    assert.equal(keys.length, 1);
    firstKey = keys[0]!;
    assert.match(firstKey, /^hoard-Linux-[0-9a-f]{32}$/);
    assert.match(post.summary, /^### hoard cache\n/);
    assert.match(post.summary, /\| Misses \| 1 \|/);
    assert.match(post.summary, /\| Stored \| 1 \|/);
    assert.match(post.summary, /\n```mermaid\npie showData title Answers\n {4}"Misses" : 1\n```\n/);
    assert.match(post.summary, /\| 127\.0\.0\.2 \| 0 \| 1 \|/);
    assert.ok(
      post.summary.endsWith(
        `Cache: nothing restored; saved as \`${firstKey}\` in the directory ${store.path}.\n`,
      ),
      post.summary,
    );

    // What was saved: entries and the marker; no CA, no lock, no temp files, no run counters.
    const names = await tarList(`${store.path}/${firstKey}.tar`);
    assert.ok(names.includes("hoard-cache.json"), names.join("\n"));
    assert.ok(names.some((n) => n.endsWith(".body")), names.join("\n"));
    for (const n of names) {
      assert.ok(n.startsWith("data/") || n === "hoard-cache.json", n);
      assert.doesNotMatch(n, /ca-key|\.pem$|hoard\.lock|stats\.json|^tmp\b/);
    }
    const archive = await Deno.readFile(`${store.path}/${firstKey}.tar`);
    assert.ok(!new TextDecoder().decode(archive).includes("PRIVATE KEY"));
  }
  {
    await using job = await newJob({ cacheStore: store.path });
    const main = await job.main({ port: "0" });
    ok(main);
    assert.equal(main.outputs["cache-restored"], firstKey);
    // A new CA for this job: the restored directory brought none.
    const hit = await download(job, `${origin.url}/pkg-1.0.0.tgz`);
    assert.equal(hit.status, 200);
    assert.match(hit.cacheStatus, /^hoard; hit/);
    assert.equal(origin.count("/pkg-1.0.0.tgz"), 1, "the second job did not ask the origin");
    const post = await job.post();
    ok(post);
    assert.match(post.summary, /\*\*100% hits\*\*/);
    assert.match(post.summary, /\| Cache hits \| 1 \|/);
    assert.match(
      post.summary,
      new RegExp(
        `Cache: restored from \`${firstKey}\`; not saved: this run stored and removed nothing\\.\\n$`,
      ),
    );
    assert.deepEqual(await savedKeys(store.path), [firstKey]);
  }
  {
    // Something new: saved under a new key, from which the next job restores.
    await using job = await newJob({ cacheStore: store.path });
    ok(await job.main({ port: "0" }));
    assert.equal((await download(job, `${origin.url}/pkg-2.0.0.tgz`)).status, 200);
    ok(await job.post());
    const keys = await savedKeys(store.path);
    assert.equal(keys.length, 2);
    assert.notEqual(keys[1], firstKey);
    await using next = await newJob({ cacheStore: store.path });
    assert.equal((await next.main({ port: "0" })).outputs["cache-restored"], keys[1]);
    for (const path of ["/pkg-1.0.0.tgz", "/pkg-2.0.0.tgz"]) {
      assert.match((await download(next, `${origin.url}${path}`)).cacheStatus, /^hoard; hit/);
    }
    ok(await next.post());
  }
});

Deno.test("two jobs that end with the same entries upload once; cache-key separates caches", async () => {
  await using store = await tempDir("hoard-action-store-");
  await using origin = startOrigin();
  await using a = await newJob({ cacheStore: store.path });
  await using b = await newJob({ cacheStore: store.path });
  // Started together (a matrix): neither finds a cache, both fetch the same file.
  ok(await a.main({ port: "0", "cache-key": "lock-abc" }));
  ok(await b.main({ port: "0", "cache-key": "lock-abc" }));
  assert.equal((await download(a, `${origin.url}/same.tgz`)).status, 200);
  assert.equal((await download(b, `${origin.url}/same.tgz`)).status, 200);
  const postA = await a.post();
  ok(postA);
  const postB = await b.post();
  ok(postB);
  const keys = await savedKeys(store.path);
  assert.equal(keys.length, 1);
  assert.match(keys[0]!, /^hoard-Linux-lock-abc-[0-9a-f]{32}$/);
  assert.match(
    postB.summary,
    new RegExp(`not saved: \`${keys[0]}\` already holds the same entries`),
  );

  // Another cache-key restores the OS-wide newest cache, and saves under its own prefix.
  await using c = await newJob({ cacheStore: store.path });
  const main = await c.main({ port: "0", "cache-key": "lock-def" });
  ok(main);
  assert.equal(main.outputs["cache-restored"], keys[0]);
  assert.equal((await download(c, `${origin.url}/other.tgz`)).status, 200);
  ok(await c.post());
  assert.match((await savedKeys(store.path))[1]!, /^hoard-Linux-lock-def-[0-9a-f]{32}$/);
});

Deno.test("fail open: hoard cannot start (port taken): a warning, nothing exported, the job reaches the origin directly", async () => {
  await using store = await tempDir("hoard-action-store-");
  await using origin = startOrigin();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using job = await newJob({ cacheStore: store.path });
  const main = await job.main({ port: String(taken.addr.port) });
  assert.equal(main.code, 0);
  assert.equal(main.warnings.length, 1, main.stdout);
  assert.match(
    main.warnings[0]!,
    /^hoard is not used in this job, which goes on without a proxy: hoard exited \(code 1\) before it was ready:\n.*cannot listen on 127\.0\.0\.1:\d+/s,
  );
  assert.match(main.stdout, /::warning title=hoard did not start::/);
  assert.deepEqual(main.exported, {});
  assert.equal(main.outputs["proxy"], "");
  assert.equal(job.env["HTTP_PROXY"], undefined);

  const direct = await download(job, `${origin.url}/direct.tgz`);
  assert.equal(direct.status, 200);
  assert.equal(direct.cacheStatus, "", "no proxy answered");
  assert.equal(origin.count("/direct.tgz"), 1);

  const post = await job.post();
  ok(post);
  assert.match(post.stdout, /hoard: not started in this job: nothing to stop or save/);
  assert.equal(post.summary, "");
  assert.deepEqual(await savedKeys(store.path), []);
});

Deno.test("fail open: a bad input is a warning too; mode: stop is a no-op", async () => {
  await using store = await tempDir("hoard-action-store-");
  await using job = await newJob({ cacheStore: store.path });
  const bad = await job.main({ port: "eighty" });
  assert.equal(bad.code, 0);
  assert.match(
    bad.warnings[0] ?? "",
    /input port: expected a number from 0 to 65535, got "eighty"/,
  );
  assert.deepEqual(bad.exported, {});
  const stop = await job.main({ mode: "stop" });
  assert.equal(stop.code, 0);
  assert.deepEqual(stop.warnings, []);
  assert.match(stop.stdout, /::notice::hoard: mode: stop is no longer needed/);
  assert.deepEqual(stop.exported, {});
});

Deno.test("offline: the misses are listed in the job summary; save: false saves nothing", async () => {
  await using store = await tempDir("hoard-action-store-");
  await using origin = startOrigin();
  await using job = await newJob({ cacheStore: store.path });
  ok(await job.main({ port: "0", offline: "true", save: "false" }));
  const missed = await download(job, `${origin.url}/not-warmed.tgz`);
  assert.equal(missed.status, 504);
  assert.equal(origin.count("/not-warmed.tgz"), 0);
  const post = await job.post();
  ok(post);
  assert.match(
    post.summary,
    new RegExp(
      `\\nOffline, not in the cache \\(1\\):\\n\\n- \`${origin.url}/not-warmed\\.tgz\`\\n`,
    ),
  );
  assert.match(post.summary, /Cache: nothing restored; not saved \(save: false\)\.\n$/);
  assert.deepEqual(await savedKeys(store.path), []);
});

Deno.test("parseFileCommands reads both forms the runner accepts", () => {
  assert.deepEqual(
    parseFileCommands("A=1\nB<<ghadelimiter_x\nline 1\nline 2\nghadelimiter_x\nC=x=y\n"),
    { A: "1", B: "line 1\nline 2", C: "x=y" },
  );
});
