/**
 * What an origin is: the one type every part that talks to origins shares
 * (dialing, upstream proxies, the pool, the steps).
 *
 * @module
 */

import type { Scheme } from "../http1/target.ts";

/** Where requests go: scheme, host (lower-case, IPv6 without brackets) and port. */
export interface Origin {
  /** `https` origins are reached over TLS. */
  scheme: Scheme;
  /** Host name or IP literal. */
  host: string;
  /** TCP port. */
  port: number;
}
