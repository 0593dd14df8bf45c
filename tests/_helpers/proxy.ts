/**
 * A hoard for tests: in-process, on a free port, logging into an array.
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
}

/** Starts hoard on 127.0.0.1 with a free port; log lines are collected, not printed. */
export async function startTestProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const logs: string[] = [];
  const proxy = await startProxy({
    host: "127.0.0.1",
    port: 0,
    cacheDir: await Deno.makeTempDir({ prefix: "hoard-test-" }),
    logSink: (line) => logs.push(line),
    ...options,
  });
  return Object.assign(proxy, { logs, port: proxy.addr.port });
}
