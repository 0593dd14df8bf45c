import assert from "node:assert/strict";
import { HttpSyntaxError } from "../../src/http1/syntax_error.ts";
import {
  BufferedConn,
  type ByteStream,
  JOIN_BYTES,
  MAX_HEAD_BYTES,
  UnexpectedEofError,
} from "../../src/io/buffered_conn.ts";
import {
  bytes,
  delay,
  readBytesToEnd,
  ScriptedConn,
  socketPair,
  text,
  writeAll,
} from "../_helpers/sockets.ts";

const isG = (b: number) => b === 0x47; // "G", the only start byte these requests use
const HEAD = "GET /path HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";

function refusedWith(status: number, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof HttpSyntaxError, `expected HttpSyntaxError, got ${err}`);
    assert.equal(err.status, status);
    assert.match(err.message, message);
    return true;
  };
}

Deno.test("readHead: a head delivered one byte per read is assembled exactly", async () => {
  const script = ScriptedConn.byteByByte(HEAD);
  const io = new BufferedConn(script.conn);
  const head = await io.readHead(isG);
  assert.equal(head === null ? null : text(head), HEAD);
  // One read per byte and not one more: the end was found without waiting for EOF.
  assert.equal(script.reads, HEAD.length);
  assert.equal(io.buffered.length, 0);
});

Deno.test("readHead: a head written one byte at a time over a real socket", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const writer = (async () => {
    for (const c of HEAD) {
      await writeAll(pair.b, c);
      await delay(1);
    }
  })();
  const head = await io.readHead(isG);
  await writer;
  assert.equal(head === null ? null : text(head), HEAD);
  assert.equal(io.buffered.length, 0);
});

Deno.test("readHead: the terminating CRLFCRLF split at every point across two reads", async () => {
  const input = HEAD + "NEXT";
  for (let cut = 1; cut < input.length; cut++) {
    const io = new BufferedConn(new ScriptedConn([input.slice(0, cut), input.slice(cut)]).conn);
    const head = await io.readHead(isG);
    assert.equal(head === null ? null : text(head), HEAD, `cut at ${cut}`);
    while (await io.fill()) { /* drain to EOF */ }
    assert.equal(text(io.buffered), "NEXT", `cut at ${cut}`);
  }
});

Deno.test("readHead: leading empty lines are skipped, even split across reads", async () => {
  const starts: number[] = [];
  const script = ScriptedConn.byteByByte("\r\n\r\n\r\n" + HEAD);
  const io = new BufferedConn(script.conn);
  const head = await io.readHead((b) => {
    starts.push(b);
    return isG(b);
  });
  assert.equal(head === null ? null : text(head), HEAD);
  // The start byte is checked once, on the "G", never on CR or LF.
  assert.deepEqual(starts, [0x47]);
});

Deno.test("readHead: a byte that cannot start a head is refused at once with 400", async () => {
  // The start of a TLS ClientHello; the script has plenty more to give.
  const script = new ScriptedConn([
    new Uint8Array([0x16]),
    new Uint8Array([0x03, 0x01, 0x02, 0x00]),
    "x".repeat(1000),
  ]);
  const io = new BufferedConn(script.conn);
  await assert.rejects(io.readHead(isG), refusedWith(400, /not an HTTP message/));
  assert.equal(script.reads, 1, "refused after the first byte, without reading more");
});

Deno.test("readHead: a non-HTTP byte after empty lines is refused too", async () => {
  const io = new BufferedConn(new ScriptedConn(["\r\n", "\r\nPOST / HTTP/1.1\r\n\r\n"]).conn);
  await assert.rejects(io.readHead(isG), refusedWith(400, /not an HTTP message/));
});

Deno.test("readHead: a bare LF in the head is refused with 400", async () => {
  const io = new BufferedConn(new ScriptedConn(["GET / HTTP/1.1\nHost: a\r\n\r\n"]).conn);
  await assert.rejects(io.readHead(isG), refusedWith(400, /bare LF/));
});

Deno.test("readHead: a head of exactly MAX_HEAD_BYTES is accepted", async () => {
  const prefix = "GET / HTTP/1.1\r\nX-Pad: ";
  const head = prefix + "a".repeat(MAX_HEAD_BYTES - prefix.length - 4) + "\r\n\r\n";
  assert.equal(head.length, MAX_HEAD_BYTES);
  // Arriving in 1000-byte pieces, after two empty lines (so the buffer must be compacted).
  const pieces: string[] = [];
  const input = "\r\n\r\n" + head;
  for (let i = 0; i < input.length; i += 1000) pieces.push(input.slice(i, i + 1000));
  const io = new BufferedConn(new ScriptedConn(pieces).conn);
  const got = await io.readHead(isG);
  assert.equal(got?.length, MAX_HEAD_BYTES);
  assert.equal(got === null ? null : text(got), head);
});

Deno.test("readHead: one byte over MAX_HEAD_BYTES is refused with 431", async () => {
  const prefix = "GET / HTTP/1.1\r\nX-Pad: ";
  const head = prefix + "a".repeat(MAX_HEAD_BYTES + 1 - prefix.length - 4) + "\r\n\r\n";
  const io = new BufferedConn(new ScriptedConn([head]).conn);
  await assert.rejects(io.readHead(isG), refusedWith(431, /64 KiB/));
});

Deno.test("readHead: an endless head is refused with 431 once 64 KiB arrived", async () => {
  const piece = "GET / HTTP/1.1\r\n" + "X-A: b\r\n".repeat(1023); // ~8 KiB, never an empty line
  const script = new ScriptedConn(Array.from({ length: 20 }, () => piece));
  const io = new BufferedConn(script.conn);
  await assert.rejects(io.readHead(isG), refusedWith(431, /larger than 64 KiB/));
  // 64 KiB is 8 pieces and a bit: refused then, not after reading all 160 KiB.
  assert.equal(script.reads, Math.ceil(MAX_HEAD_BYTES / piece.length));
});

Deno.test("readHead: the peer closing in the middle of the head is UnexpectedEofError", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  await writeAll(pair.b, "GET / HTTP/1.1\r\nHost: a\r\n");
  pair.b.close();
  await assert.rejects(io.readHead(isG), (err) => {
    assert.ok(err instanceof UnexpectedEofError);
    assert.match(err.message, /message head/);
    return true;
  });
});

Deno.test("readHead: null when the peer closes without sending anything", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  pair.b.close();
  assert.equal(await io.readHead(isG), null);
});

Deno.test("readHead: null when the peer sends only empty lines, then closes", async () => {
  const io = new BufferedConn(new ScriptedConn(["\r\n", "\r\n"]).conn);
  assert.equal(await io.readHead(isG), null);
});

Deno.test("readHead: pipelined bytes after the head stay buffered for the next read", async () => {
  const second = "GET /two HTTP/1.1\r\nHost: b\r\n\r\n";
  const script = new ScriptedConn([HEAD + second + "BODY"]);
  const io = new BufferedConn(script.conn);
  const first = await io.readHead(isG);
  assert.equal(first === null ? null : text(first), HEAD);
  assert.equal(text(io.buffered), second + "BODY");
  const next = await io.readHead(isG);
  assert.equal(next === null ? null : text(next), second);
  assert.equal(text(io.buffered), "BODY");
  assert.equal(script.reads, 1, "the second head came from the buffer, not another read");
});

Deno.test("watchIdle: fill() takes over the pending read instead of starting another", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const idle = io.watchIdle();
  assert.equal(io.watchIdle(), idle, "a second watchIdle shares the read");
  const filled = io.fill();
  assert.equal(filled, idle, "fill returns the very read watchIdle started");
  await writeAll(pair.b, "abc");
  assert.equal(await filled, true);
  assert.equal(text(io.buffered), "abc");
  // The next fill is a new read, and appends.
  const more = io.fill();
  assert.notEqual(more, idle);
  await writeAll(pair.b, "def");
  assert.equal(await more, true);
  assert.equal(text(io.buffered), "abcdef");
});

Deno.test("watchIdle: bytes that arrived while idle are not lost", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const idle = io.watchIdle();
  await writeAll(pair.b, "GET /a HTTP/1.1\r\n");
  assert.equal(await idle, true);
  await writeAll(pair.b, "Host: a\r\n\r\n");
  const head = await io.readHead(isG);
  assert.equal(head === null ? null : text(head), "GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
});

Deno.test("watchIdle: one read in flight, whatever the order of watchIdle and fill", async () => {
  const script = new ScriptedConn(["one", "two"]);
  const io = new BufferedConn(script.conn);
  const idle = io.watchIdle();
  io.watchIdle();
  const filled = io.fill();
  assert.equal(script.reads, 1);
  assert.equal(await filled, true);
  assert.equal(await idle, true);
  assert.equal(text(io.buffered), "one");
  assert.equal(await io.fill(), true);
  assert.equal(script.reads, 2);
  assert.equal(text(io.buffered), "onetwo");
});

Deno.test("watchIdle: resolves false when the peer closes the idle connection", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const idle = io.watchIdle();
  pair.b.close();
  assert.equal(await idle, false);
  // The EOF is remembered for the next fill, which does not block.
  assert.equal(await io.fill(), false);
});

Deno.test("write: 8 MiB arrives complete and in order over a real socket", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const data = new Uint8Array(8 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 13)) & 0xff;
  const received = readBytesToEnd(pair.b);
  await io.write(data);
  io.close();
  const got = await received;
  assert.equal(got.length, data.length);
  assert.ok(got.every((b, i) => b === data[i]), "bytes differ");
});

Deno.test("write: short writes are continued until everything is written", async () => {
  const script = new ScriptedConn([], 7);
  const io = new BufferedConn(script.conn);
  const msg = "x".repeat(20) + "0123456789";
  await io.write(bytes(msg));
  assert.equal(script.written, msg);
  assert.deepEqual(script.writes.map((w) => w.length), [7, 7, 7, 7, 2]);
});

Deno.test("close: marks closed, closes the connection, and is safe twice", () => {
  const script = new ScriptedConn([]);
  const io = new BufferedConn(script.conn);
  assert.equal(io.closed, false);
  io.close();
  io.close();
  assert.equal(io.closed, true);
  assert.equal(script.closed, true);
});

/**
 * A stream whose writes are taken later, when `take()` is called: what a write
 * hands over must stay intact until then (a socket or a TLS session may still
 * be reading it).
 */
function slowWriter() {
  const pending: { p: Uint8Array; done: () => void }[] = [];
  const taken: { text: string; bytes: Uint8Array; buffer: ArrayBufferLike }[] = [];
  const conn: ByteStream = {
    read: () => Promise.resolve(null),
    write: (p) => new Promise((resolve) => pending.push({ p, done: () => resolve(p.length) })),
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  const take = async () => {
    while (pending.length === 0) await delay(1);
    const { p, done } = pending.shift()!;
    taken.push({ text: text(p), bytes: p.slice(), buffer: p.buffer });
    done();
  };
  return { conn, take, taken };
}

Deno.test("writeJoined: head and body in one write, through one buffer the connection keeps", async () => {
  const w = slowWriter();
  const io = new BufferedConn(w.conn);
  const first = io.writeJoined(bytes("HTTP/1.1 200 OK\r\n\r\n"), bytes("one"));
  await w.take();
  await first;
  const second = io.writeJoined(bytes("HTTP/1.1 200 OK\r\n\r\n"), bytes("two!"));
  await w.take();
  await second;
  assert.deepEqual(w.taken.map((t) => t.text), [
    "HTTP/1.1 200 OK\r\n\r\none",
    "HTTP/1.1 200 OK\r\n\r\ntwo!",
  ]);
  // No new buffer for the second response.
  assert.equal(w.taken[0]!.buffer, w.taken[1]!.buffer);
});

Deno.test("writeJoined: a second joined write while one is in flight gets its own buffer", async () => {
  const w = slowWriter();
  const io = new BufferedConn(w.conn);
  const a = io.writeJoined(bytes("A-head "), bytes("a-body"));
  const b = io.writeJoined(bytes("B-head "), bytes("b-body"));
  await w.take();
  await w.take();
  await Promise.all([a, b]);
  assert.deepEqual(w.taken.map((t) => t.text).sort(), ["A-head a-body", "B-head b-body"]);
  assert.notEqual(w.taken[0]!.buffer, w.taken[1]!.buffer);
});

Deno.test("writeJoined: a head given as text is written one byte per char, obs-text kept", async () => {
  const w = slowWriter();
  const io = new BufferedConn(w.conn);
  const head = "HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\n\r\n";
  const done = io.writeJoined(head, bytes("body"));
  await w.take();
  await done;
  const sent = new Uint8Array([...head].map((c) => c.charCodeAt(0)).concat([...bytes("body")]));
  assert.equal(w.taken.length, 1);
  assert.deepEqual(new Uint8Array(w.taken[0]!.bytes), sent);
});

Deno.test("writeJoined: more than JOIN_BYTES is refused, nothing written", async () => {
  const w = slowWriter();
  const io = new BufferedConn(w.conn);
  await assert.rejects(
    io.writeJoined(new Uint8Array(JOIN_BYTES), bytes("x")),
    /over 16384/,
  );
  assert.equal(w.taken.length, 0);
});
