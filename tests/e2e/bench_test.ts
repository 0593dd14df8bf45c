/**
 * The benchmark's HTTPS part (issue 18): its verdicts on the targets, and a
 * quick run of it against hoard — the figures all there, the hits answered
 * without the origin, the results written where `--out` says.
 */

import assert from "node:assert/strict";
import {
  HTTPS_FIGURES,
  type HttpsContenderName,
  type HttpsContenderResult,
  httpsTable,
} from "../../scripts/bench/https.ts";

const root = new URL("../..", import.meta.url).pathname;

/** A contender's result with `figures`. */
function result(figures: HttpsContenderResult["figures"]): HttpsContenderResult {
  return { status: "ok", figures, errors: {}, notes: [], details: {} };
}

/** The target cell of the row labelled `label`. */
function target(table: string, label: string): string {
  const row = table.split("\n").find((l) => l.startsWith(`| ${label}`));
  assert.ok(row, `no row ${label} in\n${table}`);
  return row.split("|").at(-2)!.trim();
}

Deno.test("bench report: HTTPS targets judged against squid and plain HTTP, with the client's own bound", () => {
  const r: Partial<Record<HttpsContenderName, HttpsContenderResult>> = {
    direct: result({ hit1kRps: 50_000, hit100mMBps: 1_000, hit1kP99Ms: 5 }),
    hoard: result({
      hit1kRps: 30_000,
      hit1kP99Ms: 5.2,
      hit100mMBps: 900,
      miss1kAddedP50Ms: 0.3,
      plainHit1kRps: 40_000,
      plainHit100mMBps: 2_000,
    }),
    squid: result({ hit1kRps: 25_000, hit1kP99Ms: 4.4, hit100mMBps: 250, miss1kAddedP50Ms: 0.4 }),
  };
  const table = httpsTable(r);
  assert.equal(
    target(table, "1 KiB hit: requests/s"),
    "ahead of squid ✓, ≥ 0.8× plain-HTTP hit (0.75×; no proxy over TLS: 1.25×) ✗",
  );
  assert.equal(
    target(table, "100 MiB hit: MB/s"),
    "ahead of squid ✓, ≥ 0.5× plain-HTTP hit (0.45×; no proxy over TLS: 0.50×) ✗",
  );
  assert.equal(target(table, "1 KiB hit: p99"), "ahead of squid ✗"); // lower is better
  assert.equal(target(table, "1 KiB miss: p50 added"), "ahead of squid ✓");
  // Without a direct run there is no bound to name; the plain figures may come from the plain part.
  const alone = httpsTable({ hoard: result({ hit100mMBps: 1_100 }) }, { hit100mMBps: 2_000 });
  assert.equal(target(alone, "100 MiB hit: MB/s"), "≥ 0.5× plain-HTTP hit (0.55×) ✓");
});

Deno.test("bench: a quick HTTPS run against hoard writes every figure, its hits never reaching the origin", async () => {
  const out = await Deno.makeTempDir({ prefix: "hoard-bench-test-" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "scripts/bench.ts",
        "--quick",
        "--https",
        "--contenders",
        "hoard",
        "--no-pin",
        "--out",
        out,
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, text);
    const json = JSON.parse(await Deno.readTextFile(`${out}/results_https.json`)) as {
      contenders: Partial<Record<HttpsContenderName, HttpsContenderResult>>;
    };
    const hoard = json.contenders.hoard!;
    assert.equal(hoard.status, "ok", text);
    assert.deepEqual(hoard.errors, {});
    for (const id of HTTPS_FIGURES) {
      const v = hoard.figures[id];
      assert.ok(v !== undefined && Number.isFinite(v) && v > 0, `${id}: ${v}`);
    }
    // A hit the origin answered would be noted, and counted in the details.
    assert.deepEqual(hoard.notes.filter((n) => n.includes("origin served")), []);
    const rounds = (hoard.details as {
      rounds: { details: Record<string, { originRequests?: number }> }[];
    }).rounds;
    assert.equal(rounds.length, 1);
    assert.equal(rounds[0]!.details["hit1k"]?.originRequests, 0);
    assert.equal(rounds[0]!.details["hit100m"]?.originRequests, 0);
    assert.equal(json.contenders.direct?.status, "ok");
    const md = await Deno.readTextFile(`${out}/results_https.md`);
    assert.match(md, /≥ 0\.5× plain-HTTP hit \([\d.]+×; no proxy over TLS: [\d.]+×\) [✓✗]/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
