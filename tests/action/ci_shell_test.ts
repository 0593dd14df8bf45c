/**
 * The README's shell lines for CI systems other than GitHub's (the `sh
 * ci-install`, `sh ci-start` and `sh ci-stop` blocks), run with bash as GitLab
 * runs them (`-eo pipefail`) against a fake release and an origin on loopback:
 * the binary is checked and installed, a download is cached, the next job is
 * served from the cache and leaves the same `hoard-manifest`, no CA is in the
 * cache directory, and a release that cannot be had leaves the job going on
 * directly. The GitLab, CircleCI, Buildkite and Jenkins sections must carry
 * the same lines.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { tempDir } from "../e2e/ci_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const README = await Deno.readTextFile(`${ROOT}README.md`);
const DOCUMENTED_URL = "https://github.com/OWNER/hoard/releases/download/v0.1.0";
const ASSET = "hoard-x86_64-unknown-linux-gnu";
const DOCUMENTED_PORT = "3128";

/** The README's fenced code block whose info string is `sh NAME`. */
function block(name: string): string {
  const m = new RegExp("^```sh " + name + "\\n([\\s\\S]*?)^```$", "m").exec(README);
  if (m === null) throw new Error(`README has no \`\`\`sh ${name} block`);
  return m[1]!;
}

/** The part of the README under a heading, up to the next heading of that level or above. */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no ${heading}`);
  const level = heading.indexOf(" ");
  const rest = README.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level}} `, "m"));
  return end < 0 ? rest : rest.slice(0, end);
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

function startRelease(binary: string) {
  const sums = `${createHash("sha256").update(binary).digest("hex")}  ${ASSET}\n`;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v0.1.0/SHA256SUMS") return new Response(sums);
    if (path === `/v0.1.0/${ASSET}`) return new Response(binary);
    return new Response("not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v0.1.0`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** An origin on 127.0.0.2 (127.0.0.1 is in NO_PROXY). */
function startOrigin() {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, () => {
    requests++;
    return new Response("artifact ".repeat(10_000), {
      headers: { "cache-control": "max-age=3600" },
    });
  });
  return {
    url: `http://127.0.0.2:${server.addr.port}/artifact.tgz`,
    requests: () => requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

// The jobs get their own HOME; Deno's cache stays the machine's, so hoard starts as fast as elsewhere.
const DENO_DIR: string = JSON.parse(
  new TextDecoder().decode(
    (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
      .output()).stdout,
  ),
).denoDir;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * One CI job: the documented lines (release URL and port swapped for the
 * local ones), two downloads in between, in a fresh working directory.
 */
async function job(
  { releaseUrl, url, hoardDir, home }: {
    releaseUrl: string;
    url: string;
    hoardDir: string;
    home: string;
  },
): Promise<{ code: number; out: string; statuses: string[]; workdir: string }> {
  const port = String(freePort());
  const local = (text: string) =>
    text.replaceAll(DOCUMENTED_URL, releaseUrl).replaceAll(DOCUMENTED_PORT, port);
  const download =
    `curl -sS --max-time 20 -o /dev/null -w '%{http_code} %header{cache-status}\\n' ${url} >> statuses`;
  const script = [
    local(block("ci-install")),
    local(block("ci-start")),
    download,
    download,
    local(block("ci-stop")),
  ].join("\n");
  const workdir = await Deno.makeTempDir({ dir: home, prefix: "job-" });
  const out = await new Deno.Command("bash", {
    args: ["-eo", "pipefail", "-c", script],
    cwd: workdir,
    env: {
      PATH: Deno.env.get("PATH")!,
      HOME: home,
      HOARD_DIR: hoardDir,
      DENO_DIR,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  const statuses = (await Deno.readTextFile(`${workdir}/statuses`).catch(() => "")).trim()
    .split("\n");
  return {
    code: out.code,
    out: d.decode(out.stdout) + d.decode(out.stderr),
    statuses,
    workdir,
  };
}

Deno.test("the README's shell lines: installed and checked, cached, the next job served from the cache", async () => {
  await using home = await tempDir("hoard-ci-shell-");
  // The "release binary" is hoard from this checkout behind a script.
  const binary =
    `#!/bin/sh\nexec deno run --allow-net --allow-env --allow-read --allow-write ${ROOT}mod.ts "$@"\n`;
  await using release = startRelease(binary);
  await using origin = startOrigin();
  const hoardDir = `${home.path}/cache`;

  const first = await job({ releaseUrl: release.url, url: origin.url, hoardDir, home: home.path });
  assert.equal(first.code, 0, first.out);
  assert.equal(
    await Deno.readTextFile(`${home.path}/.local/bin/hoard`),
    binary,
    "installed after its check",
  );
  // The ttl counts whole seconds of age: 3599, or 3598 on a slow machine.
  assert.equal(first.statuses.length, 2);
  assert.equal(first.statuses[0], "200 hoard; fwd=uri-miss; stored");
  assert.match(first.statuses[1]!, /^200 hoard; hit; ttl=359\d$/);
  assert.equal(origin.requests(), 1);
  assert.match(first.out, /hoard: 2 requests in \d+ s: 1 hits, 1 misses \(50% hits\)/);
  assert.match(first.out, /pruned 0 entries: /);
  const manifest = await Deno.readTextFile(`${first.workdir}/hoard-manifest`);
  assert.match(manifest, /^data\/[0-9a-f]{2}\/[0-9a-f]{64}-[0-9a-f]{8}\.body\n/m);
  // The CA was made in a temp directory, never in the directory the CI keeps.
  for await (const e of Deno.readDir(hoardDir)) assert.notEqual(e.name, "ca");

  // The next job (the CI restored the same directory): no origin request, the same manifest.
  const second = await job({ releaseUrl: release.url, url: origin.url, hoardDir, home: home.path });
  assert.equal(second.code, 0, second.out);
  assert.deepEqual(second.statuses.map((s) => s.replace(/ttl=\d+/, "ttl")), [
    "200 hoard; hit; ttl",
    "200 hoard; hit; ttl",
  ]);
  assert.equal(origin.requests(), 1);
  assert.equal(await Deno.readTextFile(`${second.workdir}/hoard-manifest`), manifest);
});

Deno.test("the README's shell lines fail open: no release, no hoard, the job reaches the origin", async () => {
  await using home = await tempDir("hoard-ci-shell-");
  await using origin = startOrigin();
  const r = await job({
    releaseUrl: "http://127.0.0.1:1/v0.1.0",
    url: origin.url,
    hoardDir: `${home.path}/cache`,
    home: home.path,
  });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /hoard not installed; going on without it/);
  assert.match(r.out, /hoard did not start; going on without it/);
  assert.deepEqual(r.statuses.map((s) => s.trim()), ["200", "200"], "no Cache-Status: no proxy");
  assert.equal(origin.requests(), 2);
});

Deno.test("GitLab CI, CircleCI, Buildkite and Jenkins sections carry the same lines", () => {
  const install = lines(block("ci-install"));
  const start = lines(block("ci-start"));
  const [stop, prune, manifest] = lines(block("ci-stop"));
  for (const ci of ["GitLab CI", "CircleCI", "Buildkite", "Jenkins"]) {
    const text = section(`#### ${ci}`);
    for (const line of [...install, ...start, stop!, prune!]) {
      assert.ok(text.includes(line), `${ci} lacks: ${line}`);
    }
  }
  // Only CircleCI keys its cache by the manifest.
  assert.ok(section("#### CircleCI").includes(manifest!));
  assert.match(section("#### GitLab CI"), /paths: \[\.hoard\/data, \.hoard\/hoard-cache\.json\]/);
});
