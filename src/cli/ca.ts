/**
 * `hoard ca`: the CA certificate's path, or its PEM.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import { type CaSource, loadOrCreateCa } from "../tls/ca.ts";
import { print } from "./print.ts";

/** Prints the CA certificate's path (or its PEM), creating the CA first if needed; the exit code. */
export async function printCa(source: CaSource, pem: boolean): Promise<number> {
  let ca;
  try {
    ca = await loadOrCreateCa(source);
  } catch (err) {
    print(
      `hoard: cannot load or create the CA: ${errorLine(err)}`,
      "stderr",
    );
    return 1;
  }
  print(pem ? ca.certPem : ca.certPath);
  return 0;
}
