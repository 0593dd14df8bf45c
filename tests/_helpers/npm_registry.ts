/**
 * A static npm registry on 127.0.0.1 over HTTPS, for end-to-end tests of real
 * package managers through hoard: packages built on the fly as real `.tgz`
 * files (with their `sha512` integrity and `sha1` shasum), packuments at
 * `/<name>` pointing at `https://localhost:PORT/<name>/-/<name>-<v>.tgz`, and
 * the tarballs at those paths. It answers the way a public registry does:
 * packuments `max-age=300` (by default) with an ETag, tarballs with an ETag and
 * `Cache-Control: no-cache` (so only hoard's rules make them fresh), and
 * `If-None-Match` with 304.
 *
 * @module
 */

import { pseudoRandom } from "./cache_origin.ts";
import { startOrigin, type TestOrigin } from "./origin.ts";
import { makeCert, type TestCert } from "./tls.ts";

/** One version of one package to publish. */
export interface PackageSpec {
  /** Package name (`name` or `@scope/name`). */
  name: string;
  /** Its version. */
  version: string;
  /** Dependencies, name to range. @default {{}} */
  dependencies?: Record<string, string>;
  /** The text of `index.js`. @default {a module exporting its name and version} */
  main?: string;
  /** Bytes of incompressible data added as `data.bin` (to give a tarball weight). @default {0} */
  padding?: number;
}

/** A package version built into a tarball. */
export interface BuiltPackage {
  /** What it was built from. */
  spec: PackageSpec;
  /** The `.tgz` bytes. */
  tarball: Uint8Array<ArrayBuffer>;
  /** `sha512-<base64>` of the tarball (Subresource Integrity). */
  integrity: string;
  /** SHA-1 of the tarball, hex. */
  shasum: string;
  /** Path of the tarball on the registry: `/<name>/-/<basename>-<version>.tgz`. */
  tarballPath: string;
}

/** One response the registry sent, for figures. */
export interface ServedRequest {
  /** Path and query requested. */
  path: string;
  /** Status sent. */
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

/** How {@linkcode startNpmRegistry} serves. */
export interface NpmRegistryOptions {
  /** The certificate to serve (also what clients and hoard must trust). @default {a fresh one} */
  cert?: TestCert;
  /**
   * The host name in its URLs (the tarball URLs of packuments, `url`), for a
   * registry under a name the certificate holds, e.g. `npm.hoard.test`.
   * @default {"localhost"}
   */
  host?: string;
  /** Delay before each answer, standing in for a distant registry. @default {0} */
  latencyMs?: number;
  /** `Cache-Control` of packuments. @default {"public, max-age=300"} */
  packumentCacheControl?: string;
  /** Called after each answer is made (before its body is sent). */
  onServe?: (served: ServedRequest) => void;
}

/** A running registry. */
export interface NpmRegistry extends AsyncDisposable {
  /** The HTTPS origin behind it (records every request). */
  origin: TestOrigin;
  /** Its certificate (for `localhost` and 127.0.0.1), PEM. */
  cert: TestCert;
  /** Its port. */
  port: number;
  /** `https://HOST:PORT/` (`localhost` by default): the value for `--registry` / `NPM_CONFIG_REGISTRY`. */
  url: string;
  /** Every package version published, in the order given. */
  packages: BuiltPackage[];
  /** Path of the packument of `name`: `/name`, `/@scope%2fname` for a scoped one. */
  packumentPath(name: string): string;
  /** Requests for `path` (path and query) so far. */
  count(path: string): number;
  /** Body bytes sent so far. */
  readonly bytesSent: number;
  /** Stops it. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** Builds `spec` into a real npm tarball with `tar -czf` (a `package/` directory inside). */
export async function buildPackage(spec: PackageSpec): Promise<BuiltPackage> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-npm-pkg-" });
  try {
    await Deno.mkdir(`${dir}/package`);
    const manifest = {
      name: spec.name,
      version: spec.version,
      main: "index.js",
      license: "MIT",
      dependencies: spec.dependencies ?? {},
    };
    await Deno.writeTextFile(`${dir}/package/package.json`, JSON.stringify(manifest, null, 2));
    await Deno.writeTextFile(
      `${dir}/package/index.js`,
      spec.main ??
        `module.exports = ${JSON.stringify({ name: spec.name, version: spec.version })};\n`,
    );
    const files = ["package/package.json", "package/index.js"];
    if (spec.padding) {
      await Deno.writeFile(`${dir}/package/data.bin`, noise(spec.padding, spec.name));
      files.push("package/data.bin");
    }
    const out = await new Deno.Command("tar", {
      args: ["-czf", `${dir}/package.tgz`, "-C", dir, ...files],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`tar failed: ${new TextDecoder().decode(out.stderr)}`);
    const tarball = await Deno.readFile(`${dir}/package.tgz`);
    const sha512 = new Uint8Array(await crypto.subtle.digest("SHA-512", tarball));
    const sha1 = new Uint8Array(await crypto.subtle.digest("SHA-1", tarball));
    const base = spec.name.split("/").at(-1)!;
    return {
      spec,
      tarball,
      integrity: `sha512-${btoa(String.fromCharCode(...sha512))}`,
      shasum: [...sha1].map((b) => b.toString(16).padStart(2, "0")).join(""),
      tarballPath: `/${spec.name}/-/${base}-${spec.version}.tgz`,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Builds `specs` and serves them over HTTPS on 127.0.0.1 with a certificate
 * for `localhost`. `dist-tags.latest` of a package is the last version given.
 */
export async function startNpmRegistry(
  specs: PackageSpec[],
  options: NpmRegistryOptions = {},
): Promise<NpmRegistry> {
  const cert = options.cert ?? await makeCert();
  const packages = await Promise.all(specs.map(buildPackage));
  // The tarball URLs name the port, which is known once listening: the
  // packuments are made after the start, before any request can need them.
  const routes = new Map<string, { body: Uint8Array; headers: Record<string, string> }>();
  let bytesSent = 0;
  const latency = options.latencyMs ?? 0;
  const origin = startOrigin(async (req) => {
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    const url = new URL(req.url);
    const route = routes.get(routeKey(url.pathname));
    let res: Response;
    let bytes = 0;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res = new Response(null, { status: 405 });
    } else if (route === undefined) {
      const body = encoder.encode(`{"error":"Not found"}`);
      res = new Response(body, { status: 404, headers: { "content-type": "application/json" } });
      bytes = body.length;
    } else if (
      (req.headers.get("if-none-match") ?? "").split(",").some((t) =>
        t.trim() === route.headers["etag"]
      )
    ) {
      res = new Response(null, { status: 304, headers: route.headers });
    } else {
      const packument = !url.pathname.endsWith(".tgz");
      const headers = { ...route.headers };
      if (packument) {
        // What an abbreviated-metadata client asked for, said back.
        headers["content-type"] = /application\/vnd\.npm\.install-v1\+json/.test(
            req.headers.get("accept") ?? "",
          )
          ? "application/vnd.npm.install-v1+json"
          : "application/json";
      }
      res = new Response(req.method === "HEAD" ? null : route.body.slice(), { headers });
      bytes = req.method === "HEAD" ? 0 : route.body.length;
    }
    bytesSent += bytes;
    options.onServe?.({ path: url.pathname + url.search, status: res.status, bytes });
    return res;
  }, cert);
  const base = `https://${options.host ?? "localhost"}:${origin.port}`;
  const packumentPath = (name: string) => `/${name.replace("/", "%2f")}`;

  const byName = new Map<string, BuiltPackage[]>();
  for (const p of packages) {
    byName.set(p.spec.name, [...(byName.get(p.spec.name) ?? []), p]);
    routes.set(routeKey(p.tarballPath), {
      body: p.tarball,
      headers: {
        "content-type": "application/octet-stream",
        // Stricter than a public registry, on purpose: only hoard's rule can
        // make a tarball fresh, so a test sees whether it applies.
        "cache-control": "no-cache",
        "etag": `"${p.shasum}"`,
      },
    });
  }
  const modified = new Date().toISOString();
  for (const [name, versions] of byName) {
    const doc = {
      name,
      "dist-tags": { latest: versions.at(-1)!.spec.version },
      modified,
      versions: Object.fromEntries(versions.map((p) => [p.spec.version, {
        name,
        version: p.spec.version,
        dependencies: p.spec.dependencies ?? {},
        dist: {
          tarball: `${base}${p.tarballPath}`,
          integrity: p.integrity,
          shasum: p.shasum,
        },
      }])),
    };
    const body = encoder.encode(JSON.stringify(doc));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", body));
    routes.set(routeKey(packumentPath(name)), {
      body,
      headers: {
        "cache-control": options.packumentCacheControl ?? "public, max-age=300",
        "etag": `W/"${[...digest].map((b) => b.toString(16).padStart(2, "0")).join("")}"`,
        "last-modified": new Date(modified).toUTCString(),
        "vary": "Accept",
      },
    });
  }

  let closed: Promise<void> | undefined;
  const close = () => closed ??= origin.close();
  return {
    origin,
    cert,
    port: origin.port,
    url: `${base}/`,
    packages,
    packumentPath,
    count: (path) => origin.requests.filter((r) => r.path === path).length,
    get bytesSent() {
      return bytesSent;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The key of a request path: `%2f` decoded (scoped packuments), undecodable paths kept as they are. */
function routeKey(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Deterministic incompressible bytes, different per `seed` text. */
function noise(length: number, seed: string): Uint8Array<ArrayBuffer> {
  // The text's FNV-1a hash seeds the generator.
  let x = 0x811c9dc5;
  for (const c of seed) x = Math.imul(x ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return pseudoRandom(length, x);
}
