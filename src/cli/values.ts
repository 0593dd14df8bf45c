/**
 * Flag values: durations, sizes, ports, hosts and lists, each checked with the flag named in its error.
 *
 * @module
 */

import { type Client, parseClients } from "../env.ts";
import { parseS3Url } from "../cache/shared/s3_settings.ts";
import { UsageError } from "./usage.ts";
import { errorLine } from "../errors.ts";

const DURATION_UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses a duration like 7d, 12h, 30m, 45s or plain seconds (0 allowed), in seconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/i.exec(text.trim());
  if (m === null) {
    throw new UsageError(
      `${flag}: expected a duration such as 7d, 12h, 30m or 45s, got ${JSON.stringify(text)}`,
    );
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!);
}

/** Checks an `s3://` URL for `--shared-cache`. @throws {UsageError} */
export function checkS3Url(url: string): void {
  try {
    parseS3Url(url);
  } catch (err) {
    throw new UsageError(`--shared-cache: ${errorLine(err)}`);
  }
}

/** Parses `--for`: client names, comma-separated. @throws {UsageError} */
export function parseClientList(text: string): Client[] {
  try {
    return parseClients(text);
  } catch (err) {
    throw new UsageError(`--for: ${errorLine(err)}`);
  }
}

/** A comma-separated list, trimmed, without empty items. */
export function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** Host patterns for `flag`: `*`, `example.com` or `*.example.org`, comma-separated. @throws {UsageError} */
export function hostPatterns(flag: string, text: string): string[] {
  const hosts = list(text);
  const bad = hosts.find((h) => !/^(\*|(\*\.)?[a-z0-9.:\-]+)$/i.test(h));
  if (hosts.length === 0 || bad !== undefined) {
    throw new UsageError(
      `${flag}: expected * or host names like example.com,*.example.org, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return hosts;
}

/** The `--host` address to listen on. @throws {UsageError} */
export function parseHost(text: string): string {
  if (text === "" || /[\s/]/.test(text)) {
    throw new UsageError(`--host: invalid address ${JSON.stringify(text)}`);
  }
  return text;
}

/** A port for `flag` (0 only when `zeroOk`). @throws {UsageError} */
export function parsePort(flag: string, text: string, zeroOk: boolean): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= (zeroOk ? 0 : 1) && n <= 65535)) {
    throw new UsageError(
      `${flag}: expected a port number${zeroOk ? " (0-65535)" : " (1-65535)"}, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** Parses a size like 500M, 5G, 2GiB, 1.5T or plain bytes (units are powers of 1024). */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const n = m === null ? NaN : Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  if (!(n > 0) || !Number.isSafeInteger(n)) {
    throw new UsageError(
      `${flag}: expected a size such as 500M, 5G or 10GiB, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** Seconds (e.g. 10 or 0.5) for `flag`, in milliseconds. @throws {UsageError} */
export function parseSeconds(flag: string, text: string): number {
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0 && n <= 86400)) {
    throw new UsageError(`${flag}: expected seconds (e.g. 10 or 0.5), got ${JSON.stringify(text)}`);
  }
  return Math.round(n * 1000);
}
