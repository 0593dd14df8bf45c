/**
 * The GitHub Action's entry point, for its main and its post step alike
 * (`action.yml` names this bundle for both): the main step leaves a mark in
 * the step state, which the post step finds.
 *
 * @module
 */

import * as core from "@actions/core";
import { main, message } from "./main.ts";
import { post } from "./post.ts";
import { isPost } from "./state.ts";

try {
  if (isPost()) await post();
  else await main();
} catch (err) {
  // Both steps warn instead of failing the job; this is the last line of that.
  core.warning(`hoard: ${message(err)}`);
}
