import assert from "node:assert/strict";
import { createCa } from "../../src/tls/ca.ts";
import { hostMatches, Interception } from "../../src/tls/interception.ts";

Deno.test("hostMatches: * matches every host", () => {
  for (const h of ["example.com", "a.b.c", "127.0.0.1", "::1", "localhost"]) {
    assert.equal(hostMatches(["*"], h), true, h);
  }
  assert.equal(hostMatches([], "example.com"), false);
});

Deno.test("hostMatches: an exact name matches that name only, case-insensitively", () => {
  const p = ["pkgs.example.test"];
  assert.equal(hostMatches(p, "pkgs.example.test"), true);
  assert.equal(hostMatches(p, "Pkgs.EXAMPLE.test"), true);
  assert.equal(hostMatches(["PKGS.EXAMPLE.TEST"], "pkgs.example.test"), true);
  assert.equal(hostMatches(p, "example.test"), false);
  assert.equal(hostMatches(p, "x.pkgs.example.test"), false);
  assert.equal(hostMatches(p, "pkgs.example.test.evil"), false);
  assert.equal(hostMatches(p, "evilpkgs.example.test"), false);
  assert.equal(hostMatches(["127.0.0.1"], "127.0.0.1"), true);
  assert.equal(hostMatches(["127.0.0.1"], "127.0.0.10"), false);
});

Deno.test("hostMatches: *.example.com matches subdomains at any depth, not the domain itself", () => {
  const p = ["*.example.com"];
  assert.equal(hostMatches(p, "a.example.com"), true);
  assert.equal(hostMatches(p, "a.b.example.com"), true);
  assert.equal(hostMatches(p, "A.Example.COM"), true);
  assert.equal(hostMatches(["*.EXAMPLE.com"], "a.example.com"), true);
  assert.equal(hostMatches(p, "example.com"), false);
  assert.equal(hostMatches(p, ".example.com"), false);
  assert.equal(hostMatches(p, "badexample.com"), false);
  assert.equal(hostMatches(p, "example.com.evil"), false);
  assert.equal(hostMatches(p, "a.example.org"), false);
});

Deno.test("hostMatches: any of several patterns", () => {
  const p = ["one.test", "*.two.test"];
  assert.equal(hostMatches(p, "one.test"), true);
  assert.equal(hostMatches(p, "x.two.test"), true);
  assert.equal(hostMatches(p, "two.test"), false);
  assert.equal(hostMatches(p, "x.one.test"), false);
});

/**
 * Runs a TLS server the way hoard's intercept step does (Deno.listenTls with
 * the given key pair) and connects to it with Deno's rustls client asking for
 * `serverName` and trusting `caPem` only. Resolves to what the client read,
 * or rejects with the client's TLS error.
 */
async function handshake(
  keyPair: { cert: string; key: string },
  serverName: string,
  caPem: string,
): Promise<string> {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...keyPair });
  const port = listener.addr.port;
  const served = listener.accept().then(async (s) => {
    try {
      await s.handshake();
      await s.write(new TextEncoder().encode("hello from the leaf"));
      await s.closeWrite();
    } catch {
      // The client refused the certificate.
    } finally {
      s.close();
    }
  });
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    const conn = await Deno.startTls(tcp, { hostname: serverName, caCerts: [caPem] });
    try {
      let text = "";
      const buf = new Uint8Array(1024);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return text;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
    } finally {
      conn.close();
    }
  } finally {
    listener.close();
    await served;
  }
}

Deno.test("Interception: creates its CA in the directory, matches its patterns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-interception-test-" });
  try {
    const i = await Interception.create(["*.example.com", "exact.test"], { dir: `${dir}/ca` });
    assert.equal(i.ca.certPath, `${dir}/ca/ca.pem`);
    assert.equal(await Deno.readTextFile(`${dir}/ca/ca.pem`), i.ca.certPem);
    assert.equal(i.matches("a.example.com"), true);
    assert.equal(i.matches("EXACT.test"), true);
    assert.equal(i.matches("example.com"), false);
    assert.equal(i.matches("other.test"), false);
    // A second instance on the same directory uses the same CA.
    const again = await Interception.create(["*"], { dir: `${dir}/ca` });
    assert.equal(again.ca.certPem, i.ca.certPem);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Interception.keyPair: one object per leaf (its TLS context is kept by it), another per host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-interception-test-" });
  try {
    const i = await Interception.create(["*"], { dir: `${dir}/ca` });
    const a = await i.keyPair("a.test");
    assert.equal(await i.keyPair("a.test"), a);
    assert.equal(await i.keyPair("A.TEST"), a);
    const b = await i.keyPair("b.test");
    assert.notEqual(b, a);
    assert.notEqual(b.cert, a.cert);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Interception: uses --ca-cert/--ca-key when given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-interception-test-" });
  try {
    const { certPem, keyPem } = await createCa();
    await Deno.writeTextFile(`${dir}/c.pem`, certPem);
    await Deno.writeTextFile(`${dir}/k.pem`, keyPem);
    const i = await Interception.create(["*"], {
      dir: `${dir}/unused`,
      certFile: `${dir}/c.pem`,
      keyFile: `${dir}/k.pem`,
    });
    assert.equal(i.ca.certPem, certPem);
    // Leaves are signed by that CA: a client trusting only it completes the handshake.
    assert.equal(
      await handshake(await i.keyPair("localhost"), "localhost", certPem),
      "hello from the leaf",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Interception.keyPair: a real client trusting hoard's CA accepts the leaf for its name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-interception-test-" });
  try {
    const i = await Interception.create(["*"], { dir });
    for (const host of ["localhost", "127.0.0.1", "::1", "pkg.example.test"]) {
      assert.equal(
        await handshake(await i.keyPair(host), host, i.ca.certPem),
        "hello from the leaf",
        host,
      );
    }
    // The leaf is made once per host and kept.
    const ctx = await i.keyPair("localhost");
    assert.deepEqual(await i.keyPair("localhost"), ctx);
    assert.deepEqual(await i.keyPair("LOCALHOST"), ctx);
    assert.notEqual((await i.keyPair("pkg.example.test")).cert, ctx.cert);
    // A leaf is for its own name only.
    await assert.rejects(
      handshake(ctx, "other.test", i.ca.certPem),
      /NotValidForName|certificate/i,
    );
    // A client that does not trust hoard's CA refuses it.
    const stranger = (await createCa()).certPem;
    await assert.rejects(handshake(ctx, "localhost", stranger), /UnknownIssuer|certificate/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Interception.create: a broken CA file rejects with one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hoard-interception-test-" });
  try {
    await Deno.writeTextFile(`${dir}/c.pem`, "nope");
    await Deno.writeTextFile(`${dir}/k.pem`, "nope");
    await assert.rejects(
      Interception.create(["*"], { dir, certFile: `${dir}/c.pem`, keyFile: `${dir}/k.pem` }),
      (err: Error) =>
        /c\.pem is not a PEM certificate/.test(err.message) && !err.message.includes("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
