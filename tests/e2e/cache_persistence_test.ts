/**
 * The cache directory across processes: a restart or a copied directory
 * serves what an earlier proxy stored; `hoard stats` and `hoard prune` read
 * it; a proxy killed in the middle of a fill leaves nothing that is served.
 */

import assert from "node:assert/strict";
import { curl } from "../_helpers/clients.ts";
import {
  gate,
  get,
  pseudoRandom,
  sha256,
  sleep,
  slowBody,
  startRoutedOrigin,
} from "../_helpers/cache_origin.ts";
import { runHoard, startHoardProcess } from "../_helpers/process.ts";
import { startTestProxy } from "../_helpers/proxy.ts";

const HIT = /^hoard; hit; ttl=\d+$/;
const KiB = 1024;

Deno.test("a restarted proxy, and one on a copy of the directory, serve the stored entries", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-persist-" });
  const copy = `${dir}-copy`;
  try {
    const large = pseudoRandom(300 * KiB, 3); // read from its file, not from memory
    const cc = { "cache-control": "max-age=3600" };
    await using origin = startRoutedOrigin({
      "/small.txt": () => new Response("small and stored\n", { headers: cc }),
      "/large.bin": () => new Response(large, { headers: cc }),
      "/lang": (req) =>
        new Response(`in ${req.headers.get("accept-language")}\n`, {
          headers: { ...cc, vary: "Accept-Language" },
        }),
    });
    const requests: [string, string[], string | Uint8Array][] = [
      ["/small.txt", [], "small and stored\n"],
      ["/large.bin", [], large],
      ["/lang", ["-H", "Accept-Language: fr"], "in fr\n"],
      ["/lang", ["-H", "Accept-Language: nl"], "in nl\n"],
    ];
    /** Every request a hit with the right bytes, and the origin still at `expected` requests. */
    const allHits = async (proxy: { url: string; cacheDir: string }, label: string) => {
      for (const [path, args, body] of requests) {
        const r = await get(proxy, `${origin.url}${path}`, ...args);
        assert.equal(r.status, 200, `${label} ${path}`);
        assert.match(r.headers["cache-status"]!, HIT, `${label} ${path}`);
        assert.ok(Number(r.headers["age"]) >= 0, `${label} ${path}: Age`);
        if (typeof body === "string") assert.equal(r.text, body, `${label} ${path}`);
        else assert.equal(sha256(r.body), sha256(body), `${label} ${path}`);
      }
      assert.equal(origin.requests.length, 4, `${label}: the origin was not asked again`);
    };

    {
      await using a = await startTestProxy({ cacheDir: dir });
      for (const [path, args] of requests) {
        const r = await get(a, `${origin.url}${path}`, ...args);
        assert.match(r.headers["cache-status"]!, /^hoard; fwd=(uri|vary)-miss; stored$/);
      }
      await allHits(a, "A");
    }
    {
      await using b = await startTestProxy({ cacheDir: dir });
      await allHits(b, "B (restart)");
    }
    const cp = await new Deno.Command("cp", { args: ["-r", dir, copy] }).output();
    assert.equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
    // The copy must stand on its own.
    await Deno.remove(dir, { recursive: true });
    {
      await using c = await startTestProxy({ cacheDir: copy });
      await allHits(c, "C (copy)");
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(copy, { recursive: true }).catch(() => {});
  }
});

Deno.test("hoard stats reads the entries and the last run's counters; hoard prune evicts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-stats-" });
  try {
    const cc = { "cache-control": "max-age=3600" };
    await using origin = startRoutedOrigin({
      "/one": () => new Response("1".repeat(2000), { headers: cc }),
      "/two": () => new Response("2".repeat(3000), { headers: cc }),
      "/three": () => new Response("3".repeat(4000), { headers: cc }),
      "/never": () => new Response("not stored", { headers: { "cache-control": "no-store" } }),
    });
    {
      await using proxy = await startTestProxy({ cacheDir: dir });
      // 4 misses (3 stored), then 3 hits.
      for (const path of ["/one", "/two", "/three", "/never", "/one", "/two", "/one"]) {
        const r = await get(proxy, `${origin.url}${path}`);
        assert.equal(r.status, 200);
      }
      assert.equal(origin.requests.length, 4);
    }
    const stats = await runHoard(["stats", "--cache-dir", dir]);
    assert.equal(stats.code, 0, stats.stderr);
    const lines = stats.stdout.trim().split("\n");
    const entries = new RegExp(`^cache ${dir}: (\\d+) entries, `).exec(lines[0]!);
    assert.ok(entries, lines[0]);
    assert.equal(Number(entries[1]), 3);
    assert.match(lines[1]!, /^last run, ended \S+:$/);
    assert.match(
      lines[2]!,
      /^hoard: 7 requests in \d+ s: 3 hits, 4 misses \(43% hits\), 0 revalidations \(0 not modified\), 0 stale served, 3 stored$/,
    );
    assert.match(
      lines[3]!,
      /^hoard: 6\.8 KiB from the cache, 8\.8 KiB from origins; about [\d.]+ s saved$/,
    );
    assert.match(lines[4]!, /^hoard: most misses: 127\.0\.0\.1 \(4\)$/);

    const bad = await runHoard(["prune", "--max-size", "lots", "--cache-dir", dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hoard: --max-size: expected a size/);

    const prune = await runHoard(["prune", "--max-size", "1K", "--cache-dir", dir]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /^pruned [1-3] entries: /);
    const after = await runHoard(["stats", "--cache-dir", dir]);
    assert.equal(after.code, 0, after.stderr);
    const left = Number(new RegExp(`^cache ${dir}: (\\d+) entries, `).exec(after.stdout)?.[1]);
    assert.ok(left < 3, after.stdout);

    // What was evicted goes to the origin again; what is left is still a hit.
    await using proxy = await startTestProxy({ cacheDir: dir });
    let hits = 0;
    for (const path of ["/one", "/two", "/three"]) {
      const r = await get(proxy, `${origin.url}${path}`);
      if (HIT.test(r.headers["cache-status"]!)) hits++;
    }
    assert.equal(hits, left);
    assert.equal(origin.requests.length, 4 + 3 - left);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("hoard prune --unused-for drops the entries no run used for that long; a hit keeps one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-unused-" });
  try {
    const cc = { "cache-control": "max-age=3600" };
    await using origin = startRoutedOrigin({
      "/used": () => new Response("u".repeat(2000), { headers: cc }),
      "/unused": () => new Response("n".repeat(3000), { headers: cc }),
      "/lang": (req) =>
        new Response(`in ${req.headers.get("accept-language")}\n`, {
          headers: { ...cc, vary: "Accept-Language" },
        }),
    });
    const lang = ["-H", "Accept-Language: fr"];
    {
      await using proxy = await startTestProxy({ cacheDir: dir });
      for (const path of ["/used", "/unused"]) await get(proxy, `${origin.url}${path}`);
      await get(proxy, `${origin.url}/lang`, ...lang);
    }
    // Everything was last used 40 days ago...
    const old = new Date(Date.now() - 40 * 86400_000);
    for await (const shard of Deno.readDir(`${dir}/data`)) {
      for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
        await Deno.utime(`${dir}/data/${shard.name}/${f.name}`, old, old);
      }
    }
    // ...but today's run uses /used and the variant behind /lang's vary index.
    {
      await using proxy = await startTestProxy({ cacheDir: dir });
      assert.match((await get(proxy, `${origin.url}/used`)).headers["cache-status"] ?? "", HIT);
      const v = await get(proxy, `${origin.url}/lang`, ...lang);
      assert.match(v.headers["cache-status"] ?? "", HIT);
    }
    const bad = await runHoard(["prune", "--unused-for", "a month", "--cache-dir", dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hoard: --unused-for: expected a duration/);
    const none = await runHoard(["prune", "--cache-dir", dir]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^hoard: hoard prune needs --max-size or --unused-for/);

    const prune = await runHoard(["prune", "--unused-for", "30d", "--cache-dir", dir]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(
      prune.stdout,
      /^pruned 1 entries: [\d.]+ KiB -> [\d.]+ KiB \(1 unused for 30 days\)\n$/,
    );

    const before = origin.requests.length;
    await using proxy = await startTestProxy({ cacheDir: dir });
    assert.match((await get(proxy, `${origin.url}/used`)).headers["cache-status"] ?? "", HIT);
    const v = await get(proxy, `${origin.url}/lang`, ...lang);
    assert.match(v.headers["cache-status"] ?? "", HIT, "the vary index was kept with its variant");
    const gone = await get(proxy, `${origin.url}/unused`);
    assert.match(gone.headers["cache-status"] ?? "", /fwd=uri-miss/);
    assert.equal(origin.requests.length, before + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kill -9 in the middle of a fill: the restarted proxy goes to the origin for the whole body", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-crash-" });
  const body = pseudoRandom(4 * 1024 * KiB, 11);
  const resume = gate();
  try {
    await using origin = startRoutedOrigin({
      // The first answer stops after 1 MiB (until the test resumes it); later ones are whole.
      "/big.bin": (_req, n) =>
        new Response(
          slowBody(body, 256 * KiB, 0, n === 0 ? { after: 1024 * KiB, resume } : undefined),
          { headers: { "cache-control": "max-age=3600", "content-length": String(body.length) } },
        ),
    });
    const url = `${origin.url}/big.bin`;
    {
      await using hoard = await startHoardProcess(["--cache-dir", dir, "--log-level", "warn"]);
      const cut = curl(["--max-time", "20", "-x", hoard.url, url]);
      // Wait until part of the body is in a temp file of the fill.
      let partial = 0;
      for (let i = 0; i < 500 && partial < 1024 * KiB; i++) {
        await sleep(10);
        for (const f of await Array.fromAsync(Deno.readDir(`${dir}/tmp`))) {
          partial = Math.max(partial, (await Deno.stat(`${dir}/tmp/${f.name}`)).size);
        }
      }
      assert.equal(partial, 1024 * KiB, "the fill wrote the first MiB");
      const status = await hoard.stop("SIGKILL");
      assert.equal(status.signal, "SIGKILL");
      const r = await cut;
      assert.notEqual(r.code, 0, "the client saw its response cut");
      assert.ok(r.body.length < body.length);
    }
    resume.open();
    const metas = async () => {
      const out: string[] = [];
      for await (const shard of Deno.readDir(`${dir}/data`)) {
        for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) out.push(f.name);
      }
      return out.filter((n) => n.endsWith(".json"));
    };
    assert.deepEqual(await metas(), [], "no entry for the cut body");

    await using hoard = await startHoardProcess(["--cache-dir", dir, "--log-level", "warn"]);
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(`${dir}/tmp`)),
      [],
      "start-up emptied tmp/",
    );
    const r = await get({ url: hoard.url, cacheDir: dir }, url);
    assert.equal(r.status, 200);
    assert.equal(r.headers["cache-status"], "hoard; fwd=uri-miss; stored");
    assert.equal(r.body.length, body.length);
    assert.equal(sha256(r.body), sha256(body));
    assert.equal(origin.count("/big.bin"), 2);
    assert.equal((await metas()).length, 1);

    // Stored whole this time.
    const again = await curl(["--max-time", "20", "-x", hoard.url, url]);
    assert.match(again.headers["cache-status"]!, HIT);
    assert.equal(sha256(again.body), sha256(body));
    assert.equal(origin.count("/big.bin"), 2);
  } finally {
    resume.open();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a body that no longer matches its SHA-256 is cut on its first hit by a new process, then fetched again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-corrupt-" });
  try {
    const large = pseudoRandom(3 * 1024 * KiB, 7); // several pieces: most are sent before the check
    await using origin = startRoutedOrigin({
      "/large.bin": () => new Response(large, { headers: { "cache-control": "max-age=3600" } }),
    });
    const url = `${origin.url}/large.bin`;
    {
      await using a = await startTestProxy({ cacheDir: dir });
      await get(a, url);
    }
    let bodyFile = "";
    for await (const shard of Deno.readDir(`${dir}/data`)) {
      for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
        if (f.name.endsWith(".body")) bodyFile = `${dir}/data/${shard.name}/${f.name}`;
      }
    }
    const bytes = await Deno.readFile(bodyFile);
    bytes[bytes.length - 10]! ^= 0x01; // in the last piece: found only at the end
    await Deno.writeFile(bodyFile, bytes);

    await using b = await startTestProxy({ cacheDir: dir, logLevel: "warn" });
    const cut = await curl(["--max-time", "20", "-x", b.url, url]);
    assert.equal(cut.code, 18, `curl sees the transfer closed early, got ${cut.code}`);
    assert.equal(cut.status, 200);
    assert.ok(cut.body.length < large.length, `${cut.body.length} bytes`);
    assert.ok(b.logs.some((l) => l.includes("failed its checksum")), b.logs.join("\n"));
    assert.equal(origin.requests.length, 1);

    const again = await get(b, url);
    assert.equal(again.headers["cache-status"], "hoard; fwd=uri-miss; stored");
    assert.equal(sha256(again.body), sha256(large));
    assert.equal(origin.requests.length, 2);
    const hit = await get(b, url);
    assert.match(hit.headers["cache-status"]!, HIT);
    assert.equal(sha256(hit.body), sha256(large));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metadata a power loss left empty or zero-filled is no entry: the restarted proxy fetches and stores again", async () => {
  // Metadata is renamed into place without an fsync (src/cache/disk_store.ts):
  // after a power loss the new name can hold nothing yet, or zeros.
  const dir = await Deno.makeTempDir({ prefix: "hoard-powerloss-" });
  try {
    const small = pseudoRandom(2 * KiB, 3); // inline, inside its metadata
    const large = pseudoRandom(200 * KiB, 4); // a body file beside it
    await using origin = startRoutedOrigin({
      "/small": () => new Response(small, { headers: { "cache-control": "max-age=3600" } }),
      "/large": () => new Response(large, { headers: { "cache-control": "max-age=3600" } }),
    });
    const urls = [`${origin.url}/small`, `${origin.url}/large`];
    {
      await using a = await startTestProxy({ cacheDir: dir });
      for (const url of urls) await get(a, url);
    }
    const metas: string[] = [];
    for await (const shard of Deno.readDir(`${dir}/data`)) {
      for await (const f of Deno.readDir(`${dir}/data/${shard.name}`)) {
        if (f.name.endsWith(".json")) metas.push(`${dir}/data/${shard.name}/${f.name}`);
      }
    }
    assert.equal(metas.length, 2);
    await Deno.writeTextFile(metas[0]!, "");
    const size = (await Deno.stat(metas[1]!)).size;
    await Deno.writeFile(metas[1]!, new Uint8Array(size));
    // A restart comes later than this test's: the store deletes only files
    // older than its opening (its clock allows 100 ms for the kernel's).
    await sleep(150);

    await using b = await startTestProxy({ cacheDir: dir });
    for (const [i, url] of urls.entries()) {
      const again = await get(b, url);
      assert.equal(again.status, 200, url);
      assert.equal(again.headers["cache-status"], "hoard; fwd=uri-miss; stored", url);
      assert.equal(sha256(again.body), sha256([small, large][i]!), url);
    }
    assert.equal(origin.requests.length, 4);
    for (const [i, url] of urls.entries()) {
      const hit = await get(b, url);
      assert.match(hit.headers["cache-status"]!, HIT, url);
      assert.equal(sha256(hit.body), sha256([small, large][i]!), url);
    }
    assert.equal(origin.requests.length, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the first hit of a large entry by a new process is checked while it is sent, and served whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-first-hit-" });
  try {
    const large = pseudoRandom(3 * 1024 * KiB, 8);
    await using origin = startRoutedOrigin({
      "/large.bin": () => new Response(large, { headers: { "cache-control": "max-age=3600" } }),
    });
    const url = `${origin.url}/large.bin`;
    {
      await using a = await startTestProxy({ cacheDir: dir });
      await get(a, url);
    }
    await using b = await startTestProxy({ cacheDir: dir, logLevel: "warn" });
    for (const label of ["first", "second"]) {
      // A range first: part of a body cannot be checked while sent, so the
      // whole file is checked up front the first time.
      const range = await get(b, url, "-H", "Range: bytes=100-199");
      assert.equal(range.status, 206, label);
      assert.deepEqual(range.body, large.subarray(100, 200), label);
      const r = await get(b, url);
      assert.match(r.headers["cache-status"]!, HIT, label);
      assert.equal(sha256(r.body), sha256(large), label);
    }
    assert.equal(origin.requests.length, 1);
    assert.deepEqual(b.logs, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one process per cache directory: a second hoard on it is refused and leaves the first one's fills alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-lock-" });
  try {
    const body = pseudoRandom(2 * 1024 * KiB, 9);
    const open = gate();
    await using origin = startRoutedOrigin({
      // Half the body, then a pause until the second hoard has tried: a fill in flight.
      "/slow.bin": () =>
        new Response(slowBody(body, 1024 * KiB, 0, { after: 1024 * KiB, resume: open }), {
          headers: { "cache-control": "max-age=3600", "content-length": String(body.length) },
        }),
    });
    await using first = await startHoardProcess(["--cache-dir", dir]);
    const download = curl(["--max-time", "20", "-x", first.url, `${origin.url}/slow.bin`]);
    await sleep(300);

    // Killed after 10 s if it starts anyway (a server does not exit on its own).
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "mod.ts", "--port", "0", "--cache-dir", dir],
      cwd: new URL("../..", import.meta.url).pathname,
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    const second = { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    assert.notEqual(second.code, 0);
    assert.match(
      second.stderr,
      new RegExp(
        `cache directory ${dir} is in use by another hoard process \\(pid ${first.child.pid}\\)`,
      ),
    );
    assert.equal(second.stderr.trim().split("\n").length, 1, second.stderr);
    // In-process too: the lock is per open file, not per process.
    await assert.rejects(
      () => startTestProxy({ cacheDir: dir }),
      /is in use by another hoard process/,
    );
    // `hoard stats` looks without touching (the temp file of the fill stays);
    // `hoard prune` is refused.
    const parts = async () => (await Array.fromAsync(Deno.readDir(`${dir}/tmp`))).length;
    assert.equal(await parts(), 1, "a fill in flight");
    const stats = await runHoard(["stats", "--cache-dir", dir]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^cache .*: 0 entries, 0 B \(in use by a running hoard\)$/m);
    const prune = await runHoard(["prune", "--max-size", "1K", "--cache-dir", dir]);
    assert.equal(prune.code, 1);
    assert.match(prune.stderr, /is in use by another hoard process/);
    assert.equal(await parts(), 1, "still in flight");

    open.open();
    const r = await download;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.body), sha256(body), "the fill in flight went on");
    const hit = await get({ url: first.url, cacheDir: dir }, `${origin.url}/slow.bin`);
    assert.match(hit.headers["cache-status"]!, HIT);
    assert.equal(sha256(hit.body), sha256(body));
    assert.equal((await first.stop("SIGTERM")).code, 0);

    // Once the first has ended, the directory is free again.
    await using third = await startTestProxy({ cacheDir: dir });
    const again = await get(third, `${origin.url}/slow.bin`);
    assert.match(again.headers["cache-status"]!, HIT);
    assert.equal(origin.requests.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
