/**
 * The main thread's workers (src/cores/cores.ts) with stand-in worker
 * modules that speak the main thread's protocol and then fail: a worker that
 * fails is replaced, one that keeps failing is not started forever, and a
 * shutdown cancels a replacement still to come.
 */

import assert from "node:assert/strict";
import { Cache } from "../../src/cache/cache.ts";
import { Cores } from "../../src/cores/cores.ts";
import { Logger } from "../../src/observe/log.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { RunReport } from "../../src/observe/report.ts";
import { resolveOptions } from "../../src/options.ts";

/** A worker that answers "ready" to its start, then runs `afterStart` (which may throw later). */
function standIn(afterStart: string): URL {
  const src = `
    self.onmessage = (e) => {
      const m = e.data;
      if (m.t === "start") {
        self.postMessage({ t: "ready" });
        ${afterStart}
      } else if (m.t === "close") self.postMessage({ t: "closed" });
      else if (m.t === "stats") self.postMessage({ t: "stats", ask: m.ask });
    };`;
  return new URL(`data:application/javascript,${encodeURIComponent(src)}`);
}

const FAIL = `setTimeout(() => { throw new Error("boom"); }, 20);`;

/** Fails the first time only: the marker file says a worker failed already. */
function failOnce(marker: string): string {
  return `try { Deno.statSync(${JSON.stringify(marker)}); } catch {
    Deno.writeTextFileSync(${JSON.stringify(marker)}, "");
    ${FAIL}
  }`;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Cores over a fresh cache directory with stand-in workers; its log lines. */
async function withCores(
  entry: URL,
  respawnMs: number,
  fn: (cores: Cores, lines: string[], dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hoard-cores-test-" });
  const lines: string[] = [];
  const logger = new Logger("info", (line) => lines.push(line));
  const cache = await Cache.open(`${dir}/cache`, Number.MAX_SAFE_INTEGER, logger);
  const cores = new Cores(
    cache,
    { cache, metrics: new Metrics(), report: new RunReport(), openConnections: () => 0 },
    logger,
    {
      entry,
      respawnMs,
    },
  );
  try {
    await cores.start(1, resolveOptions({ cacheDir: `${dir}/cache`, port: 0 }));
    await fn(cores, lines, dir);
  } finally {
    await cores.close();
    cores.release();
    await cache.settled();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cores: a worker that fails is replaced, once, and the replacement serves", async () => {
  const marker = await Deno.makeTempFile({ prefix: "hoard-cores-failed-" });
  await Deno.remove(marker);
  try {
    await withCores(standIn(failOnce(marker)), 50, async (cores, lines) => {
      assert.equal(cores.workers, 1);
      await until("the replacement", () => lines.some((l) => l.includes("worker 1 started again")));
      assert.equal(cores.workers, 1);
      assert.equal(lines.filter((l) => /worker 1 stopped: .*boom/.test(l)).length, 1);
      // It stays: nothing more fails, nothing more starts.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(lines.filter((l) => l.includes("started again")).length, 1);
      assert.equal(cores.workers, 1);
    });
  } finally {
    await Deno.remove(marker).catch(() => {});
  }
});

Deno.test("cores: a worker that keeps failing is replaced three times, then its place stays empty", async () => {
  await withCores(standIn(FAIL), 20, async (cores, lines) => {
    await until("the crash-loop guard", () => lines.some((l) => l.includes("not started again")));
    assert.equal(lines.filter((l) => l.includes("worker 1 started again")).length, 3);
    assert.equal(lines.filter((l) => /worker 1 stopped: .*boom/.test(l)).length, 4);
    assert.ok(
      lines.some((l) =>
        /worker 1 failed 4 times within 60 s: not started again; serving on 1 threads/.test(l)
      ),
      lines.join("\n"),
    );
    await until("the last one gone", () => cores.workers === 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(cores.workers, 0);
  });
});

Deno.test("cores: a shutdown cancels a replacement still to come", async () => {
  const marker = await Deno.makeTempFile({ prefix: "hoard-cores-failed-" });
  await Deno.remove(marker);
  const starts = await Deno.makeTempFile({ prefix: "hoard-cores-starts-" });
  const counted = `Deno.writeTextFileSync(${
    JSON.stringify(starts)
  }, "start\\n", { append: true });`;
  try {
    await withCores(standIn(counted + failOnce(marker)), 300, async (cores, lines) => {
      await until("the failure", () => lines.some((l) => l.includes("worker 1 stopped")));
      assert.equal(cores.workers, 0);
      // withCores closes now, before the replacement is due.
    });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await Deno.readTextFile(starts), "start\n", "no worker started after the close");
  } finally {
    await Deno.remove(marker).catch(() => {});
    await Deno.remove(starts);
  }
});
