/**
 * pip end to end: a real `pip download` through hoard, intercepting HTTPS,
 * from a PEP 503 simple index on 127.0.0.1. The second run takes the wheel
 * from the cache (the index page may be revalidated: pip asks for
 * `Cache-Control: max-age=0` on index pages), and a third run succeeds with
 * the index server stopped (stale-if-error for the page, the wheel fresh
 * forever).
 */

import assert from "node:assert/strict";
import { cacheSettled, sha256 } from "../_helpers/cache_origin.ts";
import {
  exchangeLines,
  loggedRequests,
  missingTool,
  run,
  type ServedFile,
  startFileOrigin,
} from "../_helpers/package_managers.ts";
import { startTestProxy } from "../_helpers/proxy.ts";
import { makeCert } from "../_helpers/tls.ts";
import { writeBundle } from "../../src/tls/bundle.ts";
import { tempDir } from "./ci_helpers.ts";

const MISSING = missingTool([["python3", "-m", "pip", "--version"]]);
const SKIP = MISSING === undefined ? "" : ` (ignored: ${MISSING})`;

const PROJECT = "hoard-probe";
const WHEEL = "hoard_probe-0.1-py3-none-any.whl";
const WHEEL_PATH = `/packages/3f/a1/${WHEEL}`;
const INDEX_PATH = `/simple/${PROJECT}/`;

/**
 * Writes a minimal valid wheel to `file` with Python's zipfile: a module, and
 * the METADATA, WHEEL and RECORD (with sha256 entries) pip checks.
 */
const MAKE_WHEEL = `
import base64, hashlib, sys, zipfile
di = "hoard_probe-0.1.dist-info"
files = {
    "hoard_probe/__init__.py": b'GREETING = "served by hoard"\\n',
    di + "/METADATA": b"Metadata-Version: 2.1\\nName: hoard-probe\\nVersion: 0.1\\nSummary: probe\\n",
    di + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: hoard-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = ""
for path, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record += f"{path},sha256={digest},{len(data)}\\n"
files[di + "/RECORD"] = (record + di + "/RECORD,,\\n").encode()
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for path, data in files.items():
        z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
`;

Deno.test({
  name: `pip download through hoard: the wheel from the cache, then with the index down${SKIP}`,
  ignore: MISSING !== undefined,
  async fn() {
    await using tmp = await tempDir("hoard-pip-test-");
    const python = (await run("python3", ["-c", "import sys; print(sys.executable)"])).stdout
      .trim();
    await run(python, ["-c", MAKE_WHEEL, `${tmp.path}/${WHEEL}`]);
    const wheel = await Deno.readFile(`${tmp.path}/${WHEEL}`);
    const wheelSha = sha256(wheel);

    // The simple index as PyPI serves it: an HTML page with an ETag, fresh
    // for ten minutes; the wheel with no freshness and no validator at all,
    // so only hoard's "python wheel" rule can make it a hit.
    const page =
      `<!DOCTYPE html>\n<html><body>\n<a href="${WHEEL_PATH}#sha256=${wheelSha}">${WHEEL}</a>\n</body></html>\n`;
    const files = new Map<string, ServedFile>([
      ["/simple/", {
        body: new TextEncoder().encode(`<a href="${INDEX_PATH}">${PROJECT}</a>\n`),
        type: "text/html",
      }],
      [INDEX_PATH, {
        body: new TextEncoder().encode(page),
        type: "text/html",
        etag: `"${sha256(new TextEncoder().encode(page)).slice(0, 16)}"`,
        headers: { "cache-control": "max-age=600, public" },
      }],
      [WHEEL_PATH, { body: wheel }],
    ]);
    const cert = await makeCert();
    const origin = startFileOrigin(files, cert);
    let originUp = true;
    try {
      await using proxy = await startTestProxy({
        intercept: ["*"],
        connectPorts: [origin.port],
        upstreamCaCerts: [cert.cert],
        logFormat: "json",
      });
      const bundle = await writeBundle(
        tmp.path,
        await Deno.readTextFile(`${proxy.cacheDir}/ca/ca.pem`),
      );

      const pipDownload = async (n: number) => {
        const dest = `${tmp.path}/download-${n}`;
        const r = await run(python, [
          "-m",
          "pip",
          "download",
          "--no-cache-dir",
          "--no-deps",
          "--disable-pip-version-check",
          "--no-input",
          "--retries",
          "0",
          "--timeout",
          "10",
          "--index-url",
          `https://localhost:${origin.port}/simple`,
          "--proxy",
          proxy.url,
          "--cert",
          bundle.path,
          "-d",
          dest,
          PROJECT,
        ], {
          env: {
            HOME: tmp.path,
            PIP_CONFIG_FILE: "/dev/null",
            PIP_DISABLE_PIP_VERSION_CHECK: "1",
            PYTHONDONTWRITEBYTECODE: "1",
          },
        });
        assert.match(r.stdout, new RegExp(`Saved .*${WHEEL.replaceAll(".", "\\.")}`));
        assert.equal(sha256(await Deno.readFile(`${dest}/${WHEEL}`)), wheelSha, `run ${n}`);
        // The entries pip filled are committed before the next run looks them up.
        await cacheSettled(proxy.cacheDir);
        return r.ms;
      };
      const cold = await pipDownload(1);
      assert.deepEqual(
        exchangeLines(origin.exchanges),
        [
          `GET ${INDEX_PATH} 200`,
          `GET ${WHEEL_PATH} 200`,
        ].sort(),
      );

      const warm = await pipDownload(2);
      // pip sends max-age=0 for the page, so hoard revalidates it (a 304);
      // the wheel is never asked for again.
      assert.deepEqual(
        exchangeLines(origin.exchanges),
        [
          `GET ${INDEX_PATH} 200`,
          `GET ${WHEEL_PATH} 200`,
          `GET? ${INDEX_PATH} 304`,
        ].sort(),
      );

      // The page is still within its 300 s, but pip's max-age=0 makes hoard
      // ask the origin, which is gone: the stored page stands in for the
      // failure (stale-if-error); the wheel needs no origin at all.
      await origin.close();
      originUp = false;
      const down = await pipDownload(3);
      assert.equal(origin.exchanges.length, 3);

      const base = `https://localhost:${origin.port}`;
      const statuses = loggedRequests(proxy.logs)
        .filter((r) => r.method === "GET")
        .map((r) =>
          `${r.url.slice(base.length)} ${r.status} ${r.cacheStatus?.replace(/ttl=\d+/, "ttl=N")}`
        );
      assert.deepEqual(statuses, [
        `${INDEX_PATH} 200 hoard; fwd=uri-miss; stored`,
        `${WHEEL_PATH} 200 hoard; fwd=uri-miss; stored`,
        `${INDEX_PATH} 200 hoard; fwd=request; fwd-status=304`,
        `${WHEEL_PATH} 200 hoard; hit; ttl=N`,
        `${INDEX_PATH} 200 hoard; fwd=request; fwd-status=502; detail=stale-if-error`,
        `${WHEEL_PATH} 200 hoard; hit; ttl=N`,
      ]);
      console.log(
        `pip download: cold ${cold.toFixed(0)} ms, warm ${warm.toFixed(0)} ms, ` +
          `index down ${down.toFixed(0)} ms; origin saw ${origin.exchanges.length} requests`,
      );
    } finally {
      if (originUp) await origin.close();
    }
  },
});
