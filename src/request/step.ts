/**
 * The steps of a request's way, as values. A step function does its part and
 * returns the next step; src/request/machine.ts runs them one after the other until
 * one says "done" (Varnish's cache_req_fsm.c is the model). The first step is
 * what src/request/decide.ts chose.
 *
 * @module
 */

import type { CacheStatus, Forwarded } from "./cache_status.ts";
import type { Fill } from "../cache/fill.ts";
import type { ResponseMeta } from "../cache/meta.ts";
import type { SharedEntry } from "../cache/shared/tier.ts";
import type { Route, Target } from "./decide.ts";
import type { ProxyError } from "../errors.ts";
import type { OriginResponse } from "../origin/client.ts";
import type { Origin } from "../origin/origin.ts";
import type { Interception } from "../tls/interception.ts";

/** Where a request goes next. */
export type Step =
  | Route
  /** A CONNECT to a host hoard decrypts: serve the requests inside. */
  | { kind: "intercept"; origin: Origin; interception: Interception }
  /**
   * Send the stored `entry` (now `age` seconds old) with `status`; `count`
   * counts it as a hit. When its body is gone or does not hold what the
   * request wants, nothing is sent and `otherwise` is next.
   */
  | {
    kind: "deliver";
    entry: ResponseMeta;
    age: number;
    status: CacheStatus;
    count: boolean;
    otherwise: Step;
  }
  /**
   * The origin failed with `status`: serve the stored `entry` instead
   * (stale-if-error); `fwd` says why the origin was asked.
   */
  | { kind: "stale"; entry: ResponseMeta; status: number; fwd: "stale" | "request" }
  /**
   * Wait on another request's `fill` and serve what it got; `retried` once
   * the committed entry turned out not to be there after all.
   */
  | { kind: "follow"; target: Target; fill: Fill; fwd: Forwarded; retried?: boolean }
  /** A miss the shared tier has `found`: serve it while it fills the local store. */
  | { kind: "shared"; target: Target; fill: Fill; found: SharedEntry }
  /**
   * Serve the origin's `res` to a cacheable request, storing it through `fill`
   * when it may be stored; `fwdStatus` puts its status into Cache-Status.
   */
  | {
    kind: "lead";
    target: Target;
    fill: Fill;
    res: OriginResponse;
    fwd: Forwarded;
    fwdStatus?: boolean;
  }
  /** Ask the origin and relay its answer with `status`, storing nothing. */
  | { kind: "fetch"; target: Target; status: CacheStatus }
  /** Answer with an error (the error funnel in src/connection.ts picks the response). */
  | { kind: "synth"; error: ProxyError }
  /** The response is sent (or the connection is used up). */
  | { kind: "done" };

/** The step after the last one. */
export const DONE: Step = { kind: "done" };
