/**
 * What a 1 KiB hit allocates in hoard (issue 18): bytes per hit, and the
 * functions that allocate them. Unlike requests per second on a shared VM,
 * this figure repeats from run to run, so a change that makes less garbage
 * shows here even when the benchmark's rates cannot tell.
 *
 * hoard runs with an inspector; the HTTPS part's own client keeps 64
 * connections of hits going (plain HTTP, or through `--intercept`) while
 * V8's sampling heap profiler records every allocation, including those a
 * scavenge collects, for `--seconds`. Hits are counted by
 * `/_hoard/metrics`. With `--miss`, one connection asks for a new URL
 * each time instead and the figure is bytes per miss.
 *
 * Usage: deno run -A scripts/bench_alloc.ts [--intercept] [--miss] [--seconds N] [--top N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePort, makeTempDir, removeTempDir, sleep } from "./bench/_proc.ts";
import { spawnHoard } from "./bench/contenders.ts";
import { startOrigin } from "./bench/https.ts";
import { load, type LoadOptions } from "./bench/tls_load.ts";

const root = new URL("..", import.meta.url).pathname;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    intercept: { type: "boolean", default: false },
    miss: { type: "boolean", default: false },
    seconds: { type: "string", default: "3" },
    top: { type: "string", default: "25" },
  },
});
const seconds = Number(values.seconds), top = Number(values.top);
if (!(seconds > 0) || !Number.isInteger(top) || top < 0) {
  console.error(
    "usage: deno run -A scripts/bench_alloc.ts [--intercept] [--miss] [--seconds N] [--top N]",
  );
  Deno.exit(2);
}

/** One node of V8's sampling heap profile. */
interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** A Chrome DevTools protocol session over the inspector's WebSocket. */
class Inspector {
  #ws: WebSocket;
  #next = 0;
  #waiting = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      this.#waiting.get(m.id)?.(m.result);
      this.#waiting.delete(m.id);
    };
  }

  static async open(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#next;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve as (result: unknown) => void);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

/** Bytes allocated by each function (with its caller), largest first. */
function bySite(head: ProfileNode): [string, number][] {
  const sites = new Map<string, number>();
  const name = (n: ProfileNode) => {
    const file = n.callFrame.url.split("/").slice(-2).join("/");
    return `${n.callFrame.functionName || "(anonymous)"} ${file}:${n.callFrame.lineNumber + 1}`;
  };
  const walk = (n: ProfileNode, caller: string) => {
    if (n.selfSize > 0) {
      const site = `${name(n)} < ${caller}`;
      sites.set(site, (sites.get(site) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, name(n));
  };
  walk(head, "");
  return [...sites].sort((a, b) => b[1] - a[1]);
}

const dir = await makeTempDir("hoard-bench-alloc-");
const origin = await startOrigin(root, dir);
const inspectPort = freePort();
const hoard = await spawnHoard(root, `${dir}/hoard`, [
  "--cache-dir",
  `${dir}/hoard/cache`,
  "--ca-dir",
  `${dir}/hoard/ca`,
  "--intercept=localhost",
  "--connect-ports",
  String(origin.port),
  "--upstream-ca",
  origin.certFile,
], { denoFlags: [`--inspect=127.0.0.1:${inspectPort}`] });
try {
  const counter = values.miss ? "hoard_cache_misses_total" : "hoard_cache_hits_total";
  const counted = async () => {
    const text = await (await fetch(`http://127.0.0.1:${hoard.port}/_hoard/metrics`)).text();
    return Number(new RegExp(`^${counter} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
  };
  const plain = !values.intercept;
  const client: LoadOptions = {
    mode: "keepalive",
    proxyPort: hoard.port,
    host: plain ? "127.0.0.1" : "localhost",
    port: plain ? origin.plainPort : origin.port,
    caFile: `${dir}/hoard/ca/ca.pem`,
    plain,
    path: `/1k?alloc-${Date.now()}`,
    size: 1024,
    seconds: seconds + 3,
    warmSeconds: 1,
  };
  let sampled = false;
  const running = (async (): Promise<void> => {
    if (!values.miss) {
      // The entry stored first (the sequential client asks for path-0), then hits on it.
      await load({ ...client, mode: "sequential", count: 1, warmup: 0 });
      await load({ ...client, path: `${client.path}-0` });
      return;
    }
    // A new URL per request, in batches on one connection each, until sampled.
    for (let batch = 0; !sampled; batch++) {
      await load({ ...client, mode: "sequential", path: `${client.path}-${batch}`, count: 200 });
    }
  })();
  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const inspector = await Inspector.open(list[0].webSocketDebuggerUrl);
  await sleep(1500);
  await inspector.call("HeapProfiler.enable");
  await inspector.call("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const before = await counted();
  await sleep(seconds * 1000);
  const { profile } = await inspector.call<{ profile: { head: ProfileNode } }>(
    "HeapProfiler.stopSampling",
  );
  const n = (await counted()) - before;
  sampled = true;
  inspector.close();
  const sites = bySite(profile.head);
  const total = sites.reduce((sum, [, bytes]) => sum + bytes, 0);
  const what = values.miss ? "miss" : "hit";
  console.log(
    `hoard ${plain ? "over plain HTTP" : "with --intercept"}: ${n} ${
      values.miss ? "misses" : "hits"
    } ` +
      `in ${seconds} s, ${(total / 1e6).toFixed(1)} MB allocated, ${
        Math.round(total / n)
      } B per ${what}`,
  );
  for (const [site, bytes] of sites.slice(0, top)) {
    console.log(`${(bytes / n).toFixed(0).padStart(7)} B  ${site}`);
  }
  await running;
} finally {
  await hoard.stop();
  await origin.stop();
  await removeTempDir(dir);
}
