/**
 * A raw HTTP/1.1 client for the crash and load runs: one keep-alive connection
 * to a proxy, absolute-form GETs whose bodies are framed by hand (length or
 * chunked) and handed to a callback chunk by chunk, CONNECT tunnels, and
 * percentiles. Unlike curl or fetch it tells a response cut short
 * ({@linkcode TruncatedError}) from one that failed otherwise, and it keeps a
 * thousand connections open from one process without a thousand children.
 *
 * @module
 */

const HEAD_LIMIT = 64 * 1024;
const CRLF_CRLF = [13, 10, 13, 10] as const;
const latin1 = new TextDecoder("latin1");

/** The connection ended (EOF or reset) before the response was complete. */
export class TruncatedError extends Error {
  /** Body bytes received before the end. */
  readonly received: number;

  /** @param message what was cut; @param received body bytes received before it. */
  constructor(message: string, received: number) {
    super(message);
    this.name = "TruncatedError";
    this.received = received;
  }
}

/** A response head and how much body came with it. */
export interface RawResponse {
  /** Status code. */
  status: number;
  /** Header fields, lower-case names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  /** Body bytes received. */
  bodyBytes: number;
  /** How the body was framed. */
  framing: "length" | "chunked" | "close" | "none";
}

/** One client connection to a proxy (or any HTTP/1.1 server). */
export class RawConn {
  /** The socket. */
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #closed = false;
  #timedOut = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects to `port` on 127.0.0.1. */
  static async open(port: number, hostname = "127.0.0.1"): Promise<RawConn> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new RawConn(conn);
  }

  /** Whether it was closed (by {@linkcode RawConn.close}, a timeout, or `Connection: close`). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `GET url` in absolute form (the proxy form) and reads the response,
   * passing each piece of the body to `onBody` (a view valid only during the
   * call). With `timeoutMs`, the connection is closed when the exchange takes
   * longer, and the call throws "timed out".
   *
   * @throws {TruncatedError} when the connection ends before the response does.
   */
  async get(
    url: string,
    onBody?: (chunk: Uint8Array) => void,
    timeoutMs?: number,
  ): Promise<RawResponse> {
    const host = new URL(url).host;
    return await this.#exchange(
      `GET ${url} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      (head) => this.#readBody(head, onBody),
      timeoutMs,
    );
  }

  /**
   * Sends `CONNECT authority` and reads the answer's head. After a 2xx the
   * connection is a tunnel: use {@linkcode RawConn.write} and
   * {@linkcode RawConn.readExactly}.
   */
  async connect(authority: string, timeoutMs?: number): Promise<RawResponse> {
    return await this.#exchange(
      `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`,
      (head) => Promise.resolve({ ...head, bodyBytes: 0, framing: "none" as const }),
      timeoutMs,
    );
  }

  /** Writes all of `data`. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) off += await this.conn.write(data.subarray(off));
  }

  /** Reads exactly `n` bytes (within `timeoutMs` if given). */
  async readExactly(n: number, timeoutMs?: number): Promise<Uint8Array> {
    this.#arm(timeoutMs);
    try {
      const out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        if (this.#end === this.#start && !(await this.#fill())) {
          throw new TruncatedError(`connection ended after ${at} of ${n} bytes`, at);
        }
        const take = Math.min(n - at, this.#end - this.#start);
        out.set(this.#buf.subarray(this.#start, this.#start + take), at);
        this.#start += take;
        at += take;
      }
      return out;
    } finally {
      this.#disarm();
    }
  }

  /** Closes the connection (again is harmless). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  async #exchange(
    request: string,
    rest: (head: Omit<RawResponse, "bodyBytes" | "framing">) => Promise<RawResponse>,
    timeoutMs: number | undefined,
  ): Promise<RawResponse> {
    this.#arm(timeoutMs);
    try {
      await this.write(Uint8Array.from(request, (c) => c.charCodeAt(0)));
      const head = await this.#readHead();
      const res = await rest(head);
      if (/\bclose\b/i.test(head.headers.get("connection") ?? "")) this.close();
      return res;
    } finally {
      this.#disarm();
    }
  }

  #arm(timeoutMs: number | undefined): void {
    if (timeoutMs === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.close();
    }, timeoutMs);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reads more into the buffer; false at EOF. */
  async #fill(): Promise<boolean> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.#buf.subarray(this.#end));
    } catch (err) {
      if (this.#timedOut) throw new Error("timed out");
      // A reset is an end like EOF (a killed server resets its connections).
      if (err instanceof Deno.errors.ConnectionReset) return false;
      throw err;
    }
    if (n === null) {
      if (this.#timedOut) throw new Error("timed out");
      return false;
    }
    this.#end += n;
    return true;
  }

  async #readHead(): Promise<Omit<RawResponse, "bodyBytes" | "framing">> {
    for (;;) {
      const at = indexOf(this.#buf, CRLF_CRLF, this.#start, this.#end);
      if (at !== -1) {
        const text = latin1.decode(this.#buf.subarray(this.#start, at));
        this.#start = at + 4;
        const [statusLine = "", ...lines] = text.split("\r\n");
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
        if (m === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
        const headers = new Map<string, string>();
        for (const line of lines) {
          const i = line.indexOf(":");
          const name = line.slice(0, i).toLowerCase();
          const value = line.slice(i + 1).trim();
          const seen = headers.get(name);
          headers.set(name, seen === undefined ? value : `${seen}, ${value}`);
        }
        const status = Number(m[1]);
        // 1xx heads come before the real one.
        if (status >= 100 && status < 200 && status !== 101) continue;
        return { status, headers };
      }
      if (this.#end - this.#start > HEAD_LIMIT) throw new Error("response head too large");
      if (!(await this.#fill())) {
        throw new TruncatedError("connection ended before a response head", 0);
      }
    }
  }

  async #readBody(
    head: Omit<RawResponse, "bodyBytes" | "framing">,
    onBody: ((chunk: Uint8Array) => void) | undefined,
  ): Promise<RawResponse> {
    const { status, headers } = head;
    if (status === 204 || status === 304) return { ...head, bodyBytes: 0, framing: "none" };
    const te = headers.get("transfer-encoding");
    if (te !== undefined) {
      if (!/chunked$/i.test(te)) throw new Error(`unexpected transfer-encoding ${te}`);
      return { ...head, bodyBytes: await this.#readChunked(onBody), framing: "chunked" };
    }
    const cl = headers.get("content-length");
    if (cl !== undefined) {
      const length = Number(cl);
      await this.#readCounted(length, 0, onBody);
      return { ...head, bodyBytes: length, framing: "length" };
    }
    let bytes = 0;
    for (;;) {
      if (this.#end > this.#start) {
        onBody?.(this.#buf.subarray(this.#start, this.#end));
        bytes += this.#end - this.#start;
        this.#start = this.#end;
      }
      if (!(await this.#fill())) break;
    }
    this.close();
    return { ...head, bodyBytes: bytes, framing: "close" };
  }

  /** Passes the next `n` bytes to `onBody`; `before` is body already received (for errors). */
  async #readCounted(
    n: number,
    before: number,
    onBody: ((chunk: Uint8Array) => void) | undefined,
  ): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#end === this.#start && !(await this.#fill())) {
        const got = before + n - left;
        throw new TruncatedError(`body cut after ${got} bytes`, got);
      }
      const take = Math.min(left, this.#end - this.#start);
      onBody?.(this.#buf.subarray(this.#start, this.#start + take));
      this.#start += take;
      left -= take;
    }
  }

  async #readLine(received: number): Promise<string> {
    for (;;) {
      const at = indexOf(this.#buf, [13, 10], this.#start, this.#end);
      if (at !== -1) {
        const line = latin1.decode(this.#buf.subarray(this.#start, at));
        this.#start = at + 2;
        return line;
      }
      if (this.#end - this.#start > HEAD_LIMIT) throw new Error("chunk line too long");
      if (!(await this.#fill())) {
        throw new TruncatedError(`chunked body cut after ${received} bytes`, received);
      }
    }
  }

  async #readChunked(onBody: ((chunk: Uint8Array) => void) | undefined): Promise<number> {
    let bytes = 0;
    for (;;) {
      const line = await this.#readLine(bytes);
      const size = parseInt(line.split(";")[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size ${line}`);
      if (size === 0) break;
      await this.#readCounted(size, bytes, onBody);
      bytes += size;
      if ((await this.#readLine(bytes)) !== "") throw new Error("chunk not followed by CRLF");
    }
    // Trailer fields, up to the empty line.
    while ((await this.#readLine(bytes)) !== "");
    return bytes;
  }
}

function indexOf(buf: Uint8Array, needle: readonly number[], from: number, to: number): number {
  const first = needle[0]!;
  for (let i = buf.indexOf(first, from); i !== -1 && i + needle.length <= to;) {
    let ok = true;
    for (let k = 1; k < needle.length; k++) {
      if (buf[i + k] !== needle[k]) {
        ok = false;
        break;
      }
    }
    if (ok) return i;
    i = buf.indexOf(first, i + 1);
  }
  return -1;
}

/** The `p`-th percentile (0..100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A seeded pseudo-random generator (mulberry32): floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
