import assert from "node:assert/strict";
import { SYSTEM_BUNDLES, writeBundle } from "../../src/tls/bundle.ts";
import { createCa } from "../../src/tls/ca.ts";

/** A temp directory removed at the end of the test. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "hoard-bundle-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

const ROOTS = "-----BEGIN CERTIFICATE-----\nUk9PVDE=\n-----END CERTIFICATE-----\n" +
  "-----BEGIN CERTIFICATE-----\nUk9PVDI=\n-----END CERTIFICATE-----\n";

Deno.test("writeBundle: the first system bundle found, then hoard's CA", async () => {
  await using tmp = await tempDir();
  const { certPem } = await createCa();
  const system = `${tmp.path}/system.crt`, second = `${tmp.path}/second.crt`;
  await Deno.writeTextFile(system, ROOTS);
  await Deno.writeTextFile(second, "SECOND\n");
  const out = `${tmp.path}/out`;
  await Deno.mkdir(out);

  const r = await writeBundle(out, certPem, [`${tmp.path}/missing.crt`, system, second]);
  assert.deepEqual(r, { path: `${out}/bundle.pem`, system });
  assert.equal(await Deno.readTextFile(r.path), `${ROOTS}# hoard CA\n${certPem}`);
  // No temp file is left behind.
  assert.deepEqual(await names(out), ["bundle.pem"]);
});

Deno.test("writeBundle: a system bundle without a final newline still ends its last line", async () => {
  await using tmp = await tempDir();
  const { certPem } = await createCa();
  await Deno.writeTextFile(`${tmp.path}/sys.crt`, ROOTS.trimEnd());
  const r = await writeBundle(tmp.path, certPem, [`${tmp.path}/sys.crt`]);
  assert.equal(await Deno.readTextFile(r.path), `${ROOTS}# hoard CA\n${certPem}`);
});

Deno.test("writeBundle: with no system bundle the file holds hoard's CA only", async () => {
  await using tmp = await tempDir();
  const { certPem } = await createCa();
  const r = await writeBundle(tmp.path, certPem, [`${tmp.path}/nope1`, `${tmp.path}/nope2`]);
  assert.deepEqual(r, { path: `${tmp.path}/bundle.pem` });
  assert.equal("system" in r, false);
  assert.equal(await Deno.readTextFile(r.path), `# hoard CA\n${certPem}`);
  const none = await writeBundle(tmp.path, certPem, []);
  assert.equal(none.system, undefined);
  assert.equal(await Deno.readTextFile(none.path), `# hoard CA\n${certPem}`);
});

Deno.test("writeBundle: writing again replaces the bundle (a new CA, new roots)", async () => {
  await using tmp = await tempDir();
  const a = await createCa(), b = await createCa();
  await Deno.writeTextFile(`${tmp.path}/sys.crt`, ROOTS);
  await writeBundle(tmp.path, a.certPem, [`${tmp.path}/sys.crt`]);
  await Deno.writeTextFile(`${tmp.path}/sys.crt`, "NEW ROOTS\n");
  const r = await writeBundle(tmp.path, b.certPem, [`${tmp.path}/sys.crt`]);
  assert.equal(await Deno.readTextFile(r.path), `NEW ROOTS\n# hoard CA\n${b.certPem}`);
  assert.deepEqual(await names(tmp.path), ["bundle.pem", "sys.crt"]);
});

Deno.test("writeBundle: the real system bundle, when this machine has one, is used by default", async () => {
  await using tmp = await tempDir();
  const { certPem } = await createCa();
  const found: string[] = [];
  for (const p of SYSTEM_BUNDLES) {
    if (await Deno.stat(p).then(() => true, () => false)) found.push(p);
  }
  const r = await writeBundle(tmp.path, certPem);
  assert.equal(r.system, found[0]);
  const text = await Deno.readTextFile(r.path);
  assert.ok(text.endsWith(`# hoard CA\n${certPem}`));
  if (found[0] !== undefined) {
    const roots = await Deno.readTextFile(found[0]);
    assert.ok(text.startsWith(roots));
    assert.ok(text.split("-----BEGIN CERTIFICATE-----").length > 2, "roots plus the CA");
  }
});
