import assert from "node:assert/strict";
import { BufferedConn } from "../../src/io/buffered_conn.ts";
import { terminateTls } from "../../src/tls/loopback.ts";
import { makeCert } from "../_helpers/tls.ts";

/** A client connection and hoard's side of it, as after a CONNECT. */
async function connectedPair(): Promise<{ client: Deno.TcpConn; io: BufferedConn }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return { client, io: new BufferedConn(await accepted) };
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

Deno.test("terminateTls: a request in, a large response out, all of it before finish() resolves", async () => {
  const { cert, key } = await makeCert();
  const { client, io } = await connectedPair();
  const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [cert] });
  const session = await terminateTls(io, { cert, key });
  try {
    const c = await tlsClient;
    await c.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    await session.conn.handshake();
    const buf = new Uint8Array(64);
    const n = await session.conn.read(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), "GET / HTTP/1.1\r\n\r\n");
    const body = new Uint8Array(4 * 1024 * 1024).fill(0x61);
    const received = readAll(c);
    let off = 0;
    while (off < body.length) off += await session.conn.write(body.subarray(off));
    await session.finish();
    // Everything went through the relay, then the client saw the end.
    assert.equal((await received).length, body.length);
    c.close();
  } finally {
    session.close();
    io.close();
    await session.relayed;
  }
});

Deno.test("terminateTls: a client that does not trust the certificate fails the handshake", async () => {
  const { cert, key } = await makeCert();
  const other = await makeCert();
  const { client, io } = await connectedPair();
  const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [other.cert] });
  const session = await terminateTls(io, { cert, key });
  try {
    const c = await tlsClient;
    await assert.rejects(c.handshake());
    c.close();
    await assert.rejects(session.conn.handshake());
  } finally {
    session.close();
    io.close();
    await session.relayed;
  }
});
