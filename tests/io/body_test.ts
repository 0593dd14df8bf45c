import assert from "node:assert/strict";
import { FieldList } from "../../src/http1/fields.ts";
import type { BodyFraming } from "../../src/http1/framing.ts";
import { HttpSyntaxError } from "../../src/http1/syntax_error.ts";
import { type BodyReader, bodySink, pipeBody, readBody } from "../../src/io/body.ts";
import { BufferedConn, UnexpectedEofError } from "../../src/io/buffered_conn.ts";
import { Deadline } from "../../src/io/deadline.ts";
import {
  bytes,
  delay,
  readToEnd,
  RecordingConn,
  ScriptedConn,
  socketPair,
  text,
  writeAll,
} from "../_helpers/sockets.ts";

const LENGTH = (length: number): BodyFraming => ({ kind: "length", length });
const CHUNKED: BodyFraming = { kind: "chunked" };
const CLOSE: BodyFraming = { kind: "close" };
const NONE: BodyFraming = { kind: "none" };

/** Reads a whole body, copying each piece (views die at the next read). */
async function drain(reader: BodyReader): Promise<{ pieces: string[]; trailers?: FieldList }> {
  const pieces: string[] = [];
  for (;;) {
    const step = await reader.next();
    if (step.done) return { pieces, trailers: step.value };
    pieces.push(text(step.value));
  }
}

/** Writes `pieces` to `conn` with a pause between them, so they arrive as separate reads. */
async function trickle(conn: Deno.Conn, pieces: string[], pauseMs = 15): Promise<void> {
  for (const p of pieces) {
    await writeAll(conn, p);
    await delay(pauseMs);
  }
}

function fieldsOf(list: FieldList | undefined): [string, string][] {
  return list === undefined ? [] : [...list];
}

// ---- readBody ----

Deno.test("readBody none: ends at once, reads nothing, leaves buffered bytes alone", async () => {
  const script = new ScriptedConn(["NEXT REQUEST"]);
  const io = new BufferedConn(script.conn);
  await io.fill();
  const { pieces, trailers } = await drain(readBody(io, NONE));
  assert.deepEqual(pieces, []);
  assert.equal(trailers, undefined);
  assert.equal(text(io.buffered), "NEXT REQUEST");
  assert.equal(script.reads, 1);
});

Deno.test("readBody length 0: ends at once without reading", async () => {
  const script = new ScriptedConn(["X"]);
  const io = new BufferedConn(script.conn);
  assert.deepEqual((await drain(readBody(io, LENGTH(0)))).pieces, []);
  assert.equal(script.reads, 0);
});

Deno.test("readBody length: streams pieces as they arrive and stops at the length", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const reader = readBody(io, LENGTH(11));
  await writeAll(pair.b, "hello");
  // The first piece is handed out before the rest of the body was even sent.
  let step = await reader.next();
  assert.equal(step.done, false);
  assert.equal(text(step.value as Uint8Array), "hello");
  await writeAll(pair.b, " world" + "GET /next");
  step = await reader.next();
  assert.equal(text(step.value as Uint8Array), " world");
  step = await reader.next();
  assert.deepEqual(step, { done: true, value: undefined });
  assert.equal(text(io.buffered), "GET /next", "bytes after the body stay buffered");
});

Deno.test("readBody length: a body already buffered with the head needs no read", async () => {
  const script = new ScriptedConn(["HEADhello!!"]);
  const io = new BufferedConn(script.conn);
  await io.fill();
  io.consume(4);
  const { pieces } = await drain(readBody(io, LENGTH(5)));
  assert.deepEqual(pieces, ["hello"]);
  assert.equal(text(io.buffered), "!!");
  assert.equal(script.reads, 1);
});

Deno.test("readBody length: a body split over many writes arrives whole", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const parts = ["a", "bc", "def", "ghij", "klmno"];
  const writer = trickle(pair.b, parts);
  const { pieces } = await drain(readBody(io, LENGTH(15)));
  await writer;
  assert.equal(pieces.join(""), "abcdefghijklmno");
  assert.ok(pieces.length > 1, "streamed, not buffered whole");
});

Deno.test("readBody length: the peer closing early is UnexpectedEofError", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  await writeAll(pair.b, "abcd");
  pair.b.close();
  const got: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const piece of readBody(io, LENGTH(10))) got.push(text(piece));
    })(),
    (err) => {
      assert.ok(err instanceof UnexpectedEofError, `got ${err}`);
      assert.match(err.message, /body/);
      return true;
    },
  );
  assert.equal(got.join(""), "abcd", "what did arrive was passed on first");
});

Deno.test("readBody chunked: data and trailers, split across writes", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const wire = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: abc\r\nX-Other: 1\r\n\r\nNEXT";
  // Cut inside a size line, inside data, between CR and LF, and inside the trailers.
  const writer = trickle(pair.b, [
    wire.slice(0, 1),
    wire.slice(1, 7),
    wire.slice(7, 9),
    wire.slice(9, 26),
    wire.slice(26, 40),
    wire.slice(40),
  ]);
  const { pieces, trailers } = await drain(readBody(io, CHUNKED));
  await writer;
  assert.equal(pieces.join(""), "hello world");
  assert.deepEqual(fieldsOf(trailers), [["X-Sum", "abc"], ["X-Other", "1"]]);
  assert.equal(text(io.buffered), "NEXT");
});

Deno.test("readBody chunked: one byte per read", async () => {
  const wire = "3\r\nabc\r\n1\r\nd\r\n0\r\nT: v\r\n\r\n";
  const io = new BufferedConn(ScriptedConn.byteByByte(wire + "Z").conn);
  const { pieces, trailers } = await drain(readBody(io, CHUNKED));
  assert.equal(pieces.join(""), "abcd");
  assert.deepEqual(fieldsOf(trailers), [["T", "v"]]);
  // It stopped exactly at the end of the body: "Z" was never read.
  assert.equal(io.buffered.length, 0);
  assert.equal(await io.fill(), true);
  assert.equal(text(io.buffered), "Z");
});

Deno.test("readBody chunked: no trailers gives undefined", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  await writeAll(pair.b, "4\r\nwxyz\r\n0\r\n\r\n");
  const { pieces, trailers } = await drain(readBody(io, CHUNKED));
  assert.equal(pieces.join(""), "wxyz");
  assert.equal(trailers, undefined);
  assert.equal(io.buffered.length, 0);
});

Deno.test("readBody chunked: the peer closing early is UnexpectedEofError", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  await writeAll(pair.b, "5\r\nhel");
  pair.b.close();
  await assert.rejects(drain(readBody(io, CHUNKED)), (err) => {
    assert.ok(err instanceof UnexpectedEofError, `got ${err}`);
    assert.match(err.message, /chunked body/);
    return true;
  });
});

Deno.test("readBody chunked: malformed framing is HttpSyntaxError", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  await writeAll(pair.b, "zz\r\n");
  await assert.rejects(drain(readBody(io, CHUNKED)), HttpSyntaxError);
});

Deno.test("readBody close: everything until the peer closes", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  const writer = trickle(pair.b, ["abc", "def", "\r\n0\r\n\r\n"]).then(() => pair.b.close());
  const { pieces, trailers } = await drain(readBody(io, CLOSE));
  await writer;
  assert.equal(pieces.join(""), "abcdef\r\n0\r\n\r\n");
  assert.equal(trailers, undefined);
});

Deno.test("readBody: every arrival pushes the deadline back", async () => {
  using pair = await socketPair();
  const io = new BufferedConn(pair.a);
  let fired = false;
  // 250 ms allowed between reads; the body takes ~600 ms in pieces 100 ms apart.
  const deadline = new Deadline(250, () => fired = true);
  try {
    const writer = trickle(pair.b, ["a", "b", "c", "d", "e", "f"], 100);
    const { pieces } = await drain(readBody(io, LENGTH(6), deadline));
    await writer;
    assert.equal(pieces.join(""), "abcdef");
    assert.equal(fired, false, "the deadline fired although bytes kept arriving");
  } finally {
    deadline.clear();
  }
});

// ---- bodySink ----

const HEAD = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
const CHUNKED_HEAD = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/** A BufferedConn whose writes are recorded, and what its peer received by the time it closed. */
async function sinkTarget() {
  const pair = await socketPair();
  const rec = new RecordingConn(pair.a);
  const io = new BufferedConn(rec.conn);
  const received = readToEnd(pair.b);
  return {
    io,
    writes: () => rec.writes.map(text),
    /** Closes the writing side and returns every byte the peer got. */
    async finish(): Promise<string> {
      io.close();
      const got = await received;
      pair.close();
      return got;
    },
  };
}

Deno.test("bodySink: the head goes out with a small first write, in one write", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, LENGTH(5), bytes(HEAD));
  assert.deepEqual(t.writes(), [], "the head is held back until the body starts");
  await sink.write(bytes("hello"));
  await sink.end();
  assert.deepEqual(t.writes(), [HEAD + "hello"]);
  assert.equal(sink.bytes, 5);
  assert.equal(await t.finish(), HEAD + "hello");
});

Deno.test("bodySink: a large first write is not copied into the head's write", async () => {
  const t = await sinkTarget();
  const head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
  const body = "z".repeat(100_000);
  const sink = bodySink(t.io, LENGTH(100_000), bytes(head));
  await sink.write(bytes(body));
  await sink.write(new Uint8Array(0)); // nothing to send
  await sink.end();
  const writes = t.writes();
  assert.equal(writes[0], head, "the head alone");
  assert.equal(writes.slice(1).join(""), body);
  assert.equal(sink.bytes, 100_000);
  assert.equal(await t.finish(), head + body);
});

Deno.test("bodySink: later writes go out as they come", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, LENGTH(9), bytes(HEAD));
  await sink.write(bytes("abc"));
  await sink.write(bytes("def"));
  await sink.write(bytes("ghi"));
  await sink.end();
  assert.deepEqual(t.writes(), [HEAD + "abc", "def", "ghi"]);
  assert.equal(sink.bytes, 9);
  assert.equal(await t.finish(), HEAD + "abcdefghi");
});

Deno.test("bodySink chunked: exact framing bytes", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, CHUNKED, bytes(CHUNKED_HEAD));
  await sink.write(bytes("hello"));
  await sink.end();
  assert.equal(sink.bytes, 5, "framing is not counted");
  assert.deepEqual(t.writes(), [CHUNKED_HEAD + "5\r\nhello\r\n", "0\r\n\r\n"]);
  assert.equal(await t.finish(), CHUNKED_HEAD + "5\r\nhello\r\n0\r\n\r\n");
});

Deno.test("bodySink chunked: sizes in hex, an empty write sends no (terminating) chunk", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, CHUNKED, bytes(CHUNKED_HEAD));
  await sink.write(bytes("x".repeat(26)));
  await sink.write(new Uint8Array(0));
  await sink.write(bytes("y".repeat(255)));
  await sink.end();
  assert.equal(sink.bytes, 281);
  assert.equal(
    await t.finish(),
    CHUNKED_HEAD + `1a\r\n${"x".repeat(26)}\r\nff\r\n${"y".repeat(255)}\r\n0\r\n\r\n`,
  );
});

Deno.test("bodySink chunked: trailers are written in the last chunk", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, CHUNKED, bytes(CHUNKED_HEAD));
  await sink.write(bytes("hello"));
  const trailers = new FieldList();
  trailers.add("X-Checksum", "abc123");
  trailers.add("X-Count", "1");
  await sink.end(trailers);
  assert.equal(
    await t.finish(),
    CHUNKED_HEAD + "5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nX-Count: 1\r\n\r\n",
  );
});

Deno.test("bodySink chunked: empty trailers and no writes still end the body", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, CHUNKED, bytes(CHUNKED_HEAD));
  await sink.end(new FieldList());
  assert.deepEqual(t.writes(), [CHUNKED_HEAD + "0\r\n\r\n"], "head and last chunk in one write");
  assert.equal(sink.bytes, 0);
  assert.equal(await t.finish(), CHUNKED_HEAD + "0\r\n\r\n");
});

Deno.test("bodySink: end() with no body writes just the head, once", async () => {
  for (const framing of [NONE, LENGTH(0), CLOSE]) {
    const t = await sinkTarget();
    const head = "HTTP/1.1 204 No Content\r\n\r\n";
    const sink = bodySink(t.io, framing, bytes(head));
    await sink.end();
    assert.deepEqual(t.writes(), [head], framing.kind);
    assert.equal(await t.finish(), head, framing.kind);
  }
});

Deno.test("bodySink: trailers are dropped outside chunked framing", async () => {
  const t = await sinkTarget();
  const sink = bodySink(t.io, LENGTH(5), bytes(HEAD));
  await sink.write(bytes("hello"));
  const trailers = new FieldList();
  trailers.add("X-T", "1");
  await sink.end(trailers);
  assert.equal(await t.finish(), HEAD + "hello");
});

// ---- pipeBody ----

Deno.test("pipeBody: chunked to chunked, data and trailers passed on", async () => {
  using from = await socketPair();
  const src = new BufferedConn(from.a);
  const t = await sinkTarget();
  // One write, so both chunks are decoded from one read and re-framed as they came.
  await writeAll(from.b, "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
  const sink = bodySink(t.io, CHUNKED, bytes(CHUNKED_HEAD));
  await pipeBody(readBody(src, CHUNKED), sink);
  assert.equal(sink.bytes, 11);
  assert.equal(
    await t.finish(),
    CHUNKED_HEAD + "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
  );
});

Deno.test("pipeBody: length to length copies a body that arrives in pieces", async () => {
  using from = await socketPair();
  const src = new BufferedConn(from.a);
  const t = await sinkTarget();
  const body = "0123456789".repeat(3000); // 30 000 bytes
  const writer = trickle(from.b, [body.slice(0, 7), body.slice(7, 20_000), body.slice(20_000)]);
  const head = "HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n";
  const sink = bodySink(t.io, LENGTH(30_000), bytes(head));
  await pipeBody(readBody(src, LENGTH(30_000)), sink);
  await writer;
  assert.equal(sink.bytes, 30_000);
  assert.equal(await t.finish(), head + body);
});

Deno.test("pipeBody: a reader failing mid-body rejects and does not end the sink", async () => {
  using from = await socketPair();
  const src = new BufferedConn(from.a);
  const t = await sinkTarget();
  await writeAll(from.b, "5\r\nhello\r\n");
  from.b.close();
  const sink = bodySink(t.io, CHUNKED, bytes(CHUNKED_HEAD));
  await assert.rejects(pipeBody(readBody(src, CHUNKED), sink), UnexpectedEofError);
  // The client must see a cut-short body, never a clean last chunk.
  assert.equal(await t.finish(), CHUNKED_HEAD + "5\r\nhello\r\n");
});

Deno.test("readBody: a large body streams through a borrowed buffer; pipelined bytes after it survive", async () => {
  using pair = await socketPair();
  {
    const io = new BufferedConn(pair.b);
    // 300 KiB chunked body (more than the head buffer), then the next request head.
    const piece = "x".repeat(100 * 1024);
    const body = [piece, piece, piece].map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join("") +
      "0\r\n\r\n";
    const next = "GET http://h/next HTTP/1.1\r\nHost: h\r\n\r\n";
    const writing = writeAll(pair.a, body + next);
    let total = 0, largest = 0;
    const reader = readBody(io, CHUNKED);
    for (;;) {
      const step = await reader.next();
      if (step.done) break;
      total += step.value.length;
      largest = Math.max(largest, step.value.length);
      assert.ok(step.value.every((b) => b === 0x78), "body bytes intact");
    }
    await writing;
    await pair.a.closeWrite(); // a lost pipelined head then shows as EOF, not a hang
    assert.equal(total, 300 * 1024);
    assert.ok(largest > 64 * 1024, `reads of up to ${largest} bytes: the stream buffer was used`);
    const head = await io.readHead(() => true);
    assert.ok(head !== null, "the pipelined head was lost");
    assert.equal(text(head), next);
  }
});
