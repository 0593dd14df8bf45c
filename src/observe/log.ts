/**
 * Logging: one line per request, readable by a person, plus diagnostics.
 *
 * @module
 */

import { type Summary, summaryText } from "./report.ts";

/** How much to log: `info` includes one line per request; `warn` is quiet mode. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Accepted `--log-level` values, most to least verbose. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** What happened to one request, for its log line. */
export interface RequestRecord {
  /** Request method. */
  method: string;
  /** Absolute URL, or `host:port` for CONNECT. */
  url: string;
  /** Final status sent (0 when the client left before one was). */
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
  /** `performance.now()` when the request head was read. */
  start: number;
  /** The route decided (`hit`, `miss`, `revalidate`, `check`, `partial`, `pass`, `tunnel`, `intercept`, `local`), or `error`. */
  route: string;
  /**
   * The rules (src/rules.ts) that decided something about the request, by
   * name, or `rules[i]` for the config file's unnamed i-th rule; none when
   * no rule did.
   */
  rules?: readonly string[];
  /** Why it failed, when it did (a Proxy-Status error type or a short word). */
  error?: string;
  /**
   * What exactly went wrong, one line (what the client was told), in the JSON
   * format: without it a `400 http_request_error` does not say which rule the
   * request broke.
   */
  detail?: string;
  /** The client's address. */
  client?: string;
  /** The Cache-Status sent, if any. */
  cacheStatus?: string;
  /** Time until the origin's response head arrived, when an origin was asked. */
  originMs?: number;
}

/** How request lines are written: for people, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** Writes log lines at or above a level. */
export class Logger {
  #rank: number;
  #sink: (line: string) => void;
  #format: LogFormat;

  /**
   * @param level lowest level written.
   * @param sink receives each line without newline; by default stderr.
   */
  constructor(
    level: LogLevel = "info",
    sink: (line: string) => void = writeStderr,
    format: LogFormat = "text",
  ) {
    this.#rank = LOG_LEVELS.indexOf(level);
    this.#sink = sink;
    this.#format = format;
  }

  /** Whether lines at `level` are written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#rank;
  }

  /**
   * The request's line: time, method, URL, status, bytes, duration, route[,
   * error][, rule] — the rules that decided something, quoted, joined by ", ".
   */
  request(r: RequestRecord): void {
    if (!this.enabled("info")) return;
    const ms = (performance.now() - r.start).toFixed(1);
    if (this.#format === "json") {
      this.#sink(JSON.stringify({
        time: isoNow(),
        client: r.client,
        method: r.method,
        url: r.url,
        status: r.status,
        route: r.route,
        rule: r.rules?.join(", "),
        cacheStatus: r.cacheStatus,
        bytes: r.bytes,
        ms: Number(ms),
        originMs: r.originMs === undefined ? undefined : Math.round(r.originMs * 10) / 10,
        error: r.error,
        detail: r.detail,
      }));
      return;
    }
    const error = r.error === undefined ? "" : ` error=${r.error}`;
    // Quoted: preset names have spaces.
    const rule = r.rules === undefined ? "" : ` rule=${JSON.stringify(r.rules.join(", "))}`;
    this.#sink(
      `${isoNow()} ${r.method} ${r.url} ${r.status} ${r.bytes}B ${ms}ms ${r.route}${error}${rule}`,
    );
  }

  /**
   * Writes the run summary, unless logging is silent: its text lines, or one
   * JSON object (`{"time", "summary"}`) in the json format.
   */
  summary(summary: Summary): void {
    if (this.#rank >= LOG_LEVELS.indexOf("silent")) return;
    if (this.#format === "json") {
      this.#sink(JSON.stringify({ time: isoNow(), summary }));
    } else this.#sink(summaryText(summary).trimEnd());
  }

  /** Writes a line another thread's logger made (src/cores), as it is. */
  line(line: string): void {
    this.#sink(line);
  }

  /** Writes `message` at `level` (one JSON object in the json format). */
  log(level: Exclude<LogLevel, "silent">, message: string): void {
    if (!this.enabled(level)) return;
    const time = isoNow();
    this.#sink(
      this.#format === "json"
        ? JSON.stringify({ time, level, message })
        : `${time} ${level}: ${message}`,
    );
  }
}

const encoder = new TextEncoder();

// The time of day for log lines, formatted once per millisecond (at 50k
// requests/s, fifty lines share one).
let isoMs = -1, iso = "";
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) [isoMs, iso] = [ms, new Date(ms).toISOString()];
  return iso;
}

/**
 * Log lines gathered until the end of the event loop's turn (or 64 KiB) and
 * handed on together, each ending in a newline: one write per turn instead
 * of one per request (a write per line took the 1 KiB hit rate from 57k to
 * 47k req/s with the default log level). Pending lines never keep the
 * process alive: whoever owns a batch flushes it at the end.
 */
export class LineBatch {
  #pending = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #out: (text: string) => void;

  /** @param out receives each batch of lines. */
  constructor(out: (text: string) => void) {
    this.#out = out;
  }

  /** Adds a line (without its newline). */
  add(line: string): void {
    this.#pending += line + "\n";
    if (this.#pending.length >= FLUSH_BYTES) return this.flush();
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.flush(), 0);
    Deno.unrefTimer(this.#timer);
  }

  /** Hands on the lines still waiting. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === "") return;
    const text = this.#pending;
    this.#pending = "";
    this.#out(text);
  }
}

const FLUSH_BYTES = 64 * 1024;

const stderrLines = new LineBatch((text) => {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
});

function writeStderr(line: string): void {
  stderrLines.add(line);
}

/** Writes the log lines still waiting; called at exit, and when stderr must be up to date. */
export function flushStderr(): void {
  stderrLines.flush();
}

globalThis.addEventListener("unload", flushStderr);
