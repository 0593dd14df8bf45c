/**
 * Output of the commands: whole lines, after any log lines still waiting.
 *
 * @module
 */

import { flushStderr } from "../observe/log.ts";

const encoder = new TextEncoder();

/** Writes `text` as whole lines to stdout or stderr, after any log lines still waiting. */
export function print(text: string, to: "stdout" | "stderr" = "stdout"): void {
  // Log lines still waiting go first, so that stderr keeps its order.
  flushStderr();
  const bytes = encoder.encode(text.endsWith("\n") ? text : text + "\n");
  let off = 0;
  const stream = to === "stdout" ? Deno.stdout : Deno.stderr;
  while (off < bytes.length) off += stream.writeSync(bytes.subarray(off));
}
