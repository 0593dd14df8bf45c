import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { curl } from "../_helpers/clients.ts";
import { startOrigin } from "../_helpers/origin.ts";
import { runHoard, startHoardProcess } from "../_helpers/process.ts";

Deno.test("hoard --version prints the version from deno.json", async () => {
  const r = await runHoard(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `hoard ${denoJson.version}`);
});

Deno.test("hoard --help prints usage and exits 0", async () => {
  const r = await runHoard(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: hoard/);
  assert.match(r.stdout, /--cache-dir/);
});

Deno.test("a bad flag: one error line, usage, exit 2, no stack trace", async () => {
  const r = await runHoard(["--port", "eighty"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^hoard: --port: expected a port number \(0-65535\), got "eighty"\n/);
  assert.match(r.stderr, /Usage: hoard/);
  assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
});

Deno.test("a port already in use: one error line, exit 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const r = await runHoard(["--port", String(taken.addr.port)]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`^hoard: cannot listen on 127\\.0\\.0\\.1:${taken.addr.port}: `),
  );
  assert.equal(r.stderr.trim().split("\n").length, 1);
});

Deno.test("SIGTERM: an in-flight request finishes, new connections are refused, exit 0", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  await using origin = startOrigin(async () => {
    await gate;
    return new Response("slow but complete");
  });
  await using hoard = await startHoardProcess(["--log-level", "info"]);
  const inFlight = curl(["-x", hoard.url, `${origin.url}/slow`]);
  while (origin.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
  const exited = hoard.stop("SIGTERM");
  await new Promise((r) => setTimeout(r, 200));
  const late = await curl(["-x", hoard.url, `${origin.url}/late`, "--max-time", "2"]);
  assert.notEqual(late.code, 0, "no new requests once shutdown began");
  release();
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.text, "slow but complete");
  const status = await exited;
  assert.equal(status.code, 0);
  assert.match(hoard.stderr(), /shutting down/);
  assert.match(hoard.stderr(), /GET http:\/\/127\.0\.0\.1:\d+\/slow 200 17B/);
  assert.equal(origin.requests.length, 1);
});

Deno.test("SIGINT with nothing in flight exits 0 promptly", async () => {
  await using hoard = await startHoardProcess([]);
  const started = performance.now();
  const status = await hoard.stop("SIGINT");
  assert.equal(status.code, 0);
  assert.ok(performance.now() - started < 5000);
});
