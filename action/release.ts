/**
 * The release binary: which one fits the runner, where it is downloaded from,
 * and the check against the release's `SHA256SUMS` that comes before it may
 * run. A binary that fails the check is deleted and never cached.
 *
 * @module
 */

import * as tc from "@actions/tool-cache";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, readFile, rm } from "node:fs/promises";

/** Release asset names by `RUNNER_OS-RUNNER_ARCH` (the targets of scripts/build.ts). */
const TARGETS: Record<string, string> = {
  "Linux-X64": "hoard-x86_64-unknown-linux-gnu",
  "Linux-ARM64": "hoard-aarch64-unknown-linux-gnu",
  "macOS-X64": "hoard-x86_64-apple-darwin",
  "macOS-ARM64": "hoard-aarch64-apple-darwin",
  "Windows-X64": "hoard-x86_64-pc-windows-msvc.exe",
};

/** The release asset for a runner, or undefined when none is built for it. */
export function releaseAsset(os: string, arch: string): string | undefined {
  return TARGETS[`${os}-${arch}`];
}

/**
 * Where releases are downloaded from: `$HOARD_ACTION_RELEASE_URL` (a mirror,
 * or a test's server), else the action's repository on its GitHub host.
 */
export function releaseBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const override = env["HOARD_ACTION_RELEASE_URL"];
  if (override) return override.replace(/\/+$/, "");
  const server = env["GITHUB_SERVER_URL"] || "https://github.com";
  // A local action (`uses: ./`) has no action repository: it is the workflow's own.
  const repo = env["GITHUB_ACTION_REPOSITORY"] || env["GITHUB_REPOSITORY"];
  if (!repo) throw new Error("no repository to download the release from");
  return `${server}/${repo}/releases/download`;
}

/** The SHA-256 that `sums` (the lines of `sha256sum`) gives for `file`. */
export function expectedSha256(sums: string, file: string): string | undefined {
  for (const line of sums.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (m && m[2] === file) return m[1]!.toLowerCase();
  }
  return undefined;
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * The path of a checked hoard binary of release `version` for this runner:
 * from the runner's tool cache when an earlier job put it there, else
 * downloaded with the release's `SHA256SUMS` and checked.
 *
 * @throws {Error} when there is no binary for the runner, a download fails, or
 *   the binary does not match its checksum.
 */
export async function releaseBinary(
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const os = env["RUNNER_OS"] ?? "", arch = env["RUNNER_ARCH"] ?? "";
  const asset = releaseAsset(os, arch);
  if (asset === undefined) throw new Error(`no release binary for ${os}-${arch}`);
  const exe = asset.endsWith(".exe") ? "hoard.exe" : "hoard";
  const cached = tc.find("hoard", version, arch);
  if (cached) return `${cached}/${exe}`;

  const base = `${releaseBaseUrl(env)}/${encodeURIComponent(version)}`;
  const sumsPath = await tc.downloadTool(`${base}/SHA256SUMS`);
  const expected = expectedSha256(await readFile(sumsPath, "utf8"), asset);
  await rm(sumsPath, { force: true });
  if (expected === undefined) throw new Error(`SHA256SUMS of ${version} does not list ${asset}`);
  const binary = await tc.downloadTool(`${base}/${asset}`);
  const actual = await sha256File(binary);
  if (actual !== expected) {
    await rm(binary, { force: true });
    throw new Error(
      `${asset} of ${version} does not match SHA256SUMS (sha256 ${actual}, expected ${expected})`,
    );
  }
  await chmod(binary, 0o755);
  const dir = await tc.cacheFile(binary, exe, "hoard", version, arch);
  await rm(binary, { force: true });
  return `${dir}/${exe}`;
}
