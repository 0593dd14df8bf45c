/**
 * `--resolve HOST=ADDRESS`: fixed addresses for origin hosts, as curl's
 * `--resolve` and Squid's `hosts_file` give them — a registry mirror on an
 * internal address, or a registry on this machine under its public name.
 *
 * @module
 */

import { parseIp } from "../access.ts";
import { hostMatches } from "../tls/interception.ts";

/** One mapping: a host pattern (`name` or `*.domain`) and the IP address to connect to. */
export type HostMapping = readonly [pattern: string, address: string];

/**
 * Parses `HOST=ADDRESS` (IPv6 addresses with or without brackets).
 *
 * @throws {SyntaxError} naming what is wrong.
 */
export function parseHostMapping(text: string): HostMapping {
  const eq = text.indexOf("=");
  const host = text.slice(0, eq).trim().toLowerCase();
  const address = text.slice(eq + 1).trim().replace(/^\[(.*)\]$/, "$1");
  if (eq < 0 || !/^(\*\.)?[a-z0-9.\-]+$/.test(host)) {
    throw new SyntaxError(
      `expected HOST=ADDRESS (HOST a name or *.domain), got ${JSON.stringify(text)}`,
    );
  }
  if (parseIp(address) === undefined) {
    throw new SyntaxError(`${JSON.stringify(address)} is not an IP address`);
  }
  return [host, address];
}

/** The address `mappings` give `host` (the first that matches), or undefined. */
export function hostResolver(
  mappings: readonly HostMapping[],
): ((host: string) => string | undefined) | undefined {
  if (mappings.length === 0) return undefined;
  return (host) => mappings.find(([pattern]) => hostMatches([pattern], host))?.[1];
}
