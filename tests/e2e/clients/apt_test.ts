/**
 * apt end to end: a real `apt-get update` and `apt-get download` through
 * hoard from a Debian repository served over HTTPS at
 * `https://apt.hoard.test:PORT/` (a .deb built with dpkg-deb, indexed with
 * apt-ftparchive), in a private apt root that never reads or writes the
 * machine's own apt configuration, lists or caches (`APT_CONFIG` names the
 * root's config: the one variable the test adds to what `hoard env` prints).
 *
 * The root's apt.conf.d holds the user's own snippet: `Acquire::https::CAInfo`
 * pinned to the system bundle (which does not hold hoard's CA) and an office
 * proxy for http and https that CI cannot reach. apt reads no CA from the
 * environment, so `hoard env --for apt` prints `HOARD_APT_OPTIONS`: `-o`
 * options, which apt applies after every config file, so they win.
 *
 * With apt's lists and archives emptied, the warm run takes the .deb from the
 * cache; apt asks `Cache-Control: max-age=0` for index files, so hoard checks
 * Release and Packages with the origin — conditional requests answered 304.
 * With the origin stopped, hoard answers those from what it stored.
 */

import assert from "node:assert/strict";
import { labPki, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import {
  exchangeLines,
  httpDate,
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../../_helpers/package_managers.ts";
import { assertArtifactsHit, runsLine, threeRuns } from "../../_helpers/three_runs.ts";
import { tempDir } from "../ci_helpers.ts";

const MISSING = missingTool([
  ["apt-get", "--version"],
  ["apt-ftparchive", "--version"],
  ["dpkg-deb", "--version"],
  ["gzip", "--version"],
]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const CLIENT_TIMEOUT_MS = 60_000;

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
  // The user's own: the system bundle pinned, and an office proxy (port 9, discard: nothing there).
  await Deno.writeTextFile(
    `${root}/etc/apt.conf.d/80office`,
    [
      `Acquire::https::CAInfo "${SYSTEM_BUNDLE}";`,
      `Acquire::http::Proxy "http://127.0.0.1:9/";`,
      `Acquire::https::Proxy "http://127.0.0.1:9/";`,
      "",
    ].join("\n"),
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
  name: `apt-get update and download through hoard, apt.conf.d pinning CAInfo and a proxy${SKIP}`,
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
    const p = await labPki();
    const origin = startFileOrigin(files, { cert: p.cert, key: p.key });
    let originClosed: Promise<void> | undefined;
    const closeOrigin = () => originClosed ??= origin.close();
    try {
      await using lab = await startClientLab({ for: "apt", ports: [origin.port] });
      const url = labUrl("apt", origin.port);
      const root = `${tmp.path}/apt`;
      const config = await aptRoot(root, url);
      const downloads = `${tmp.path}/downloads`;
      await Deno.mkdir(downloads);
      // As a CI job writes it: apt-get $HOARD_APT_OPTIONS ... (split on spaces by the shell).
      const options = lab.hoardEnv["HOARD_APT_OPTIONS"]!.split(" ");
      const aptGet = (args: string[], opts = options) =>
        run("apt-get", ["-q", ...opts, ...args], {
          env: { ...lab.env, APT_CONFIG: config },
          cwd: downloads,
          timeoutMs: CLIENT_TIMEOUT_MS,
        });

      const runs = await threeRuns(lab, closeOrigin, async (name) => {
        await forget(root);
        await Deno.remove(`${downloads}/${DEB}`).catch(() => {});
        const update = await aptGet(["update"]);
        await aptGet(["download", PACKAGE]);
        assert.doesNotMatch(update.stdout + update.stderr, /^(Err|W|E):/m, name);
        assert.deepEqual(await Deno.readFile(`${downloads}/${DEB}`), built.get(DEB_PATH), name);
      });

      const path = (u: string) => new URL(u).pathname;
      assert.deepEqual(
        exchangeLines(origin.exchanges),
        [
          // cold
          `GET ${DIST}/InRelease 404`,
          `GET ${DIST}/Release 200`,
          `GET ${DIST}/Release.gpg 404`,
          `GET ${PACKAGES}.gz 200`,
          `GET ${DEB_PATH} 200`,
          // warm: apt asks max-age=0 for InRelease, Release and Packages: what
          // exists is only checked (304); the missing InRelease has no
          // validator, so its 404 is asked again. Release.gpg is not an index
          // to apt (no max-age=0): its 404 is fresh for the minute of the "apt
          // Release.gpg" rule. The .deb is not asked for at all.
          `GET ${DIST}/InRelease 404`,
          `GET? ${DIST}/Release 304`,
          `GET? ${PACKAGES}.gz 304`,
        ].sort(),
      );
      assert.deepEqual(
        runs.warm.requests.map((r) =>
          `${path(r.url)} ${r.status} ${r.cacheStatus?.replace(/ttl=\d+/, "ttl=N")}`
        ),
        [
          `${DIST}/InRelease 404 hoard; fwd=request; fwd-status=404; stored`,
          `${DIST}/Release 200 hoard; fwd=request; fwd-status=304`,
          `${DIST}/Release.gpg 404 hoard; hit; ttl=N`,
          `${PACKAGES}.gz 200 hoard; fwd=request; fwd-status=304`,
          `${DEB_PATH} 200 hoard; hit; ttl=N`,
        ],
      );
      // With the origin down, what apt asks again comes from what hoard stored.
      const isDeb = (u: string) => u.endsWith(".deb");
      assertArtifactsHit(runs.down, isDeb, "origin down");
      const version = (await run("apt-get", ["--version"])).stdout.split("\n")[0]!;
      console.log(runsLine("apt", version.replace(/^apt /, ""), runs));

      // Without hoard env's options, the pinned CAInfo (and the office proxy) win.
      await forget(root);
      await assert.rejects(
        aptGet(["update"], ["-o", `Acquire::https::Proxy=${lab.env["HTTPS_PROXY"]}`]).then((r) => {
          if (/^(Err|W|E):/m.test(r.stdout + r.stderr)) throw new Error(r.stdout + r.stderr);
          return r;
        }),
        /certificate|Certificate/,
      );
    } finally {
      await closeOrigin();
    }
  },
});
