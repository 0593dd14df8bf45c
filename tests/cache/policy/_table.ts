/**
 * The decision table's shape and runner: a request and a response, whether
 * the response is stored (and why not), then what a later request gets at
 * given times. Its rows are in storability_test.ts and freshness_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Freshness, freshness } from "../../../src/cache/policy/freshness.ts";
import { storability } from "../../../src/cache/policy/storability.ts";
import { at, fields, httpDate, type Lines, request, store, T0 } from "./_helpers.ts";

/** A later request asking for the stored response `at` seconds after T0. */
export interface Check {
  /** Seconds after T0. */
  at: number;
  /** The later request's fields (Host added); the storing request's when absent. */
  req?: Lines;
  /** The decision. */
  expect: Freshness;
}

export interface Row {
  name: string;
  /** Method of the storing request. @default "GET" */
  method?: string;
  /** Fields of the storing request (Host added). */
  req?: Lines;
  /** Response status. @default 200 */
  status?: number;
  /** Response fields. */
  res: Lines;
  /** The reason storability() gives for not storing; absent when the response is stored. */
  notStored?: string;
  /** For a stored response: the later requests and their decisions. */
  checks?: Check[];
}

export const hit = (age: number, ttl: number): Freshness => ({ kind: "hit", age, ttl });
export const stale = (age: number): Freshness => ({ kind: "revalidate", age, reason: "stale" });
export const byRequest = (age: number): Freshness => ({
  kind: "revalidate",
  age,
  reason: "request",
});

export const CC = "Cache-Control";
export const DATE: readonly [string, string] = ["Date", httpDate(0)];
/** Last-Modified 1000 s before Date: a heuristic lifetime of 100 s (10 %). */
export const LM: readonly [string, string] = ["Last-Modified", httpDate(-1000)];
export const RANGE: readonly [string, string] = ["Range", "bytes=0-9"];
export const CONTENT_RANGE: readonly [string, string] = ["Content-Range", "bytes 0-9/100"];
export const MAX_AGE_60: readonly [string, string] = [CC, "max-age=60"];

/** Fresh for 100 s by heuristic, then stale. */
export const HEURISTIC_100: Check[] = [
  { at: 0, expect: hit(0, 100) },
  { at: 99, expect: hit(99, 1) },
  { at: 100, expect: stale(100) },
];

/** Stored, but with a freshness lifetime of 0. */
export const STALE_AT_ONCE: Check[] = [{ at: 0, expect: stale(0) }, { at: 5, expect: stale(5) }];

export function testTable(rows: Row[]): void {
  for (const row of rows) {
    Deno.test(`policy table: ${row.name}`, () => {
      const req = request(row.req, row.method);
      const status = row.status ?? 200;
      const st = storability(req, status, fields(...row.res), T0);
      if (row.notStored !== undefined) {
        assert.deepEqual(st, { storable: false, reason: row.notStored });
        assert.equal(row.checks, undefined, "a row that is not stored has no checks");
        return;
      }
      assert.equal(st.storable, true, st.storable ? "" : `not storable: ${st.reason}`);
      assert.ok(row.checks !== undefined && row.checks.length > 0, "a stored row needs checks");
      const stored = store(req, status, row.res);
      for (const check of row.checks) {
        const later = check.req === undefined ? req : request(check.req);
        assert.deepEqual(
          freshness(later, stored, at(check.at)),
          check.expect,
          `at ${check.at} s with ${JSON.stringify(check.req ?? row.req ?? [])}`,
        );
      }
    });
  }
}
