import assert from "node:assert/strict";
import { Logger } from "../../src/observe/log.ts";

const LOG = new URL("../../src/observe/log.ts", import.meta.url).href;

/** Runs `code` (a module that may import log.ts as `LOG`) in a child Deno; its stderr. */
async function childStderr(code: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code.replaceAll("LOG", JSON.stringify(LOG))],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stderr);
}

Deno.test("log lines written together at the end of a turn all reach stderr, in order, also at an immediate exit", async () => {
  const stderr = await childStderr(`
    import { Logger } from LOG;
    const log = new Logger("info");
    for (let i = 0; i < 5000; i++) log.log("info", "line " + i);
    Deno.exit(0);
  `);
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 5000);
  for (const [i, l] of lines.entries()) assert.match(l, new RegExp(`^\\S+Z info: line ${i}$`));
});

Deno.test("a waiting log line does not keep the process alive, and is written when the loop ends", async () => {
  const stderr = await childStderr(`
    import { Logger } from LOG;
    new Logger("info").log("warn", "the last word");
  `);
  assert.match(stderr, /^\S+Z warn: the last word\n$/);
});

Deno.test("request lines share the time of day within a millisecond and show what was done", () => {
  const lines: string[] = [];
  const log = new Logger("info", (l) => lines.push(l));
  const record = {
    method: "GET",
    url: "http://a.test/x",
    status: 200,
    bytes: 5,
    start: performance.now(),
    route: "hit",
  };
  log.request(record);
  log.request({ ...record, status: 502, route: "miss", error: "connection_refused" });
  assert.match(
    lines[0]!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z GET http:\/\/a\.test\/x 200 5B \d+\.\dms hit$/,
  );
  assert.match(lines[1]!, / 502 5B \d+\.\dms miss error=connection_refused$/);
  const before = Date.now();
  const stamp = Date.parse(lines[0]!.split(" ")[0]!);
  assert.ok(Math.abs(stamp - before) < 1000, `${lines[0]} is now`);
});

Deno.test("request lines name the rule that decided, in text and JSON; other lines are unchanged", () => {
  const record = {
    method: "GET",
    url: "http://a.test/x",
    status: 200,
    bytes: 5,
    start: performance.now(),
    route: "hit",
  };
  const text: string[] = [], json: string[] = [];
  const t = new Logger("info", (l) => text.push(l));
  const j = new Logger("info", (l) => json.push(l), "json");
  for (const log of [t, j]) {
    log.request({ ...record, rules: ["npm tarball"] });
    log.request({ ...record, route: "miss", error: "connection_refused", rules: ["rules[0]"] });
    log.request({ ...record, rules: ["oci blob", "rules[2]"] });
    log.request(record);
  }
  assert.match(text[0]!, / 200 5B \d+\.\dms hit rule="npm tarball"$/);
  assert.match(text[1]!, / miss error=connection_refused rule="rules\[0\]"$/);
  assert.match(text[2]!, / hit rule="oci blob, rules\[2\]"$/);
  assert.match(text[3]!, / 200 5B \d+\.\dms hit$/);
  const rule = (line: string) => JSON.parse(line).rule;
  assert.deepEqual(json.map(rule), ["npm tarball", "rules[0]", "oci blob, rules[2]", undefined]);
  assert.ok(!json[3]!.includes('"rule"'), json[3]);
});
