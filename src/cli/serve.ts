/**
 * `hoard` (serve): runs the proxy until a signal stops it.
 *
 * @module
 */

import { startProxy } from "../proxy.ts";
import { errorLine, oneLine } from "../errors.ts";
import type { ProxyOptions } from "../options.ts";
import { VERSION } from "../version.ts";
import { print } from "./print.ts";

/** Runs the proxy until SIGINT/SIGTERM (a second one exits at once); the exit code. */
export async function serve(options: ProxyOptions, upstreamCaFiles: string[]): Promise<number> {
  const upstreamCaCerts: string[] = [];
  for (const file of upstreamCaFiles) {
    try {
      upstreamCaCerts.push(await Deno.readTextFile(file));
    } catch (err) {
      print(`hoard: --upstream-ca: cannot read ${file}: ${oneLine(String(err))}`, "stderr");
      return 2;
    }
  }
  let proxy;
  try {
    proxy = await startProxy({ ...options, upstreamCaCerts });
  } catch (err) {
    print(`hoard: ${errorLine(err)}`, "stderr");
    return 1;
  }
  let signals = 0;
  const onSignal = () => {
    // A second signal means "now": skip the grace period.
    if (++signals > 1) Deno.exit(130);
    print("hoard: shutting down (finishing requests in flight)", "stderr");
    proxy.close();
  };
  const watched: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of watched) Deno.addSignalListener(s, onSignal);
  // Announced only once a signal is sure to shut hoard down cleanly.
  const on = proxy.threads > 1 ? ` (${proxy.threads} threads)` : "";
  print(`hoard ${VERSION} listening on ${proxy.url}${on}`, "stderr");
  await proxy.finished;
  for (const s of watched) Deno.removeSignalListener(s, onSignal);
  return 0;
}
