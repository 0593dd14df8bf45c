/**
 * A hoard for tests: in-process, on a free port, logging into an array, with
 * a fresh cache directory that is removed when it closes (unless the test
 * passed its own).
 *
 * @module
 */

import { type ProxyHandle, type ProxyOptions, startProxy } from "../../mod.ts";

/** A test proxy plus the log lines it wrote. */
export interface TestProxy extends ProxyHandle {
  /** Every log line so far. */
  readonly logs: string[];
  /** The proxy's port. */
  readonly port: number;
  /** Its cache directory. */
  readonly cacheDir: string;
}

/** Starts hoard on 127.0.0.1 with a free port; log lines are collected, not printed. */
export async function startTestProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const logs: string[] = [];
  const ownDir = options.cacheDir === undefined;
  const cacheDir = options.cacheDir ?? await Deno.makeTempDir({ prefix: "hoard-test-" });
  const proxy = await startProxy({
    host: "127.0.0.1",
    port: 0,
    logSink: (line) => logs.push(line),
    ...options,
    cacheDir,
  });
  const close = async () => {
    await proxy.close();
    if (ownDir) await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  };
  return { ...proxy, close, [Symbol.asyncDispose]: close, logs, port: proxy.addr.port, cacheDir };
}
