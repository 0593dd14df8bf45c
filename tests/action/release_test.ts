/**
 * The release download of the action (`version` input), against a fake
 * release on 127.0.0.1 (`HOARD_ACTION_RELEASE_URL`): a binary that matches
 * `SHA256SUMS` runs and lands in the tool cache; one that does not, one that
 * is missing, or one that never becomes healthy makes the action warn, export
 * nothing and leave the job to reach origins directly.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { newJob } from "./_runner.ts";
import { tempDir } from "../e2e/ci_helpers.ts";
import { expectedSha256, releaseAsset, releaseBaseUrl } from "../../action/release.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ASSET = "hoard-x86_64-unknown-linux-gnu";

/** A "release binary": hoard from the checkout behind a shell script (the runner's OS is Linux X64). */
const HOARD_SCRIPT =
  `#!/bin/sh\nexec deno run --allow-net --allow-env --allow-read --allow-write ${ROOT}mod.ts "$@"\n`;
/** One that never answers its health check. */
const SILENT_SCRIPT = '#!/bin/sh\necho $$ > "$RUNNER_TEMP/silent.pid"\nexec sleep 30\n';

/** Whether process `pid` has ended (a zombie nobody reaped yet counts as ended). */
async function ended(pid: number): Promise<boolean> {
  try {
    return /^\S+ \(.*\) [ZX]/s.test(await Deno.readTextFile(`/proc/${pid}/stat`));
  } catch {
    return true;
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Serves /TAG/SHA256SUMS and /TAG/<asset> from `files`; counts requests. */
function startRelease(files: Record<string, string>) {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const body = files[path];
    return body === undefined ? new Response("not found", { status: 404 }) : new Response(body);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("version: the release binary is checked against SHA256SUMS, run, and kept in the tool cache", async () => {
  await using store = await tempDir("hoard-action-store-");
  await using release = startRelease({
    "/v9.9.9/SHA256SUMS": `${sha256("other")}  hoard.js\n${sha256(HOARD_SCRIPT)} *${ASSET}\n`,
    [`/v9.9.9/${ASSET}`]: HOARD_SCRIPT,
  });
  await using job = await newJob({
    cacheStore: store.path,
    env: { HOARD_ACTION_RELEASE_URL: release.url },
  });
  const main = await job.main({ version: "v9.9.9", port: "0" });
  assert.equal(main.code, 0);
  assert.deepEqual(main.warnings, [], main.stdout);
  assert.match(main.outputs["proxy"] ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(release.requests, ["/v9.9.9/SHA256SUMS", `/v9.9.9/${ASSET}`]);
  const command: string[] = JSON.parse(job.state["hoard"]!).command;
  assert.deepEqual(command, [`${job.temp}/toolcache/hoard/9.9.9/X64/hoard`]);
  assert.equal((await Deno.stat(command[0]!)).mode! & 0o111, 0o111);
  const post = await job.post();
  assert.equal(post.code, 0);
  assert.deepEqual(post.warnings, [], post.stdout);

  // The next job on this runner takes it from the tool cache.
  const again = await job.main({ version: "v9.9.9", port: "0" });
  assert.deepEqual(again.warnings, [], again.stdout);
  assert.equal(release.requests.length, 2);
  await job.post();
});

for (
  const [what, files, warning] of [
    [
      "a binary that does not match SHA256SUMS",
      {
        "/v9.9.9/SHA256SUMS": `${sha256("something else")}  ${ASSET}\n`,
        [`/v9.9.9/${ASSET}`]: HOARD_SCRIPT,
      },
      new RegExp(
        `${ASSET} of v9\\.9\\.9 does not match SHA256SUMS \\(sha256 ${
          sha256(HOARD_SCRIPT)
        }, expected ${sha256("something else")}\\)`,
      ),
    ],
    [
      "a release without the binary",
      { "/v9.9.9/SHA256SUMS": `${sha256(HOARD_SCRIPT)}  ${ASSET}\n` },
      /Unexpected HTTP response: 404/,
    ],
    [
      "SHA256SUMS that does not list the binary",
      {
        "/v9.9.9/SHA256SUMS": `${sha256(HOARD_SCRIPT)}  hoard-other\n`,
        [`/v9.9.9/${ASSET}`]: HOARD_SCRIPT,
      },
      new RegExp(`SHA256SUMS of v9\\.9\\.9 does not list ${ASSET}`),
    ],
    [
      "a binary that is never healthy",
      {
        "/v9.9.9/SHA256SUMS": `${sha256(SILENT_SCRIPT)}  ${ASSET}\n`,
        [`/v9.9.9/${ASSET}`]: SILENT_SCRIPT,
      },
      /hoard was not healthy within 1 s, stopped it/,
    ],
  ] as const
) {
  Deno.test(`version: ${what} fails open: a warning, nothing exported, origins reached directly`, async () => {
    await using store = await tempDir("hoard-action-store-");
    await using release = startRelease(files);
    await using job = await newJob({
      cacheStore: store.path,
      env: { HOARD_ACTION_RELEASE_URL: release.url },
    });
    const main = await job.main({ version: "v9.9.9", port: "0", "start-timeout": "1" });
    assert.equal(main.code, 0);
    assert.equal(main.warnings.length, 1, main.stdout);
    assert.match(
      main.warnings[0]!,
      /^hoard is not used in this job, which goes on without a proxy: /,
    );
    assert.match(main.warnings[0]!, warning);
    assert.deepEqual(main.exported, {});
    assert.equal(main.outputs["proxy"], "");
    // Nothing unchecked was kept, and nothing is left running.
    if (!what.includes("healthy")) {
      await assert.rejects(Deno.stat(`${job.temp}/toolcache/hoard/9.9.9`));
    }
    if (what.includes("healthy")) {
      const pid = Number(await Deno.readTextFile(`${job.temp}/silent.pid`));
      assert.ok(await ended(pid), "the binary that never became healthy was killed");
    }
    // The job's next command reaches the origin itself.
    const r = await job.run(
      `curl -s -o /dev/null -w '%{http_code}' ${release.url}/v9.9.9/SHA256SUMS`,
    );
    assert.equal(r.stdout, "200");
    const post = await job.post();
    assert.equal(post.code, 0);
    assert.deepEqual(post.warnings, []);
  });
}

Deno.test("release asset names by runner, the download base, and SHA256SUMS lines", () => {
  assert.equal(releaseAsset("Linux", "X64"), ASSET);
  assert.equal(releaseAsset("macOS", "ARM64"), "hoard-aarch64-apple-darwin");
  assert.equal(releaseAsset("Windows", "X64"), "hoard-x86_64-pc-windows-msvc.exe");
  assert.equal(releaseAsset("Linux", "ARM"), undefined);
  assert.equal(
    releaseBaseUrl({
      GITHUB_SERVER_URL: "https://ghe.example.test",
      GITHUB_ACTION_REPOSITORY: "o/hoard",
    }),
    "https://ghe.example.test/o/hoard/releases/download",
  );
  assert.equal(
    releaseBaseUrl({
      HOARD_ACTION_RELEASE_URL: "http://127.0.0.1:9/mirror/",
      GITHUB_REPOSITORY: "o/r",
    }),
    "http://127.0.0.1:9/mirror",
  );
  const a = "a".repeat(64), b = "B".repeat(64);
  const sums = `${a}  hoard.js\r\n${b} *${ASSET}\nnot a line\n`;
  assert.equal(expectedSha256(sums, ASSET), "b".repeat(64));
  assert.equal(expectedSha256(sums, "hoard.js"), a);
  assert.equal(expectedSha256(sums, "hoard"), undefined);
});
