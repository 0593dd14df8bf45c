// The reads of intercepted sockets through the thread's two shared buffers
// (src/tls/own_buffers.ts), seen through the sessions that use them.
import assert from "node:assert/strict";
import { BufferedConn } from "../../src/io/buffered_conn.ts";
import { InPlaceSession, terminateInPlace } from "../../src/tls/in_place.ts";
import { concat, delay, socketPair, writeAll } from "../_helpers/sockets.ts";
import { makeCert } from "../_helpers/tls.ts";

Deno.test("this runtime lets an adopted socket read through hoard's own buffers", async () => {
  // If a Deno upgrade takes the internals away, sessions fall back to a new
  // Buffer per read; this says so instead of letting the p99 grow unseen.
  const { cert, key } = await makeCert();
  const { a: client, b } = await socketPair();
  const session = terminateInPlace(new BufferedConn(b), () => Promise.resolve({ cert, key }), "x");
  try {
    assert.ok(session instanceof InPlaceSession);
    assert.equal(session.ownBuffers, true);
  } finally {
    session.close();
    await session.done;
    client.close();
  }
});

Deno.test("sessions sharing the buffers each read their own bytes, whole and in order", async () => {
  // Two uploads at once, each read slowly: their chunks are queued between
  // reads, while the other session's reads go through the same buffers.
  const { cert, key } = await makeCert();
  const size = 3 * 1024 * 1024 + 5;
  const uploads = [1, 2].map((k) => new Uint8Array(size).map((_, i) => (i * k + k) % 241));
  const runs = uploads.map(async (upload, k) => {
    const { a, b } = await socketPair();
    const session = terminateInPlace(
      new BufferedConn(b),
      () => Promise.resolve({ cert, key }),
      "x",
    );
    const client = await Deno.startTls(a, { hostname: "localhost", caCerts: [cert] });
    try {
      const sending = writeAll(client, upload).then(() => client.closeWrite());
      await session.handshake();
      const parts: Uint8Array[] = [];
      const buf = new Uint8Array(7000 + k * 1000);
      for (let n = 0; (n = (await session.read(buf)) ?? -1) >= 0;) {
        parts.push(buf.slice(0, n));
        if (parts.length % 64 === 0) await delay(1);
      }
      await sending;
      return concat(parts);
    } finally {
      client.close();
      session.close();
      await session.done;
    }
  });
  const got = await Promise.all(runs);
  for (const [k, upload] of uploads.entries()) {
    assert.equal(got[k]!.length, upload.length, `upload ${k}: length`);
    assert.ok(got[k]!.every((v, i) => v === upload[i]), `upload ${k}: bytes`);
  }
});
