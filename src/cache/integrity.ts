/**
 * Body integrity: every body is checked against its SHA-256 before its last
 * byte leaves hoard — small ones before anything is sent, large ones while
 * they are sent.
 *
 * @module
 */

import { createHash, hash } from "node:crypto";
import type { ByteSource } from "./body_store.ts";

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
  // One call (Deno 2.9's still makes a Hash inside): 6.6 µs in place for 1 KiB, 7.8 chained.
  return hash("sha256", bytes, "hex");
}

/**
 * The SHA-256 (hex) and length of everything `source` yields.
 *
 * @throws when the source cannot be read to its end.
 */
export async function digest(source: ByteSource): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const piece of source) {
    hash.update(piece);
    size += piece.length;
  }
  return { sha256: hash.digest("hex"), size };
}
