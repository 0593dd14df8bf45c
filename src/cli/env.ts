/**
 * `hoard env`: the variables (and files) that point every client at hoard.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import { loadOrCreateCa } from "../tls/ca.ts";
import { envVariables, formatEnv } from "../env.ts";
import { type EnvFiles, writeEnvFiles } from "../env_files.ts";
import { readEnv } from "../options.ts";
import type { Command } from "./parse.ts";
import { print } from "./print.ts";

/** Prints the proxy variables for the clients asked for, writing the files they need; the exit code. */
export async function printEnv(command: Extract<Command, { kind: "env" }>): Promise<number> {
  let files: EnvFiles;
  try {
    const ca = await loadOrCreateCa(command.ca);
    files = await writeEnvFiles(command.ca.dir, ca.certPath, ca.certPem, command, readEnv);
  } catch (err) {
    print(`hoard: cannot load or create the CA: ${errorLine(err)}`, "stderr");
    return 1;
  }
  if (files.systemBundle === undefined) {
    print("hoard: no system CA bundle found; the bundle holds hoard's CA only", "stderr");
  }
  print(
    formatEnv(
      envVariables({ ...command, ...files, existing: readEnv }, command.clients),
      command.format,
    ),
  );
  return 0;
}
