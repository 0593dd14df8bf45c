/**
 * The shipped artifacts, not the source tree: the bundle (`deno task bundle`)
 * and, where it can be built, the compiled binary (`deno task compile`) pass
 * the same smoke test — start, proxy a request, serve it again from the
 * cache, report the version from deno.json, shut down cleanly.
 */

import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { PERMISSIONS, UNSTABLE } from "../../scripts/build.ts";
import { curl } from "../_helpers/clients.ts";
import { startOrigin } from "../_helpers/origin.ts";

const root = new URL("../..", import.meta.url).pathname;
const work = await Deno.makeTempDir({ prefix: "hoard-dist-" });

async function build(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const bundlePath = `${work}/hoard.js`;
const bundled = await build(["bundle", "--platform", "deno", "-o", bundlePath, "mod.ts"]);
const binaryPath = `${work}/hoard`;
// deno compile downloads its runtime unless DENORT_BIN names one: try, and say why when it cannot.
const compiled = await build([
  "compile",
  ...PERMISSIONS,
  ...UNSTABLE,
  "--no-check",
  "-o",
  binaryPath,
  "mod.ts",
]);
const compileSkip = compiled.code === 0
  ? ""
  : ` (skipped: deno compile cannot get its runtime here${
    Deno.env.get("DENORT_BIN") ? "" : "; set DENORT_BIN"
  })`;

/**
 * Runs `command args`, proxies, hits, checks the version, and stops it with
 * SIGTERM; `serveArgs` go to hoard after the port and cache directory.
 */
async function smoke(command: string, args: string[], serveArgs: string[] = []): Promise<string> {
  const version = await new Deno.Command(command, { args: [...args, "--version"], stdout: "piped" })
    .output();
  assert.equal(new TextDecoder().decode(version.stdout).trim(), `hoard ${denoJson.version}`);

  await using origin = startOrigin(() =>
    new Response("from the origin", { headers: { "cache-control": "max-age=60" } })
  );
  const cacheDir = await Deno.makeTempDir({ dir: work });
  const child = new Deno.Command(command, {
    args: [...args, "--port", "0", "--cache-dir", cacheDir, ...serveArgs],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const reader = child.stderr.getReader();
  try {
    while (!/listening on/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited before listening:\n${text}`);
      text += new TextDecoder().decode(value);
    }
    const url = /listening on (\S+)/.exec(text)![1]!;
    const first = await curl(["-x", url, `${origin.url}/smoke`]);
    const second = await curl(["-x", url, `${origin.url}/smoke`]);
    assert.equal(first.text, "from the origin");
    assert.equal(second.text, "from the origin");
    assert.match(second.headers["cache-status"] ?? "", /^hoard; hit/);
    assert.equal(origin.requests.length, 1);
  } finally {
    child.kill("SIGTERM");
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    })();
    const status = await child.status;
    await pump;
    assert.equal(status.code, 0, text);
  }
  assert.match(text, /hoard: 2 requests in \d+ s: 1 hits, 1 misses/);
  return text;
}

Deno.test({
  name:
    "the bundle (dist/hoard.js) runs with the least permissions: proxy, hit, version, clean exit",
  async fn() {
    assert.equal(bundled.code, 0, bundled.stderr);
    await smoke(Deno.execPath(), ["run", ...PERMISSIONS, bundlePath]);
  },
});

Deno.test({
  name: "the bundle serves on two threads (--workers 2): the bundle is its workers' entry too",
  async fn() {
    assert.equal(bundled.code, 0, bundled.stderr);
    const log = await smoke(
      Deno.execPath(),
      ["run", ...PERMISSIONS, ...UNSTABLE, bundlePath],
      ["--workers", "2"],
    );
    assert.match(log, /listening on \S+ \(2 threads\)/);
    assert.doesNotMatch(log, /warn|error/);
  },
});

Deno.test({
  name: "without --unstable-net, --workers 2 serves on one thread and says why",
  async fn() {
    assert.equal(bundled.code, 0, bundled.stderr);
    // --no-config: the repository's deno.json turns the flag on.
    const log = await smoke(
      Deno.execPath(),
      ["run", "--no-config", ...PERMISSIONS, bundlePath],
      ["--workers", "2"],
    );
    assert.match(log, /warn: serving on one core: --workers needs Deno's --unstable-net/);
    assert.doesNotMatch(log, /threads\)/);
  },
});

Deno.test({
  name: `the compiled binary (dist/hoard): proxy, hit, version, clean exit${compileSkip}`,
  ignore: compiled.code !== 0,
  async fn() {
    await smoke(binaryPath, []);
  },
});

Deno.test({
  name: "(cleanup of the built artifacts)",
  sanitizeResources: false,
  async fn() {
    await Deno.remove(work, { recursive: true });
  },
});
