/**
 * apt end to end: a real `apt-get update` and `apt-get download` through
 * hoard from a Debian repository served on 127.0.0.1 (a .deb built with
 * dpkg-deb, indexed with apt-ftparchive), in a private apt root that never
 * reads or writes the machine's own apt configuration, lists or caches. The
 * second run, with apt's lists and archives emptied, takes the .deb from the
 * cache; apt asks `Cache-Control: max-age=0` for index files, so hoard checks
 * Release and Packages with the origin — conditional requests answered 304.
 */

import assert from "node:assert/strict";
import { cacheSettled } from "../_helpers/cache_origin.ts";
import {
  exchangeLines,
  httpDate,
  loggedRequests,
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../_helpers/package_managers.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { tempDir } from "./ci_helpers.ts";

const MISSING = missingTool([
  ["apt-get", "--version"],
  ["apt-ftparchive", "--version"],
  ["dpkg-deb", "--version"],
  ["gzip", "--version"],
]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const PACKAGE = "hoard-hello";
const DEB = `${PACKAGE}_0.1_all.deb`;
const DEB_PATH = `/pool/main/h/${PACKAGE}/${DEB}`;
const DIST = "/dists/stable";
const PACKAGES = `${DIST}/main/binary-amd64/Packages`;

/** Builds a .deb holding one file, indexes it, and returns the repository's files by URL path. */
async function buildRepository(dir: string): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const pkg = `${dir}/pkg`;
  const repo = `${dir}/repo`;
  await Deno.mkdir(`${pkg}/DEBIAN`, { recursive: true });
  await Deno.mkdir(`${pkg}/usr/share/${PACKAGE}`, { recursive: true });
  await Deno.writeTextFile(
    `${pkg}/DEBIAN/control`,
    `Package: ${PACKAGE}\nVersion: 0.1\nArchitecture: all\n` +
      `Maintainer: hoard tests <hoard@localhost>\nDescription: one file, for hoard's apt test\n`,
  );
  await Deno.writeTextFile(`${pkg}/usr/share/${PACKAGE}/hello.txt`, "hello from hoard's cache\n");
  await Deno.mkdir(`${repo}${DEB_PATH.replace(/\/[^/]+$/, "")}`, { recursive: true });
  await Deno.mkdir(`${repo}${PACKAGES.replace(/\/[^/]+$/, "")}`, { recursive: true });
  await run("dpkg-deb", ["--root-owner-group", "--build", pkg, `${repo}${DEB_PATH}`]);
  const packages = await run("apt-ftparchive", ["packages", "pool"], { cwd: repo });
  await Deno.writeTextFile(`${repo}${PACKAGES}`, packages.stdout);
  await run("gzip", ["-9nk", `${repo}${PACKAGES}`]);
  // Written elsewhere first: apt-ftparchive would list a Release it finds in the tree.
  const release = await run("apt-ftparchive", [
    ...["-o", "APT::FTPArchive::Release::Suite=stable"],
    ...["-o", "APT::FTPArchive::Release::Codename=stable"],
    ...["-o", "APT::FTPArchive::Release::Architectures=amd64"],
    ...["-o", "APT::FTPArchive::Release::Components=main"],
    ...["release", `dists/stable`],
  ], { cwd: repo });
  await Deno.writeTextFile(`${repo}${DIST}/Release`, release.stdout);

  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const path of [DEB_PATH, PACKAGES, `${PACKAGES}.gz`, `${DIST}/Release`]) {
    files.set(path, await Deno.readFile(`${repo}${path}`));
  }
  return files;
}

/**
 * A private apt root under `root`: every directory apt reads or writes, and
 * a config file for `APT_CONFIG` that apt reads instead of the machine's
 * (/etc/apt/apt.conf and apt.conf.d, whose hooks could touch the machine).
 */
async function aptRoot(root: string, originUrl: string): Promise<string> {
  for (const d of ["etc/apt.conf.d", "etc/sources.list.d", "etc/preferences.d"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  for (const d of ["etc/trusted.gpg.d", "state/lists/partial", "cache/archives/partial", "log"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.writeTextFile(`${root}/state/status`, "");
  await Deno.writeTextFile(
    `${root}/etc/sources.list`,
    `deb [trusted=yes] ${originUrl}/ stable main\n`,
  );
  const config = `${root}/apt.conf`;
  await Deno.writeTextFile(
    config,
    [
      `Dir "${root}/";`,
      `Dir::Etc "${root}/etc/";`,
      `Dir::Etc::main "${root}/etc/apt.conf";`,
      `Dir::Etc::parts "${root}/etc/apt.conf.d/";`,
      `Dir::Etc::sourcelist "${root}/etc/sources.list";`,
      `Dir::Etc::sourceparts "${root}/etc/sources.list.d/";`,
      `Dir::Etc::trusted "${root}/etc/trusted.gpg";`,
      `Dir::Etc::trustedparts "${root}/etc/trusted.gpg.d/";`,
      `Dir::Etc::preferences "${root}/etc/preferences";`,
      `Dir::Etc::preferencesparts "${root}/etc/preferences.d/";`,
      `Dir::State "${root}/state/";`,
      `Dir::State::lists "${root}/state/lists/";`,
      `Dir::State::status "${root}/state/status";`,
      `Dir::Cache "${root}/cache/";`,
      `Dir::Cache::archives "${root}/cache/archives/";`,
      `Dir::Log "${root}/log/";`,
      // As root apt would drop to _apt, which cannot write a temp dir of root's.
      `APT::Sandbox::User "root";`,
      `APT::Architecture "amd64";`,
      `APT::Architectures { "amd64"; };`,
      `Acquire::Languages "none";`,
      `Acquire::Retries "0";`,
      "",
    ].join("\n"),
  );
  return config;
}

/** Empties what apt keeps between runs (lists, package caches, archives), so it asks again. */
async function forget(root: string): Promise<void> {
  for (const dir of [`${root}/state/lists`, `${root}/cache`, `${root}/cache/archives`]) {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) await Deno.remove(`${dir}/${e.name}`);
    }
  }
}

Deno.test({
  name: `apt-get update and download through hoard: the .deb from the cache${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-apt-test-");
    const built = await buildRepository(tmp.path);
    // Just published, and the origin wants everything revalidated: only
    // hoard's rules make the .deb a hit (fresh forever) and the metadata
    // fresh for a minute.
    const lastModified = httpDate(Date.now());
    const files = new Map<string, ServedFile>(
      [...built].map(([path, body]) => [path, {
        body,
        lastModified,
        headers: { "cache-control": "max-age=0" },
      }]),
    );
    await using origin = startFileOrigin(files);
    await using proxy = await startTestProxy({ logFormat: "json" });
    const root = `${tmp.path}/apt`;
    const config = await aptRoot(root, origin.url);
    const downloads = `${tmp.path}/downloads`;
    await Deno.mkdir(downloads);

    const aptGet = (...args: string[]) =>
      run("apt-get", ["-q", "-o", `Acquire::http::Proxy=${proxy.url}`, ...args], {
        env: { APT_CONFIG: config },
        cwd: downloads,
      });
    const round = async (n: number) => {
      await forget(root);
      await Deno.remove(`${downloads}/${DEB}`).catch(() => {});
      const start = performance.now();
      const update = await aptGet("update");
      await aptGet("download", PACKAGE);
      const ms = performance.now() - start;
      assert.doesNotMatch(update.stdout + update.stderr, /^(Err|W|E):/m, `run ${n}`);
      assert.deepEqual(await Deno.readFile(`${downloads}/${DEB}`), built.get(DEB_PATH), `run ${n}`);
      await cacheSettled(proxy.cacheDir);
      return ms;
    };

    const cold = await round(1);
    const coldSeen = exchangeLines(origin.exchanges);
    const coldLogged = loggedRequests(proxy.logs).length;
    assert.deepEqual(
      coldSeen,
      [
        `GET ${DIST}/InRelease 404`,
        `GET ${DIST}/Release 200`,
        `GET ${DIST}/Release.gpg 404`,
        `GET ${PACKAGES}.gz 200`,
        `GET ${DEB_PATH} 200`,
      ].sort(),
    );

    const warm = await round(2);
    const warmSeen = exchangeLines(origin.exchanges.slice(coldSeen.length));
    // apt asks max-age=0 for InRelease, Release and Packages: what exists is
    // only checked (304); the missing InRelease has no validator, so its 404
    // is asked again. Release.gpg is not an index to apt (no max-age=0): its
    // 404 is fresh for the minute of the "apt Release.gpg" rule. The .deb is
    // not asked for at all.
    assert.deepEqual(
      warmSeen,
      [
        `GET ${DIST}/InRelease 404`,
        `GET? ${DIST}/Release 304`,
        `GET? ${PACKAGES}.gz 304`,
      ].sort(),
    );
    const warmLog = loggedRequests(proxy.logs).slice(coldLogged).map((r) =>
      `${r.url.slice(origin.url.length)} ${r.status} ${r.cacheStatus?.replace(/ttl=\d+/, "ttl=N")}`
    );
    assert.deepEqual(warmLog, [
      `${DIST}/InRelease 404 hoard; fwd=request; fwd-status=404; stored`,
      `${DIST}/Release 200 hoard; fwd=request; fwd-status=304`,
      `${DIST}/Release.gpg 404 hoard; hit; ttl=N`,
      `${PACKAGES}.gz 200 hoard; fwd=request; fwd-status=304`,
      `${DEB_PATH} 200 hoard; hit; ttl=N`,
    ]);
    console.log(
      `apt-get update + download: cold ${cold.toFixed(0)} ms, warm ${warm.toFixed(0)} ms; ` +
        `origin saw ${coldSeen.length} then ${warmSeen.length} requests`,
    );
  },
});
