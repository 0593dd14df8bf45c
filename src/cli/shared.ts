/**
 * `hoard stats --shared` and `hoard prune --shared`: the bucket of the shared tier.
 *
 * @module
 */

import { errorLine } from "../errors.ts";
import { formatBytes } from "../observe/report.ts";
import { readEnv } from "../options.ts";
import { S3Store } from "../cache/shared/s3.ts";
import { parseS3Url } from "../cache/shared/s3_settings.ts";
import { pruneShared, sharedStats } from "../cache/shared/admin.ts";
import type { Command } from "./parse.ts";
import { print } from "./print.ts";

/** Runs `stats --shared` or `prune --shared` against the bucket at `url`; the exit code. */
export async function sharedCommand(
  command: Extract<Command, { kind: "stats-shared" | "prune-shared" }>,
  url: string,
): Promise<number> {
  let store: S3Store;
  try {
    store = await S3Store.open(parseS3Url(url), readEnv, { firstByteMs: 10_000 });
  } catch (err) {
    print(`hoard: ${url}: ${errorLine(err)}`, "stderr");
    return 2;
  }
  try {
    if (command.kind === "stats-shared") {
      const s = await sharedStats(store);
      const when = (t?: number) => t === undefined ? "-" : new Date(t).toISOString();
      print(
        `shared cache ${url}: ${s.objects} objects, ${formatBytes(s.bytes)}` +
          `${s.foreign > 0 ? ` (and ${s.foreign} objects that are not hoard's)` : ""}\n` +
          `uploaded: oldest ${when(s.oldest)}, newest ${when(s.newest)}\n` +
          `by age: ${s.byAge.day} within a day, ${s.byAge.week} within a week, ` +
          `${s.byAge.month} within 30 days, ${s.byAge.older} older`,
      );
    } else {
      const r = await pruneShared(store, command.olderThan * 1000);
      print(
        `pruned ${r.deleted} objects (${formatBytes(r.bytes)}) uploaded more than ${
          formatDuration(command.olderThan)
        } ago from ${url}; ${r.kept} kept`,
      );
    }
    return 0;
  } catch (err) {
    print(`hoard: ${url}: ${errorLine(err)}`, "stderr");
    return 1;
  } finally {
    store.close();
  }
}

function formatDuration(seconds: number): string {
  return seconds % 86400 === 0 ? `${seconds / 86400}d` : `${seconds}s`;
}
