/**
 * The GitHub Action's entry point, for its main and its post step alike
 * (`action.yml` names this bundle for both): the main step leaves a mark in
 * the step state, which the post step finds.
 *
 * @module
 */

import { main } from "./main.ts";
import { post } from "./post.ts";
import { isPost } from "./state.ts";

if (isPost()) await post();
else await main();
