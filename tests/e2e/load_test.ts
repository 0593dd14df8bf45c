/**
 * Load, bounded: the runs of scripts/load.ts at a size that fits the suite.
 * Hundreds of keep-alive connections mixing hits, misses and CONNECT tunnels
 * get no errors; slowloris connections do not slow a normal client down, and
 * the header timeout cuts them with a 408.
 */

import assert from "node:assert/strict";
import {
  mixedLoad,
  probe,
  startBenchOrigin,
  startEchoServer,
  startSlowloris,
  warmHits,
} from "../../scripts/load.ts";
import { startHoardProcess } from "../_helpers/process.ts";
import { sleep } from "../_helpers/raw_http.ts";

/** A cache directory removed at the end of the scope (after the hoard using it stopped). */
async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "hoard-load-e2e-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("200 keep-alive connections mixing hits, misses and tunnels for 3 s: no errors", async () => {
  await using origin = await startBenchOrigin();
  await using echo = await startEchoServer();
  const originUrl = `http://127.0.0.1:${origin.match[1]}`;
  const echoPort = Number(echo.match[1]);
  await using dir = await tempDir();
  await using hoard = await startHoardProcess([
    "--cache-dir",
    dir.path,
    "--log-level",
    "warn",
    "--connect-ports",
    String(echoPort),
  ]);
  await warmHits(hoard.port, originUrl);
  const r = await mixedLoad({
    proxyPort: hoard.port,
    originUrl,
    echoPort,
    connections: 200,
    seconds: 3,
    // Busy but not overloaded, on a small CI machine too.
    pauseMs: 100,
  });
  assert.deepEqual(r.errorSamples, []);
  assert.equal(r.errors, 0);
  assert.ok(r.hit.done > 200, `${r.hit.done} hits`);
  assert.ok(r.miss.done > 50, `${r.miss.done} misses`);
  assert.ok(r.tunnel.done > 20, `${r.tunnel.done} tunnels`);
});

Deno.test("100 slowloris connections: a normal client is answered within 1 s, and the header timeout cuts them with 408", async () => {
  await using origin = await startBenchOrigin();
  const originUrl = `http://127.0.0.1:${origin.match[1]}`;
  await using dir = await tempDir();
  await using hoard = await startHoardProcess([
    "--cache-dir",
    dir.path,
    "--log-level",
    "warn",
    "--header-timeout",
    "2",
  ]);
  await warmHits(hoard.port, originUrl);
  const url = `${originUrl}/1k`;
  const loris = await startSlowloris(hoard.port, 100, url);
  try {
    await sleep(1100); // every slowloris connection has started its head
    const p = await probe(hoard.port, url, 1.5, { keepAlive: 2, fresh: 2, timeoutMs: 1000 });
    assert.deepEqual(p.errorSamples, []);
    assert.ok(p.keepAlive.length > 20 && p.fresh.length > 20);
    const slowest = Math.max(...p.keepAlive, ...p.fresh);
    assert.ok(slowest < 1000, `slowest request ${slowest.toFixed(0)} ms`);

    // Each connection is cut 2 s after its first byte (the deadline ticks every 100 ms).
    for (let i = 0; i < 40 && loris.open > 0; i++) await sleep(100);
    assert.equal(loris.open, 0, "every slowloris connection was cut");
    assert.equal(loris.got408, 100);
    assert.deepEqual(loris.gotOther, []);
    for (const cut of loris.cutAfterMs) {
      assert.ok(cut !== undefined && cut > 1900 && cut < 3500, `cut after ${cut} ms`);
    }
  } finally {
    await loris.stop();
  }
});
