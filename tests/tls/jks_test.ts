import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeJks, pemCertificates } from "../../src/tls/jks.ts";
import { makeCert } from "../_helpers/tls.ts";
import { missingTool } from "../_helpers/package_managers.ts";

Deno.test("pemCertificates: every certificate of a bundle, comments and keys skipped", async () => {
  const a = await makeCert(), b = await makeCert();
  const der = pemCertificates(`# roots\n${a.cert}\n${a.key}# hoard CA\n${b.cert}`);
  assert.equal(der.length, 2);
  assert.equal(der[0]![0], 0x30, "DER SEQUENCE");
  assert.notDeepEqual(der[0], der[1]);
});

Deno.test("encodeJks: magic, version, entries and keytool's SHA-1 seal", () => {
  const certs = [new Uint8Array([0x30, 1, 2]), new Uint8Array([0x30, 9])];
  const jks = encodeJks(certs, "pw", 1_700_000_000_000);
  const view = new DataView(jks.buffer, jks.byteOffset, jks.byteLength);
  assert.equal(view.getUint32(0), 0xfeedfeed);
  assert.equal(view.getUint32(4), 2);
  assert.equal(view.getUint32(8), 2);
  assert.equal(view.getUint32(12), 2, "trusted certificate entry");
  assert.equal(new TextDecoder().decode(jks.subarray(18, 23)), "cert0");
  const body = jks.subarray(0, jks.length - 20);
  const seal = createHash("sha1").update(new Uint8Array([0, 0x70, 0, 0x77]))
    .update("Mighty Aphrodite").update(body).digest();
  assert.deepEqual(jks.subarray(jks.length - 20), new Uint8Array(seal));
});

const KEYTOOL = missingTool([["keytool", "-help"]]);

Deno.test({
  name: `encodeJks: keytool opens it with the password and lists every certificate${
    KEYTOOL ? ` (ignored: ${KEYTOOL})` : ""
  }`,
  ignore: KEYTOOL !== undefined,
  async fn() {
    const certs = [await makeCert(), await makeCert(), await makeCert()];
    const dir = await Deno.makeTempDir();
    try {
      const file = `${dir}/t.jks`;
      await Deno.writeFile(file, encodeJks(pemCertificates(certs.map((c) => c.cert).join(""))));
      const out = await new Deno.Command("keytool", {
        args: ["-list", "-keystore", file, "-storepass", "changeit", "-storetype", "JKS"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      assert.match(text, /Your keystore contains 3 entries/);
      assert.equal(text.match(/trustedCertEntry/g)?.length, 3);
      // A wrong password is refused: the seal is checked.
      const wrong = await new Deno.Command("keytool", {
        args: ["-list", "-keystore", file, "-storepass", "wrong!", "-storetype", "JKS"],
        stdout: "null",
        stderr: "null",
      }).output();
      assert.notEqual(wrong.code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
