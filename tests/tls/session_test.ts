// One contract for both ways hoard terminates an intercepted tunnel's TLS:
// on the client's socket itself (in_place.ts) and through a loopback relay
// (loopback.ts).
import assert from "node:assert/strict";
import { BufferedConn } from "../../src/io/buffered_conn.ts";
import { inPlaceTls, terminateInPlace } from "../../src/tls/in_place.ts";
import { terminateTls } from "../../src/tls/loopback.ts";
import type { KeyPair, TlsSession } from "../../src/tls/session.ts";
import { concat, readBytesToEnd, socketPair, writeAll } from "../_helpers/sockets.ts";
import { makeCert } from "../_helpers/tls.ts";

/** A client connection and hoard's side of it, as after a CONNECT. */
async function connectedPair(): Promise<{ client: Deno.TcpConn; io: BufferedConn }> {
  const { a, b } = await socketPair();
  return { client: a, io: new BufferedConn(b) };
}

/** A way to terminate: both take the connection right after the CONNECT. */
type Terminate = (io: BufferedConn, pair: KeyPair) => Promise<TlsSession>;

const ways: [string, Terminate][] = [
  [
    "in place",
    (io, pair) => Promise.resolve(terminateInPlace(io, () => Promise.resolve(pair), "x")),
  ],
  ["relay", async (io, pair) => {
    // The relay is chosen when the ClientHello was read already.
    while (io.bufferedLength === 0) await io.fill();
    return await terminateTls(io, pair);
  }],
];

for (const [way, terminate] of ways) {
  Deno.test(`${way}: a request in, a large response out, all of it before finish() resolves`, async () => {
    const { cert, key } = await makeCert();
    const { client, io } = await connectedPair();
    const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [cert] });
    const sending = tlsClient.then((c) =>
      c.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))
    );
    const session = await terminate(io, { cert, key });
    const c = await tlsClient;
    try {
      await sending;
      await session.handshake();
      assert.equal(session.helloSeen, true);
      const buf = new Uint8Array(64);
      const n = await session.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), "GET / HTTP/1.1\r\n\r\n");
      const body = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
      const received = readBytesToEnd(c);
      await writeAll(session, body);
      await session.finish();
      // Everything reached the client, then it saw the end.
      assert.deepEqual(await received, body);
    } finally {
      c.close();
      session.close();
      await session.done;
    }
    assert.equal(io.closed, true);
  });

  for (const ending of ["closeWrite", "close"] as const) {
    Deno.test(`${way}: an upload read slowly arrives whole and in order, then the client's ${ending}`, async () => {
      const { cert, key } = await makeCert();
      const { client, io } = await connectedPair();
      const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [cert] });
      const upload = new Uint8Array(6 * 1024 * 1024 + 17).map((_, i) => (i * 7) % 253);
      const sending = tlsClient.then(async (c) => {
        await writeAll(c, upload);
        // The end comes while hoard is far behind: it must still be seen.
        if (ending === "close") c.close();
        else await c.closeWrite();
      });
      const session = await terminate(io, { cert, key });
      try {
        await session.handshake();
        const parts: Uint8Array[] = [];
        const buf = new Uint8Array(10_000);
        for (let i = 0;; i++) {
          // Slower than the client: the read-ahead fills and reading stops.
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
          const n = await session.read(buf);
          if (n === null) break;
          parts.push(buf.slice(0, n));
        }
        await sending;
        assert.deepEqual(concat(parts), upload);
      } finally {
        if (ending === "closeWrite") (await tlsClient).close();
        session.close();
        await session.done;
      }
    });
  }

  Deno.test(`${way}: an upload hoard does not read waits in the client, not in hoard's memory`, async () => {
    const { cert, key } = await makeCert();
    const { client, io } = await connectedPair();
    const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [cert] });
    // More than the kernel's buffers on both ends of a loopback connection hold.
    const upload = new Uint8Array(48 * 1024 * 1024).map((_, i) => i % 249);
    let sent = false;
    const sending = tlsClient.then(async (c) => {
      await writeAll(c, upload);
      sent = true;
    });
    const session = await terminate(io, { cert, key });
    try {
      await session.handshake();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(sent, false, "the whole upload went somewhere while nobody read it");
      const parts: Uint8Array[] = [];
      const buf = new Uint8Array(256 * 1024);
      for (let got = 0; got < upload.length;) {
        const n = await session.read(buf);
        if (n === null) break;
        got += n;
        parts.push(buf.slice(0, n));
      }
      await sending;
      assert.deepEqual(concat(parts), upload);
    } finally {
      (await tlsClient).close();
      session.close();
      await session.done;
    }
  });

  Deno.test(`${way}: the client's end of stream reads as null`, async () => {
    const { cert, key } = await makeCert();
    const { client, io } = await connectedPair();
    const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [cert] });
    const sending = tlsClient.then(async (c) => {
      await c.write(new TextEncoder().encode("last words"));
      await c.closeWrite();
    });
    const session = await terminate(io, { cert, key });
    try {
      await session.handshake();
      await sending;
      const buf = new Uint8Array(64);
      let text = "";
      for (;;) {
        const n = await session.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      assert.equal(text, "last words");
    } finally {
      (await tlsClient).close();
      session.close();
      await session.done;
    }
  });

  Deno.test(`${way}: a client that does not trust the certificate fails the handshake`, async () => {
    const { cert, key } = await makeCert();
    const other = await makeCert();
    const { client, io } = await connectedPair();
    const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [other.cert] });
    const session = await terminate(io, { cert, key });
    const c = await tlsClient;
    try {
      await assert.rejects(c.handshake());
      await assert.rejects(session.handshake());
      assert.equal(session.helloSeen, true);
    } finally {
      c.close();
      session.close();
      await session.done;
    }
    assert.equal(io.closed, true);
  });

  Deno.test(`${way}: close() in the middle of a response ends the session and the connection`, async () => {
    const { cert, key } = await makeCert();
    const { client, io } = await connectedPair();
    const tlsClient = Deno.startTls(client, { hostname: "localhost", caCerts: [cert] });
    const sending = tlsClient.then((c) => c.write(new Uint8Array([1])));
    const session = await terminate(io, { cert, key });
    const c = await tlsClient;
    await sending;
    await session.handshake();
    await session.read(new Uint8Array(1));
    // A writer the client never drains: close() must not leave it hanging.
    const writing = writeAll(session, new Uint8Array(64 * 1024 * 1024)).then(
      () => "done",
      () => "cut",
    );
    await new Promise((r) => setTimeout(r, 20));
    session.close();
    await session.done;
    assert.equal(await writing, "cut");
    assert.equal(io.closed, true);
    c.close();
  });
}

Deno.test("in place: this runtime can terminate TLS on an accepted socket", async () => {
  // If a Deno upgrade takes the internals away, hoard falls back to the
  // relay; this says so instead of letting every tunnel slow down unseen.
  const { client, io } = await connectedPair();
  try {
    assert.equal(inPlaceTls(io), true);
    await client.write(new Uint8Array([0x16]));
    await io.fill();
    // A byte already read cannot reach the TLS side any more.
    assert.equal(inPlaceTls(io), false);
  } finally {
    client.close();
    io.close();
  }
});

Deno.test("in place: the certificate is chosen by SNI; without SNI by the fallback name", async () => {
  const { cert, key } = await makeCert();
  for (const [hostname, expected] of [["localhost", "localhost"], ["127.0.0.1", "fallback.test"]]) {
    const { client, io } = await connectedPair();
    const asked: string[] = [];
    const session = terminateInPlace(io, (name) => {
      asked.push(name);
      return Promise.resolve({ cert, key });
    }, "fallback.test");
    const c = await Deno.startTls(client, { hostname: hostname!, caCerts: [cert] });
    try {
      await c.handshake();
      await session.handshake();
      assert.deepEqual(asked, [expected]);
    } finally {
      c.close();
      session.close();
      await session.done;
    }
  }
});

Deno.test("in place: a client that sends no TLS fails with noHello, saying so", async () => {
  const { cert, key } = await makeCert();
  const cases: [string, (c: Deno.TcpConn) => Promise<void>, RegExp][] = [
    ["plain HTTP", async (c) => {
      await c.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    }, /did not start TLS/],
    ["closes at once", (c) => Promise.resolve(c.close()), /closed the tunnel/],
  ];
  for (const [what, act, reason] of cases) {
    const { client, io } = await connectedPair();
    const session = terminateInPlace(io, () => Promise.resolve({ cert, key }), "x");
    await act(client);
    const err = await session.handshake().then(() => undefined, (e) => e);
    assert.ok(err?.noHello === true, `${what}: ${err}`);
    assert.match(err.message, reason, what);
    assert.equal(session.helloSeen, false);
    session.close();
    await session.done;
    try {
      client.close();
    } catch {
      // Closed by the case itself.
    }
  }
});
