/**
 * Helpers for the io and origin unit tests: loopback socket pairs, fake
 * connections that read from a script or record their writes, byte/text
 * conversion, polling, and a spy that tells whether intervals were left running
 * (Deno's sanitizer does not see unref'd timers).
 *
 * @module
 */

/** One byte per char (latin1): `"\xA0"` becomes the single byte 0xA0. */
export function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`char ${c} does not fit in a byte`);
    out[i] = c;
  }
  return out;
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bytes back to text, one char per byte. */
export function text(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i += 8192) {
    s += String.fromCharCode(...data.subarray(i, i + 8192));
  }
  return s;
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every 5 ms; throws with `what` when it is still false after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Two ends of one loopback TCP connection. */
export interface SocketPair {
  /** The connecting end. */
  a: Deno.TcpConn;
  /** The accepted end. */
  b: Deno.TcpConn;
  /** Closes both ends (ignoring ends already closed). */
  close(): void;
  /** Same as close. */
  [Symbol.dispose](): void;
}

/** Opens a TCP connection to itself on 127.0.0.1. */
export async function socketPair(): Promise<SocketPair> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [a, b] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }),
      listener.accept(),
    ]);
    const close = () => {
      for (const c of [a, b]) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    };
    return { a, b, close, [Symbol.dispose]: close };
  } finally {
    listener.close();
  }
}

/** Writes all of `data` (bytes, or latin1 text) to `conn` (a connection, or anything that writes like one). */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array | string,
): Promise<void> {
  const b = typeof data === "string" ? bytes(data) : data;
  let off = 0;
  while (off < b.length) off += await conn.write(b.subarray(off));
}

/** Reads `conn` until EOF (or an error, e.g. reset) and returns everything as latin1 text. */
export async function readToEnd(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(65536);
  let s = "";
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return s;
    s += text(buf.subarray(0, n));
  }
}

/** Reads `conn` until EOF and returns every byte. */
export async function readBytesToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A fake connection whose reads return the pieces of a script, one piece per
 * read (a piece larger than the read buffer is split), then EOF. Writes are
 * recorded. It counts reads, so a test can tell whether code read more than it
 * should have.
 */
export class ScriptedConn {
  /** Number of read calls so far. */
  reads = 0;
  /** Copies of every write call's bytes, in order. */
  readonly writes: Uint8Array[] = [];
  /** Whether close was called. */
  closed = false;
  #pieces: Uint8Array[];
  #maxWrite: number;

  /**
   * @param pieces what successive reads return.
   * @param maxWrite most bytes one write call accepts (to exercise short writes).
   */
  constructor(pieces: (string | Uint8Array)[], maxWrite = Infinity) {
    this.#pieces = pieces.map((p) => typeof p === "string" ? bytes(p) : p);
    this.#maxWrite = maxWrite;
  }

  /** Splits `s` into one-byte pieces. */
  static byteByByte(s: string): ScriptedConn {
    return new ScriptedConn([...s]);
  }

  /** This object typed as the connection it stands in for. */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }

  /** Everything written, as text. */
  get written(): string {
    return this.writes.map(text).join("");
  }

  /** Next piece of the script, or null at its end. */
  read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    const piece = this.#pieces.shift();
    if (piece === undefined) return Promise.resolve(null);
    const n = Math.min(piece.length, p.length);
    p.set(piece.subarray(0, n));
    if (n < piece.length) this.#pieces.unshift(piece.subarray(n));
    return Promise.resolve(n);
  }

  /** Records up to `maxWrite` bytes of `p`. */
  write(p: Uint8Array): Promise<number> {
    const n = Math.min(p.length, this.#maxWrite);
    this.writes.push(p.slice(0, n));
    return Promise.resolve(n);
  }

  /** Marks the connection closed. */
  close(): void {
    this.closed = true;
  }
}

/** A real connection whose write calls are recorded (copies) before they go out. */
export class RecordingConn {
  /** Copies of every write call's bytes, in order. */
  readonly writes: Uint8Array[] = [];
  #inner: Deno.Conn;

  /** @param inner the connection written to. */
  constructor(inner: Deno.Conn) {
    this.#inner = inner;
  }

  /** This object typed as the connection it stands in for. */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }

  /** Reads from the inner connection. */
  read(p: Uint8Array): Promise<number | null> {
    return this.#inner.read(p);
  }

  /** Records, then writes to the inner connection. */
  write(p: Uint8Array): Promise<number> {
    this.writes.push(p.slice());
    return this.#inner.write(p);
  }

  /** Closes the inner connection. */
  close(): void {
    this.#inner.close();
  }
}

/** What {@linkcode spyIntervals} saw. */
export interface IntervalSpy {
  /** Intervals created while the spy was installed. */
  readonly created: number;
  /** Of those, how many are still running. */
  readonly running: number;
  /** Puts the real setInterval/clearInterval back. */
  [Symbol.dispose](): void;
}

/**
 * Wraps the global setInterval/clearInterval to count intervals that were
 * started and not cleared. Needed because hoard unrefs its tickers, and Deno's
 * test sanitizer does not report unref'd timers left running.
 */
export function spyIntervals(): IntervalSpy {
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  const live = new Set<unknown>();
  let created = 0;
  globalThis.setInterval = ((handler: () => void, ms?: number) => {
    const id = realSet(handler, ms);
    live.add(id);
    created++;
    return id;
  }) as typeof setInterval;
  globalThis.clearInterval = ((id?: Parameters<typeof clearInterval>[0]) => {
    if (id !== undefined) live.delete(id);
    realClear(id);
  }) as typeof clearInterval;
  return {
    get created() {
      return created;
    },
    get running() {
      return live.size;
    },
    [Symbol.dispose]() {
      globalThis.setInterval = realSet;
      globalThis.clearInterval = realClear;
      // Leave nothing behind even when the assertion that would have caught it failed.
      for (const id of live) realClear(id as Parameters<typeof clearInterval>[0]);
    },
  };
}

const TIMED_OUT: unique symbol = Symbol("timed out");

/** `p`, or {@linkcode TIMED_OUT} when it takes longer than `ms` (the timer is always cleared). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads one side of a connection for a scripted peer: everything received
 * accumulates in `text`, and a test can wait for a pattern, for EOF, or check
 * that nothing arrives for a while (the read then stays pending, so no byte is
 * lost).
 */
export class ConnReader {
  /** Everything received so far, latin1. */
  text = "";
  /** Whether the peer closed (or reset) the connection. */
  eof = false;
  #conn: Deno.Conn;
  #buf = new Uint8Array(65536);
  #pending: Promise<number | null> | undefined;

  /** @param conn the connection to read. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #more(ms?: number): Promise<"data" | "eof" | "timeout"> {
    if (this.eof) return "eof";
    this.#pending ??= this.#conn.read(this.#buf).catch(() => null);
    const n = ms === undefined ? await this.#pending : await within(this.#pending, ms);
    if (n === TIMED_OUT) return "timeout";
    this.#pending = undefined;
    if (n === null) {
      this.eof = true;
      return "eof";
    }
    this.text += text(this.#buf.subarray(0, n));
    return "data";
  }

  /** Reads until `text` matches `re`; false if the peer closed first. */
  async until(re: RegExp): Promise<boolean> {
    while (!re.test(this.text)) if ((await this.#more()) === "eof") return false;
    return true;
  }

  /** Reads until the peer closes; returns everything received. */
  async toEnd(): Promise<string> {
    while ((await this.#more()) !== "eof") { /* keep reading */ }
    return this.text;
  }

  /** True when nothing (no byte, no EOF) arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    return (await this.#more(ms)) === "timeout";
  }
}
