#!/usr/bin/env -S deno run --allow-net --allow-env --allow-read --allow-write --unstable-net
/**
 * hoard: a caching HTTP/HTTPS forward proxy for CI.
 *
 * Run it with `deno run --allow-net --allow-env --allow-read --allow-write mod.ts`
 * (see `--help`), or embed it:
 *
 * ```ts
 * import { startProxy } from "./mod.ts";
 * await using proxy = await startProxy({ port: 0 });
 * // HTTP_PROXY=proxy.url
 * ```
 *
 * @module
 */

export { type ProxyHandle, startProxy } from "./src/proxy.ts";
export type { ProxyOptions, Tenancy } from "./src/options.ts";
export type { LogLevel } from "./src/observe/log.ts";
export { VERSION } from "./src/version.ts";
// A worker of `--workers` runs this module's worker code, never the CLI (see src/cores).
import "./src/cores/worker.ts";
import { isHoardWorker } from "./src/cores/worker_name.ts";

if (import.meta.main && !isHoardWorker()) {
  const { main } = await import("./src/cli/main.ts");
  await main();
}
