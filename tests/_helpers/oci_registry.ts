/**
 * A real OCI registry for the container-image tests: Debian's `docker-registry`
 * (the CNCF distribution registry) on 127.0.0.1 with the lab's TLS
 * certificate and htpasswd basic auth (bcrypt), so every manifest and blob
 * request carries `Authorization` as on real registries; plus a small image
 * made here (an OCI layout: random layers of a few hundred KiB, a config and
 * a manifest) pushed straight to it with skopeo, not through hoard.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { pseudoRandom } from "./cache_origin.ts";
import { labPki, writePkiFiles } from "./client_lab.ts";
import { run } from "./package_managers.ts";

/** One request the registry logged. */
export interface RegistryRequest {
  /** Method. */
  method: string;
  /** Path and query. */
  uri: string;
  /** The status it answered. */
  status: number;
}

/** A running registry. */
export interface OciRegistry extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** A user the registry knows, and its password. */
  readonly user: string;
  /** The password of `user`. */
  readonly password: string;
  /** A directory with `ca.crt` (the lab CA), for pushing to the registry directly. */
  readonly certDir: string;
  /** Every request the registry answered so far (from its own log). */
  requests(): RegistryRequest[];
  /** Stops the registry (idempotent). */
  stop(): Promise<void>;
}

/** How {@linkcode startOciRegistry} sets up. */
export interface OciRegistryOptions {
  /** Users and passwords in the htpasswd file; the first is `user`. @default {{ ci: "s3cret" }} */
  users?: Record<string, string>;
  /**
   * The registry's storage directory, kept at the end: images pushed once
   * serve several registries one after the other. @default {one of its own, removed}
   */
  storage?: string;
  /**
   * Answer blob GETs with a redirect to this base URL plus the blob's path in
   * the storage (the registry's `redirect` storage middleware), as
   * registries on object storage do. @default {blobs served directly}
   */
  redirect?: string;
}

/**
 * Starts `docker-registry` on a free port of 127.0.0.1 with the lab's
 * certificate, its config (and storage, unless given) in a temp directory
 * removed at the end.
 */
export async function startOciRegistry(options: OciRegistryOptions = {}): Promise<OciRegistry> {
  const users = options.users ?? { ci: "s3cret" };
  const dir = await Deno.makeTempDir({ prefix: "hoard-oci-registry-" });
  const storage = options.storage ?? `${dir}/data`;
  const pki = await writePkiFiles(`${dir}/pki`);
  const certDir = `${dir}/certs`;
  await Deno.mkdir(certDir);
  await Deno.copyFile(pki.ca, `${certDir}/ca.crt`);
  const lines = [];
  for (const [user, password] of Object.entries(users)) {
    // -B: bcrypt, the only scheme the registry accepts.
    lines.push((await run("htpasswd", ["-Bbn", user, password])).stdout.trim());
  }
  await Deno.writeTextFile(`${dir}/htpasswd`, lines.join("\n") + "\n");
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    [
      "version: 0.1",
      "log:",
      "  level: info",
      "  formatter: json",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${storage}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      // A fixed secret keeps the warning about a random one out of the log.
      "  secret: hoard-test",
      "  tls:",
      `    certificate: ${pki.cert}`,
      `    key: ${pki.key}`,
      ...(options.redirect === undefined ? [] : [
        "middleware:",
        "  storage:",
        "    - name: redirect",
        "      options:",
        `        baseurl: ${options.redirect}`,
      ]),
      "auth:",
      "  htpasswd:",
      "    realm: hoard-test",
      `    path: ${dir}/htpasswd`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const pump = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await pump;
    })();
  const close = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitListening(port, () => log);
  } catch (err) {
    await close();
    throw err;
  }
  const [user, password] = Object.entries(users)[0]!;
  return {
    port,
    user,
    password,
    certDir,
    requests: () => parseRequests(log),
    stop,
    [Symbol.asyncDispose]: close,
  };
}

/** The requests in the registry's JSON log ("response completed" lines). */
function parseRequests(log: string): RegistryRequest[] {
  const out: RegistryRequest[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line);
    if (typeof o["http.request.uri"] !== "string" || o["http.response.status"] === undefined) {
      continue;
    }
    out.push({
      method: o["http.request.method"],
      uri: o["http.request.uri"],
      status: Number(o["http.response.status"]),
    });
  }
  return out;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitListening(port: number, log: () => string): Promise<void> {
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > until) throw new Error(`docker-registry did not listen:\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Object storage in front of a registry's storage directory, for its redirects. */
export interface BlobStorage extends AsyncDisposable {
  /** Its port on 127.0.0.1 (HTTPS, the lab's certificate). */
  readonly port: number;
  /** Path (and query) of every request it answered. */
  readonly requests: string[];
  /** Stops it (idempotent). */
  stop(): Promise<void>;
}

/**
 * Serves the files of a registry's storage directory by path over HTTPS, as
 * the object store behind a redirecting registry does (with the file's
 * digest as ETag, 304 to a matching If-None-Match). The query — a real
 * store's signature — is ignored.
 */
export async function startBlobStorage(storage: string): Promise<BlobStorage> {
  const pki = await labPki();
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: pki.cert, key: pki.key, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      requests.push(url.pathname + url.search);
      const m = /\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/.exec(url.pathname);
      if (m === null || url.pathname.includes("..")) return new Response(null, { status: 404 });
      const etag = `"${m[1]}"`;
      if (req.headers.get("if-none-match") === etag) {
        return new Response(null, { status: 304, headers: { etag } });
      }
      try {
        const body = await Deno.readFile(`${storage}${url.pathname}`);
        return new Response(req.method === "HEAD" ? null : body, {
          headers: { etag, "content-type": "application/octet-stream" },
        });
      } catch {
        return new Response(null, { status: 404 });
      }
    },
  );
  let stopped: Promise<void> | undefined;
  const stop = () => stopped ??= server.shutdown();
  return { port: server.addr.port, requests, stop, [Symbol.asyncDispose]: stop };
}

/** One blob of an {@linkcode OciImage}. */
export interface OciBlob {
  /** `sha256:<hex>`. */
  digest: string;
  /** Its size in bytes. */
  size: number;
}

/** An image in an OCI layout directory. */
export interface OciImage {
  /** The layout directory (`oci:DIR:TAG` for skopeo). */
  layout: string;
  /** The tag in its index. */
  tag: string;
  /** The manifest's digest. */
  manifest: OciBlob;
  /** The config's digest. */
  config: OciBlob;
  /** The layers (gzip tar), in order. */
  layers: OciBlob[];
  /** Each layer's one file: path inside the image and SHA-256 of its content. */
  files: { path: string; sha256: string }[];
}

/**
 * Writes an OCI image layout into `dir`: one layer per entry of `layerSizes`,
 * each a gzip tar holding one file of that many pseudo-random bytes (seeded
 * by `seed`, so two images with different seeds share no blob).
 */
export async function buildOciImage(
  dir: string,
  layerSizes: readonly number[],
  seed = 1,
  tag = "1.0",
): Promise<OciImage> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array<ArrayBuffer>): Promise<OciBlob> => {
    const hex = hexDigest(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${hex}`, bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layers: OciBlob[] = [], diffIds: string[] = [], files: OciImage["files"] = [];
  for (const [i, size] of layerSizes.entries()) {
    const content = pseudoRandom(size, seed * 1000 + i + 1);
    const path = `data/layer${i}.bin`;
    const tar = tarOf(path, content);
    diffIds.push(`sha256:${hexDigest(tar)}`);
    layers.push(await put(await gzip(tar)));
    files.push({ path, sha256: hexDigest(content) });
  }
  const config = await put(json({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/data"] },
    rootfs: { type: "layers", diff_ids: diffIds },
  }));
  const manifest = await put(json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
  }));
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
  return { layout: dir, tag, manifest, config, layers, files };
}

/** Pushes `image` to `registry` as `repo:tag`, straight (no proxy), with skopeo. */
export async function pushOciImage(
  registry: OciRegistry,
  image: OciImage,
  repo: string,
): Promise<void> {
  await run("skopeo", [
    "copy",
    "--quiet",
    "--dest-cert-dir",
    registry.certDir,
    "--dest-creds",
    `${registry.user}:${registry.password}`,
    `oci:${image.layout}:${image.tag}`,
    `docker://localhost:${registry.port}/${repo}:${image.tag}`,
  ], { timeoutMs: 60_000 });
}

/** SHA-256 of `data`, hex. */
export function hexDigest(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(value));
}

async function gzip(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A POSIX ustar archive of one regular file (mode 0644, owner 0, mtime 0)
 * under its directory: what a layer needs to unpack.
 */
function tarOf(path: string, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const slash = path.lastIndexOf("/");
  const entries = [
    ...(slash === -1 ? [] : [header(path.slice(0, slash + 1), 0, "5", 0o755)]),
    header(path, content.length, "0", 0o644),
  ];
  const padded = Math.ceil(content.length / 512) * 512;
  const out = new Uint8Array(entries.length * 512 + padded + 1024);
  entries.forEach((h, i) => out.set(h, i * 512));
  out.set(content, entries.length * 512);
  return out;
}

function header(name: string, size: number, type: string, mode: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, text: string) => h.set(new TextEncoder().encode(text), at);
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";
  put(0, name);
  put(100, octal(mode, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(size, 12));
  put(136, octal(0, 12));
  put(148, "        "); // the checksum counts its own field as spaces
  put(156, type);
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}
