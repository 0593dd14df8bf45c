/**
 * A worker thread's program: one more whole hoard on the main thread's port
 * and cache directory (see cores.ts), started and stopped by the main thread.
 * It runs when this module is loaded in a thread cores.ts started (named
 * `hoard-N`): as its own entry from the source tree, or inside the bundle,
 * which is then the worker's entry.
 *
 * @module
 */

import { type ProxyHandle, startProxy } from "../proxy.ts";
import { errorLine } from "../errors.ts";
import { LineBatch } from "../observe/log.ts";
import type { ThreadStats } from "./stats.ts";
import { Asks, type FromWorker, type ToWorker } from "./threads.ts";
import { isHoardWorker } from "./worker_name.ts";

/** The worker's global scope, as used here. */
const scope = globalThis as unknown as {
  postMessage(m: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
};

// The main thread answers within about a second (it waits that long for each other worker).
const ANSWER_MS = 2000;

let proxy: ProxyHandle | undefined;
const asks = new Asks<ThreadStats[]>();

// Log lines go to the main thread, which writes them where it writes its own.
const logs = new LineBatch((lines) => scope.postMessage({ t: "log", lines }));

if (isHoardWorker()) {
  scope.onmessage = async (e) => {
    const m = e.data;
    switch (m.t) {
      case "start": {
        const { sharedVars, ...options } = m.options;
        try {
          proxy = await startProxy({
            ...options,
            logSink: (line) => logs.add(line),
            sharedEnv: (name) => sharedVars[name],
          }, {
            hub: m.hub,
            claims: m.claims,
            thread: m.thread,
            others: () => asks.ask((ask) => scope.postMessage({ t: "others", ask }), [], ANSWER_MS),
          });
          scope.postMessage({ t: "ready" });
        } catch (err) {
          scope.postMessage({ t: "failed", message: errorLine(err) });
        }
        return;
      }
      case "stats":
        if (proxy !== undefined) {
          scope.postMessage({ t: "stats", ask: m.ask, stats: proxy.stats() });
        }
        return;
      case "others":
        return asks.answer(m.ask, m.stats);
      case "close":
        if (proxy === undefined) return;
        await proxy.close();
        logs.flush();
        scope.postMessage({ t: "closed", stats: proxy.stats() });
        return;
    }
  };
}
