/**
 * hoard's version, from deno.json (the one source of truth).
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** The version of this build of hoard. */
export const VERSION: string = denoJson.version;
