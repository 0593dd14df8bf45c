#!/usr/bin/env -S deno run --allow-net --allow-read
/**
 * The HTTPS load generator of the benchmark. wrk cannot speak TLS through a
 * proxy's CONNECT, so this is a small client of its own: it opens each
 * connection with a CONNECT through the proxy (or straight to the origin),
 * runs TLS over it with `Deno.startTls` (rustls, verifying against the CA
 * file the proxy signs with) and sends GETs framed by Content-Length.
 *
 * Modes (one JSON object in, one out, on the command line / stdout):
 * - `keepalive`: `connections` kept connections, each sending one request
 *   after the other for `seconds`: requests/s and latency percentiles.
 * - `connect`: `connections` loops, each opening a new connection (CONNECT,
 *   TLS handshake) per request and closing it after the response: new
 *   connections per second, as a package manager without keep-alive makes.
 * - `sequential`: `count` requests one after the other on one kept
 *   connection, each for a new URL (`path` + `-i`), after `warmup` ones.
 *
 * @module
 */

import { ResponseReader } from "./_response_reader.ts";

const encoder = new TextEncoder();

/** Where the client goes and what it asks for. */
export interface LoadOptions {
  /** Which measurement. */
  mode: "keepalive" | "connect" | "sequential";
  /** Proxy port on 127.0.0.1; undefined: straight to the origin. */
  proxyPort?: number;
  /** Origin host name (SNI, certificate check, Host field). */
  host: string;
  /** Origin port. */
  port: number;
  /** PEM file of the CA to trust. */
  caFile: string;
  /** Plain HTTP instead (absolute-form requests to the proxy, no CONNECT): the same client's baseline. */
  plain?: boolean;
  /** Request path. */
  path: string;
  /** Expected body size of every response. */
  size: number;
  /** Concurrent connections (keepalive, connect). @default 64 */
  connections?: number;
  /** Measured duration (keepalive, connect), s. @default 10 */
  seconds?: number;
  /** Unmeasured run before it, s. @default 1 */
  warmSeconds?: number;
  /** Requests measured (sequential). @default 500 */
  count?: number;
  /** Unmeasured requests before them (sequential). @default 50 */
  warmup?: number;
}

/** What one run measured. */
export interface LoadResult {
  /** Requests (keepalive, sequential) or connections (connect) per second. */
  rate: number;
  /** Median latency of a request (with its handshake in connect mode), ms. */
  p50ms: number;
  /** 90th percentile, ms. */
  p90ms: number;
  /** 99th percentile, ms. */
  p99ms: number;
  /** Requests completed in the measured time. */
  requests: number;
  /** Failed requests (each fails and reopens its connection). */
  errors: number;
  /** The first error's message. */
  firstError?: string;
}

/** One HTTPS connection, through the proxy's CONNECT when there is one. */
class Client {
  #conn: Deno.Conn | undefined;
  #reader = new ResponseReader();

  constructor(readonly o: LoadOptions, readonly caCerts: string[]) {}

  async open(): Promise<void> {
    const tcp = await Deno.connect({
      hostname: "127.0.0.1",
      port: this.o.proxyPort ?? this.o.port,
    });
    tcp.setNoDelay(true);
    this.#conn = tcp;
    this.#reader.reset(tcp);
    if (this.o.plain) return;
    if (this.o.proxyPort !== undefined) {
      const authority = `${this.o.host}:${this.o.port}`;
      await this.#write(
        encoder.encode(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
      );
      // Nothing comes after the proxy's answer until the ClientHello: reading past it is safe.
      const head = await this.#reader.head();
      if (!/^HTTP\/1\.[01] 200/.test(head)) throw new Error(`CONNECT: ${head.split("\r\n")[0]}`);
      if (this.#reader.buffered) throw new Error("bytes after the CONNECT answer");
    }
    this.#conn = await Deno.startTls(tcp, { hostname: this.o.host, caCerts: this.caCerts });
    this.#reader.reset(this.#conn);
  }

  async get(path: string): Promise<void> {
    if (this.#conn === undefined) await this.open();
    const target = this.o.plain && this.o.proxyPort !== undefined
      ? `http://${this.o.host}:${this.o.port}${path}`
      : path;
    await this.#write(
      encoder.encode(`GET ${target} HTTP/1.1\r\nHost: ${this.o.host}:${this.o.port}\r\n\r\n`),
    );
    const head = await this.#reader.head();
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (status !== 200 || !cl || Number(cl[1]) !== this.o.size) {
      throw new Error(`${path}: ${head.split("\r\n")[0]}, length ${cl?.[1]}`);
    }
    await this.#reader.skip(Number(cl[1]));
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
  }

  close(): void {
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    this.#conn = undefined;
  }

  async #write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) off += await this.#conn!.write(data.subarray(off));
  }
}

/** The `p` quantile of sorted `xs` by nearest rank (NaN when empty). */
function quantile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Runs one measurement. */
export async function load(o: LoadOptions): Promise<LoadResult> {
  const caCerts = o.plain ? [] : [await Deno.readTextFile(o.caFile)];
  const times: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const fail = (e: unknown) => {
    errors++;
    firstError ??= (e as Error).message;
  };
  let measured: number;
  if (o.mode === "sequential") {
    const client = new Client(o, caCerts);
    const warmup = o.warmup ?? 50;
    const count = o.count ?? 500;
    const started = performance.now();
    for (let i = 0; i < warmup + count; i++) {
      const t0 = performance.now();
      await client.get(`${o.path}-${i}`);
      if (i >= warmup) times.push(performance.now() - t0);
    }
    client.close();
    measured = (performance.now() - started) / 1000;
  } else {
    const perRequest = o.mode === "connect";
    const connections = o.connections ?? 64;
    const run = async (seconds: number, record: boolean) => {
      const until = performance.now() + seconds * 1000;
      await Promise.all(Array.from({ length: connections }, async () => {
        const client = new Client(o, caCerts);
        while (performance.now() < until) {
          const t0 = performance.now();
          try {
            await client.get(o.path);
            if (record) times.push(performance.now() - t0);
          } catch (e) {
            if (record) fail(e);
            client.close();
          }
          if (perRequest) client.close();
        }
        client.close();
      }));
    };
    await run(o.warmSeconds ?? 1, false);
    const started = performance.now();
    await run(o.seconds ?? 10, true);
    measured = (performance.now() - started) / 1000;
  }
  const sorted = Float64Array.from(times).sort();
  return {
    rate: times.length / measured,
    p50ms: quantile(sorted, 0.5),
    p90ms: quantile(sorted, 0.9),
    p99ms: quantile(sorted, 0.99),
    requests: times.length,
    errors,
    firstError,
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(await load(JSON.parse(Deno.args[0]!) as LoadOptions)));
}
