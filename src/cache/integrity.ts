/**
 * Body integrity: every body is checked against its SHA-256 before its last
 * byte leaves hoard — small ones before anything is sent, large ones while
 * they are sent.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ResponseMeta } from "./meta.ts";
import { digestFile } from "./store.ts";

/**
 * The SHA-256 check of a body sent for the first time by this process: the
 * sender feeds it every piece and asks it before the last one goes out, so a
 * body that does not match is never delivered whole.
 */
export interface BodyCheck {
  /** Adds the next piece, in order. */
  update(piece: Uint8Array): void;
  /** Whether the whole body matched; when it did not, the entry is deleted. */
  passes(): Promise<boolean>;
}

/** A check against the hex SHA-256 `expected`, calling `matched` or `failed` once it is asked. */
export function bodyCheck(
  expected: string,
  matched: () => void,
  failed: () => Promise<unknown>,
): BodyCheck {
  const hash = createHash("sha256");
  return {
    update: (piece) => void hash.update(piece),
    passes: async () => {
      if (hash.digest("hex") === expected) {
        matched();
        return true;
      }
      await failed();
      return false;
    },
  };
}

/** The hex SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Whether `file` holds exactly the body `entry` describes; leaves it at offset 0. */
export async function verifyFile(file: Deno.FsFile, entry: ResponseMeta): Promise<boolean> {
  const { sha256, size } = await digestFile(file);
  await file.seek(0, Deno.SeekMode.Start);
  return size === entry.size && sha256 === entry.sha256;
}
