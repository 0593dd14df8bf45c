import assert from "node:assert/strict";
import { firstRecordLength, serverName } from "../../src/tls/client_hello.ts";

/**
 * The first TLS record a real client sends: a raw listener accepts the
 * connection `connect` opens, reads until the whole first record is in, and
 * closes (the client's handshake then fails, which `connect` ignores).
 */
async function captureHello(connect: (port: number) => Promise<void>): Promise<Uint8Array> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = connect((listener.addr as Deno.NetAddr).port);
  const conn = await listener.accept();
  let got = new Uint8Array(0);
  try {
    const buf = new Uint8Array(4096);
    while (got.length < 5 || got.length < firstRecordLength(got)) {
      const n = await conn.read(buf);
      if (n === null) break;
      const next = new Uint8Array(got.length + n);
      next.set(got);
      next.set(buf.subarray(0, n), got.length);
      got = next;
    }
  } finally {
    conn.close();
    await client;
  }
  return got;
}

/** Deno's (rustls) client starting TLS for `hostname` (an IP sends no SNI). */
const denoClient = (hostname: string) => async (port: number) => {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const conn = await Deno.startTls(tcp, { hostname });
  await conn.handshake().catch(() => {});
  conn.close();
};

/** curl (OpenSSL) asking for https://name/ with the connection sent to the listener. */
const curlClient = (name: string) => async (port: number) => {
  await new Deno.Command("curl", {
    args: [
      "-sS",
      "--max-time",
      "5",
      "--connect-to",
      `${name}:443:127.0.0.1:${port}`,
      `https://${name}/`,
    ],
    stdout: "null",
    stderr: "null",
  }).output();
};

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const u16 = (n: number) => [n >> 8, n & 0xff];
const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];

/** A minimal ClientHello record with these extensions ([type, data] pairs). */
function buildHello(extensions: [number, number[]][], sessionId = 32): Uint8Array {
  const ext = extensions.flatMap(([type, data]) => [...u16(type), ...u16(data.length), ...data]);
  const version = [0x03, 0x03];
  const random = new Array(32).fill(7);
  const session = [sessionId, ...new Array(sessionId).fill(9)];
  const ciphers = [...u16(4), 0x13, 0x01, 0xc0, 0x2b];
  const compression = [1, 0];
  const body = [...version, ...random, ...session, ...ciphers, ...compression];
  body.push(...u16(ext.length), ...ext);
  const handshake = [0x01, ...u24(body.length), ...body];
  return bytes(0x16, 0x03, 0x01, ...u16(handshake.length), ...handshake);
}

/** A server_name extension's data: a list of (type, name) entries. */
function sniData(...entries: [number, string][]): number[] {
  const list = entries.flatMap(([t, name]) => [t, ...u16(name.length), ...ascii(name)]);
  return [...u16(list.length), ...list];
}

Deno.test("serverName: the SNI of a real rustls ClientHello (Deno.startTls)", async () => {
  const hello = await captureHello(denoClient("Some.Name"));
  assert.equal(hello[0], 0x16, "a handshake record");
  assert.equal(firstRecordLength(hello), hello.length);
  assert.equal(serverName(hello), "some.name", "lower-cased");
  const local = await captureHello(denoClient("localhost"));
  assert.equal(serverName(local.subarray(0, firstRecordLength(local))), "localhost");
});

Deno.test("serverName: the SNI of a real OpenSSL ClientHello (curl)", async () => {
  const hello = await captureHello(curlClient("Pkg.Example.Test"));
  assert.equal(firstRecordLength(hello), hello.length);
  assert.equal(serverName(hello), "pkg.example.test");
});

Deno.test("serverName: a ClientHello to an IP address carries no SNI", async () => {
  for (const client of [denoClient("127.0.0.1"), denoClient("::1"), curlClient("127.0.0.1")]) {
    const hello = await captureHello(client);
    assert.equal(firstRecordLength(hello), hello.length);
    assert.equal(hello[5], 0x01, "a ClientHello");
    assert.equal(serverName(hello), undefined);
  }
});

Deno.test("serverName: every prefix of a real ClientHello is read safely", async () => {
  const hello = await captureHello(denoClient("prefix.example"));
  for (let n = 0; n < hello.length; n++) {
    const name = serverName(hello.subarray(0, n));
    assert.ok(name === undefined || name === "prefix.example", `prefix ${n}: ${name}`);
  }
  // Flipped bytes (deterministic) never throw and never yield a name with odd characters.
  let x = 12345;
  for (let round = 0; round < 2000; round++) {
    const copy = hello.slice();
    for (let k = 0; k < 3; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      copy[5 + (x % (copy.length - 5))] = x >>> 24;
    }
    const name = serverName(copy);
    assert.ok(name === undefined || /^[a-z0-9.-]+$/.test(name), `round ${round}: ${name}`);
  }
});

Deno.test("firstRecordLength: the length from the record header, -1 for bytes that are not TLS", () => {
  // Fewer than 5 bytes: the header is needed first.
  assert.equal(firstRecordLength(bytes()), 5);
  assert.equal(firstRecordLength(bytes(0x16, 0x03, 0x01)), 5);
  assert.equal(firstRecordLength(bytes(0x16, 0x03, 0x01, 0x00, 0xf0)), 5 + 0xf0);
  assert.equal(firstRecordLength(bytes(0x16, 0x03, 0x03, 0x02, 0x00, 1, 2, 3)), 5 + 0x200);
  assert.equal(firstRecordLength(bytes(0x16, 0x03, 0x01, 0xff, 0xff)), 5 + 0xffff);
  // Not TLS: plain HTTP inside the tunnel, an alert record, an SSLv2-style hello.
  assert.equal(firstRecordLength(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")), -1);
  assert.equal(firstRecordLength(bytes(0x15, 0x03, 0x03, 0x00, 0x02)), -1);
  assert.equal(firstRecordLength(bytes(0x80, 0x2e, 0x01, 0x00, 0x02)), -1);
  assert.equal(firstRecordLength(bytes(0x16, 0x02, 0x00, 0x00, 0x02)), -1);
});

Deno.test("serverName: hand-built ClientHellos", () => {
  // SNI after other extensions.
  const late = buildHello([[0x000a, [0, 2, 0, 0x1d]], [0x002b, [2, 3, 4]], [
    0,
    sniData([0, "Late.Example"]),
  ]]);
  assert.equal(firstRecordLength(late), late.length);
  assert.equal(serverName(late), "late.example");
  // No session id, SNI first.
  assert.equal(serverName(buildHello([[0, sniData([0, "a.b"])]], 0)), "a.b");
  // No extensions at all, or none of them SNI.
  assert.equal(serverName(buildHello([])), undefined);
  assert.equal(serverName(buildHello([[0x000a, [0, 2, 0, 0x1d]]])), undefined);
  // An entry of another name type comes first: the host_name entry is used.
  assert.equal(
    serverName(buildHello([[0, sniData([1, "xx"], [0, "second.example"])]])),
    "second.example",
  );
  // A name that is no host name is ignored.
  assert.equal(serverName(buildHello([[0, sniData([0, "bad name"])]])), undefined);
  assert.equal(serverName(buildHello([[0, sniData([0, "a/b"])]])), undefined);
  // A name running past the end of the extensions.
  const cut = buildHello([[0, sniData([0, "truncated.example"])]]);
  assert.equal(serverName(cut.subarray(0, cut.length - 3)), undefined);
  // A handshake that is not a ClientHello (ServerHello, type 2).
  const notHello = buildHello([[0, sniData([0, "x.example"])]]);
  notHello[5] = 0x02;
  assert.equal(serverName(notHello), undefined);
  // Too short to be anything.
  assert.equal(serverName(bytes(0x16, 0x03, 0x01, 0x00, 0x00)), undefined);
  assert.equal(serverName(bytes()), undefined);
});
