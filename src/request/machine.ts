/**
 * The loop that runs a request's steps: each step returns the next one, until
 * one says "done" (Varnish's cache_req_fsm.c is the model). No step calls
 * another; the table below is the only place that knows them all.
 *
 * @module
 */

import type { ProxyContext } from "../context.ts";
import { check } from "./check.ts";
import { deliver, hit, stale } from "./hit.ts";
import { intercept } from "../intercept.ts";
import { local } from "./local.ts";
import { miss } from "./miss.ts";
import { follow } from "./follow.ts";
import { lead } from "./lead.ts";
import { fromShared } from "./shared.ts";
import { partial } from "./partial.ts";
import { fetchUnshared, pass } from "./pass.ts";
import type { ProxyRequest } from "./read_request.ts";
import type { Exchange } from "./respond.ts";
import { revalidate } from "./revalidate.ts";
import { DONE, type Step } from "./step.ts";
import { tunnel } from "./tunnel.ts";

type Kind = Exclude<Step["kind"], "done">;
type StepFunction<K extends Kind> = (
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  step: Extract<Step, { kind: K }>,
) => Promise<Step>;

const STEPS: { [K in Kind]: StepFunction<K> } = {
  tunnel,
  intercept: async (proxy, ex, _req, { origin, interception }) => {
    await intercept(proxy, ex, origin, interception);
    return DONE;
  },
  local,
  pass,
  hit,
  deliver,
  stale,
  revalidate,
  check,
  partial,
  miss,
  follow,
  shared: fromShared,
  lead,
  fetch: fetchUnshared,
  synth: (_proxy, _ex, _req, { error }) => Promise.reject(error),
};

/** Runs `req`'s steps from `first` until one is done; errors go to the caller's funnel. */
export async function runSteps(
  proxy: ProxyContext,
  ex: Exchange,
  req: ProxyRequest,
  first: Step,
): Promise<void> {
  let step = first;
  while (step.kind !== "done") {
    step = await (STEPS[step.kind] as StepFunction<Kind>)(proxy, ex, req, step as never);
  }
}
