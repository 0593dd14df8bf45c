/**
 * Container images through hoard with the real clients: skopeo and podman
 * (Go programs: they read HTTPS_PROXY and SSL_CERT_FILE, which is what `hoard
 * env --for skopeo` / `--for podman` sets) pull an OCI image from Debian's
 * `docker-registry` (the CNCF distribution registry) over TLS with basic
 * auth, so every manifest and blob request carries Authorization as on real
 * registries.
 *
 * Each client runs with a CA directory of its own (`--src-cert-dir` /
 * `--cert-dir`, what /etc/containers/certs.d/HOST/ holds on a user's machine)
 * whose `ca.crt` is the system's roots, not hoard's CA: the containers
 * libraries add it to the system pool, which SSL_CERT_FILE replaces with
 * hoard's bundle, so hoard's environment still wins (shown by a run without
 * it, which fails).
 *
 * Cold, warm (the client's own storage empty: every blob a hit, the registry
 * answers one 304 for the manifest and no blob request), registry stopped
 * (the pull still succeeds). Then the shared-tenancy rules: a blob stored for
 * one client's credentials is served to another only after the registry
 * accepted that client's own.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ClientLab, labUrl, startClientLab } from "../../_helpers/client_lab.ts";
import {
  buildOciImage,
  hexDigest,
  type OciImage,
  type OciRegistry,
  pushOciImage,
  type RegistryRequest,
  startBlobStorage,
  startOciRegistry,
} from "../../_helpers/oci_registry.ts";
import {
  type LoggedRequest,
  missingTool,
  run,
  type RunResult,
} from "../../_helpers/package_managers.ts";

const REGISTRY_MISSING = missingTool([
  ["docker-registry", "--version"],
  ["htpasswd", "-nbB", "probe", "probe"],
]);
const SKOPEO_MISSING = REGISTRY_MISSING ?? missingTool([["skopeo", "--version"]]);
const PODMAN_MISSING = SKOPEO_MISSING ?? missingTool([["podman", "--version"]]) ??
  // Rootless podman needs subordinate id maps this machine may not have; rootful needs no daemon.
  (Deno.uid() === 0
    ? undefined
    : "podman pull here runs rootful (vfs storage), and this is not root");
const skip = (missing: string | undefined) => missing === undefined ? "" : ` (ignored: ${missing})`;

const USERS = { ci: "s3cret", other: "0ther" };
const CREDS = "ci:s3cret";
const REPO = "team/app";
/** Three layers of a few hundred KiB (gzip of random bytes: as large compressed). */
const LAYERS = [300_000, 500_000, 200_000];
const RUN_MS = 90_000;

/** The image, pushed once into a registry storage that each test's registry serves. */
interface Seed {
  storage: string;
  image: OciImage;
  /** A CA directory of the client's own: the system's roots, not hoard's CA. */
  certDir: string;
}

let workDir: string | undefined;
let seed: Promise<Seed> | undefined;

function seeded(): Promise<Seed> {
  return seed ??= (async () => {
    workDir = await Deno.makeTempDir({ prefix: "hoard-oci-test-" });
    const image = await buildOciImage(`${workDir}/layout`, LAYERS);
    const storage = `${workDir}/storage`;
    {
      // Pushed straight to the registry, not through hoard.
      await using registry = await startOciRegistry({ users: USERS, storage });
      await pushOciImage(registry, image, REPO);
    }
    const certDir = `${workDir}/certs.d`;
    await Deno.mkdir(certDir);
    const system = "/etc/ssl/certs/ca-certificates.crt";
    const roots = await Deno.readTextFile(system).catch(() => "");
    await Deno.writeTextFile(`${certDir}/ca.crt`, roots);
    return { storage, image, certDir };
  })();
}

globalThis.addEventListener("unload", () => {
  if (workDir !== undefined) {
    try {
      Deno.removeSync(workDir, { recursive: true });
    } catch { /* gone */ }
  }
});

/** A registry serving the seeded image and a hoard for `client` in front of it. */
async function setUp(
  client: string,
  tenancy?: "single" | "shared",
): Promise<{ s: Seed; registry: OciRegistry; lab: ClientLab; ref: string } & AsyncDisposable> {
  const s = await seeded();
  const registry = await startOciRegistry({ users: USERS, storage: s.storage });
  let lab: ClientLab;
  try {
    lab = await startClientLab({
      for: client,
      ports: [registry.port],
      ...(tenancy === undefined ? {} : { proxy: { tenancy } }),
    });
  } catch (err) {
    await registry[Symbol.asyncDispose]();
    throw err;
  }
  return {
    s,
    registry,
    lab,
    ref: `oci.hoard.test:${registry.port}/${REPO}:${s.image.tag}`,
    [Symbol.asyncDispose]: async () => {
      await lab[Symbol.asyncDispose]();
      await registry[Symbol.asyncDispose]();
    },
  };
}

const isBlob = (url: string) => /\/blobs\/sha256:[0-9a-f]{64}$/.test(url);
const blobsAt = (requests: RegistryRequest[]) => requests.filter((r) => isBlob(r.uri));
const pathOf = (l: LoggedRequest) => new URL(l.url).pathname;

/** Every blob of the image (layers and config), by digest. */
const blobDigests = (image: OciImage) => [image.config, ...image.layers].map((b) => b.digest);

/** Checks a `dir:` copy: the manifest and every blob, byte for byte (by SHA-256). */
async function assertDirCopy(dir: string, image: OciImage): Promise<void> {
  const manifest = await Deno.readFile(`${dir}/manifest.json`);
  assert.equal(`sha256:${hexDigest(manifest)}`, image.manifest.digest);
  for (const digest of blobDigests(image)) {
    const hex = digest.slice("sha256:".length);
    assert.equal(hexDigest(await Deno.readFile(`${dir}/${hex}`)), hex, digest);
  }
}

function skopeoCopy(
  s: Seed,
  ref: string,
  dest: string,
  env: Record<string, string>,
  creds = CREDS,
): Promise<RunResult> {
  return run("skopeo", [
    "copy",
    "--src-cert-dir",
    s.certDir,
    "--src-creds",
    creds,
    `docker://${ref}`,
    `dir:${dest}`,
  ], { env, timeoutMs: RUN_MS });
}

/** What hoard logged for the image's blobs from `mark` on, as `path route`. */
function blobRoutes(lab: ClientLab, mark: number): string[] {
  return lab.requests(mark).filter((l) => isBlob(l.url)).map((l) => `${pathOf(l)} ${l.route}`)
    .sort();
}

function expectedBlobRoutes(image: OciImage, route: string): string[] {
  return blobDigests(image).map((d) => `/v2/${REPO}/blobs/${d} ${route}`).sort();
}

async function version(cmd: string): Promise<string> {
  const out = await run(cmd, ["--version"]);
  return /(\d+\.\d+\.\d+)/.exec(out.stdout)?.[1] ?? out.stdout.trim();
}

Deno.test({
  name:
    `skopeo copy through hoard: cold stores every blob, warm fetches none, registry down still pulls${
      skip(SKOPEO_MISSING)
    }`,
  ignore: SKOPEO_MISSING !== undefined,
  async fn() {
    await using t = await setUp("skopeo");
    const { s, registry, lab, ref } = t;
    const out = await Deno.makeTempDir({ prefix: "hoard-skopeo-" });
    try {
      // The client's CA directory alone does not trust hoard: without hoard's
      // SSL_CERT_FILE the pull fails on hoard's certificate.
      const { SSL_CERT_FILE: _, ...withoutCa } = lab.env;
      await assert.rejects(
        skopeoCopy(s, ref, `${out}/refused`, withoutCa),
        /certificate signed by unknown authority/,
      );

      // Cold: every blob reaches the registry once, through hoard, and is stored
      // although the requests carry Authorization.
      let mark = lab.mark(), seen = registry.requests().length;
      const cold = await skopeoCopy(s, ref, `${out}/cold`, lab.env);
      await assertDirCopy(`${out}/cold`, s.image);
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "miss"));
      assert.equal(blobsAt(registry.requests().slice(seen)).length, blobDigests(s.image).length);
      for (const l of lab.requests(mark).filter((l) => isBlob(l.url))) {
        assert.match(l.cacheStatus ?? "", /stored/, l.url);
      }
      const coldOrigin = lab.originRequests(mark).length;
      await lab.settled();

      // Warm, a fresh destination: every blob a hit, no blob request at the
      // registry; the manifest by tag is revalidated (304), the version check
      // asked again (its 401 is what tells skopeo to send credentials).
      mark = lab.mark();
      seen = registry.requests().length;
      const warm = await skopeoCopy(s, ref, `${out}/warm`, lab.env);
      await assertDirCopy(`${out}/warm`, s.image);
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "hit"));
      assert.deepEqual(blobsAt(registry.requests().slice(seen)), []);
      const warmOrigin = lab.originRequests(mark);
      assert.deepEqual(
        warmOrigin.map((l) => `${pathOf(l)} ${l.route} ${l.status}`).sort(),
        [`/v2/ revalidate 401`, `/v2/${REPO}/manifests/${s.image.tag} revalidate 200`],
      );
      assert.match(
        warmOrigin.find((l) => l.url.includes("/manifests/"))?.cacheStatus ?? "",
        /fwd-status=304/,
      );

      // Single tenancy (the default): a stored blob is served to any client of
      // this hoard, even one without credentials.
      const layer = s.image.layers[0]!;
      const anonymous = await curlThrough(
        lab,
        `${labUrl("oci", registry.port)}/v2/${REPO}/blobs/${layer.digest}`,
      );
      assert.equal(anonymous.status, 200);
      assert.equal(`sha256:${hexDigest(anonymous.body)}`, layer.digest);
      await lab.settled();

      // The registry is gone: the pull still succeeds, from hoard alone.
      await registry.stop();
      mark = lab.mark();
      const down = await skopeoCopy(s, ref, `${out}/down`, lab.env);
      await assertDirCopy(`${out}/down`, s.image);
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "hit"));
      for (const l of lab.originRequests(mark)) {
        assert.match(l.cacheStatus ?? "", /detail=stale-if-error/, l.url);
      }

      console.log(
        `skopeo ${await version("skopeo")} (docker-registry ${await version("docker-registry")}, ` +
          `${blobDigests(s.image).length} blobs, ${kib(s.image)} KiB): cold ${ms(cold)}, ` +
          `warm ${ms(warm)}, registry down ${ms(down)}; origin requests ${coldOrigin} / ` +
          `${warmOrigin.length} (0 blobs) / 0`,
      );
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    `podman pull through hoard: cold stores every blob, warm fetches none, registry down still pulls${
      skip(PODMAN_MISSING)
    }`,
  ignore: PODMAN_MISSING !== undefined,
  async fn() {
    await using t = await setUp("podman");
    const { s, registry, lab, ref } = t;
    const out = await Deno.makeTempDir({ prefix: "hoard-podman-" });
    let runs = 0;
    /** `podman pull` into an empty storage (vfs, its own root): no daemon, nothing shared. */
    const pull = async () => {
      const root = `${out}/${runs++}`;
      const podman = [
        "--root",
        `${root}/storage`,
        "--runroot",
        `${root}/run`,
        "--tmpdir",
        `${root}/tmp`,
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
      ];
      const result = await run(
        "podman",
        [
          ...podman,
          "pull",
          "--quiet",
          "--cert-dir",
          s.certDir,
          "--creds",
          CREDS,
          `docker://${ref}`,
        ],
        { env: lab.env, timeoutMs: RUN_MS },
      );
      // The image unpacked: each layer's file, byte for byte.
      const mount = await run("podman", [...podman, "image", "mount", ref], { env: lab.env });
      try {
        for (const f of s.image.files) {
          const bytes = await Deno.readFile(`${mount.stdout.trim()}/${f.path}`);
          assert.equal(hexDigest(bytes), f.sha256, f.path);
        }
      } finally {
        await run("podman", [...podman, "image", "unmount", "--all"], { env: lab.env });
      }
      return result;
    };
    try {
      let mark = lab.mark(), seen = registry.requests().length;
      const cold = await pull();
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "miss"));
      assert.equal(blobsAt(registry.requests().slice(seen)).length, blobDigests(s.image).length);
      const coldOrigin = lab.originRequests(mark).length;
      await lab.settled();

      mark = lab.mark();
      seen = registry.requests().length;
      const warm = await pull();
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "hit"));
      assert.deepEqual(blobsAt(registry.requests().slice(seen)), []);
      const warmOrigin = lab.originRequests(mark);
      for (const l of warmOrigin) assert.equal(l.route, "revalidate", l.url);
      await lab.settled();

      await registry.stop();
      mark = lab.mark();
      const down = await pull();
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "hit"));

      console.log(
        `podman ${await version("podman")} (rootful, vfs): cold ${ms(cold)}, warm ${ms(warm)}, ` +
          `registry down ${ms(down)}; origin requests ${coldOrigin} / ${warmOrigin.length} ` +
          `(0 blobs) / 0`,
      );
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    `skopeo copy from a registry that redirects blobs to object storage: warm and down need neither${
      skip(SKOPEO_MISSING)
    }`,
  ignore: SKOPEO_MISSING !== undefined,
  async fn() {
    const s = await seeded();
    await using storage = await startBlobStorage(s.storage);
    await using registry = await startOciRegistry({
      users: USERS,
      storage: s.storage,
      redirect: labUrl("storage", storage.port),
    });
    await using lab = await startClientLab({
      for: "skopeo",
      ports: [registry.port, storage.port],
    });
    const ref = `oci.hoard.test:${registry.port}/${REPO}:${s.image.tag}`;
    const out = await Deno.makeTempDir({ prefix: "hoard-skopeo-redirect-" });
    const stored = (l: LoggedRequest) => new URL(l.url).host.startsWith("storage.");
    try {
      // Cold: each blob is a redirect (stored, to stand in while the registry is
      // down) and the blob from storage (stored under its path, signature or not).
      let mark = lab.mark();
      const cold = await skopeoCopy(s, ref, `${out}/cold`, lab.env);
      await assertDirCopy(`${out}/cold`, s.image);
      const coldLines = lab.requests(mark);
      assert.deepEqual(
        coldLines.filter((l) => isBlob(l.url)).map((l) => `${l.status} ${l.route}`),
        blobDigests(s.image).map(() => "307 miss"),
      );
      assert.equal(coldLines.filter(stored).length, blobDigests(s.image).length);
      for (const l of coldLines.filter(stored)) assert.equal(`${l.status} ${l.route}`, "200 miss");
      await lab.settled();

      // Warm: the registry is asked for each redirect again; storage for nothing.
      mark = lab.mark();
      const storageSeen = storage.requests.length;
      const warm = await skopeoCopy(s, ref, `${out}/warm`, lab.env);
      await assertDirCopy(`${out}/warm`, s.image);
      assert.equal(storage.requests.length, storageSeen);
      for (const l of lab.requests(mark).filter(stored)) assert.equal(l.route, "hit", l.url);
      const warmOrigin = lab.originRequests(mark).length;
      await lab.settled();

      // Registry and storage both gone: the stored redirects lead to stored blobs.
      await registry.stop();
      await storage.stop();
      mark = lab.mark();
      const down = await skopeoCopy(s, ref, `${out}/down`, lab.env);
      await assertDirCopy(`${out}/down`, s.image);
      for (const l of lab.requests(mark).filter((l) => isBlob(l.url))) {
        assert.match(l.cacheStatus ?? "", /detail=stale-if-error/, l.url);
      }
      console.log(
        `skopeo ${await version("skopeo")}, blobs redirected to storage: cold ${ms(cold)}, ` +
          `warm ${ms(warm)}, registry and storage down ${ms(down)}; origin requests ` +
          `${coldLines.length} / ${warmOrigin} (0 to storage) / 0`,
      );
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: `tenancy shared: a stored blob is served only to clients the registry accepts${
    skip(SKOPEO_MISSING)
  }`,
  ignore: SKOPEO_MISSING !== undefined,
  async fn() {
    await using t = await setUp("skopeo", "shared");
    const { s, registry, lab, ref } = t;
    const out = await Deno.makeTempDir({ prefix: "hoard-shared-" });
    try {
      await skopeoCopy(s, ref, `${out}/cold`, lab.env);
      await assertDirCopy(`${out}/cold`, s.image);
      await lab.settled();

      // Warm: each blob is checked with the client's own credentials — a
      // conditional request the registry answers 304 — and served from hoard.
      let mark = lab.mark();
      const seen = registry.requests().length;
      await skopeoCopy(s, ref, `${out}/warm`, lab.env);
      await assertDirCopy(`${out}/warm`, s.image);
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "check"));
      for (const l of lab.requests(mark).filter((l) => isBlob(l.url))) {
        assert.match(l.cacheStatus ?? "", /fwd-status=304; detail=credentials/, l.url);
      }
      const atRegistry = blobsAt(registry.requests().slice(seen));
      assert.equal(atRegistry.length, blobDigests(s.image).length);
      for (const r of atRegistry) assert.equal(r.status, 304, r.uri);

      // Another user the registry knows is checked the same way and served.
      mark = lab.mark();
      await skopeoCopy(s, ref, `${out}/other`, lab.env, "other:0ther");
      await assertDirCopy(`${out}/other`, s.image);
      assert.deepEqual(blobRoutes(lab, mark), expectedBlobRoutes(s.image, "check"));

      // Wrong credentials, or none: the registry's 401, and none of the blob's bytes.
      const layer = s.image.layers[1]!;
      const url = `${labUrl("oci", registry.port)}/v2/${REPO}/blobs/${layer.digest}`;
      mark = lab.mark();
      const wrong = await curlThrough(lab, url, "ci:wrong");
      assert.equal(wrong.status, 401);
      assert.ok(wrong.body.length < 1024, `${wrong.body.length} bytes`);
      assert.match(new TextDecoder().decode(wrong.body), /UNAUTHORIZED/);
      const none = await curlThrough(lab, url);
      assert.equal(none.status, 401);
      assert.ok(none.body.length < 1024, `${none.body.length} bytes`);
      assert.deepEqual(
        lab.requests(mark).map((l) => `${l.route} ${l.status}`),
        ["check 401", "pass 401"],
      );
      await assert.rejects(
        skopeoCopy(s, ref, `${out}/wrong`, lab.env, "ci:wrong"),
        /401|unauthorized/i,
      );

      // The registry is gone: nobody's credentials can be checked, so nothing
      // stored for credentials is served.
      await registry.stop();
      await assert.rejects(skopeoCopy(s, ref, `${out}/down`, lab.env));
      const ok = await curlThrough(lab, url, CREDS);
      assert.equal(ok.status, 502);
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});

/** GET `url` with curl through hoard (trusting hoard's bundle), with `creds` when given. */
async function curlThrough(
  lab: ClientLab,
  url: string,
  creds?: string,
): Promise<{ status: number; body: Uint8Array }> {
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--proxy",
      lab.env["HTTPS_PROXY"]!,
      "--cacert",
      `${lab.caDir}/bundle.pem`,
      ...(creds === undefined ? [] : ["-u", creds]),
      "-w",
      "\n%{http_code}",
      url,
    ],
    clearEnv: true,
    env: { PATH: lab.env["PATH"]! },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const end = out.stdout.lastIndexOf(0x0a);
  return {
    status: Number(new TextDecoder().decode(out.stdout.subarray(end + 1))),
    body: out.stdout.subarray(0, end),
  };
}

const ms = (r: RunResult) => `${r.ms.toFixed(0)} ms`;
const kib = (image: OciImage) =>
  Math.round([image.config, ...image.layers].reduce((n, b) => n + b.size, 0) / 1024);
