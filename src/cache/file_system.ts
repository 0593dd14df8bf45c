/**
 * Which file system holds a path, from the kernel's mount table: the cache
 * asks so that a network file system never gets writes on the event loop
 * (loop_writes.ts), where one server that stops answering would stop every
 * connection.
 *
 * @module
 */

/** File system types whose operations go over a network, or through a user-space daemon. */
const REMOTE =
  /^(nfs4?|cifs|smb3?|ncpfs|afs|9p|ceph|glusterfs|lustre|gpfs|beegfs|ocfs2|gfs2|fuse(\..*)?|fuseblk)$/;

/**
 * The type of the file system `path` (an absolute path, links resolved) is
 * on, by the longest mount point of `mounts` (the text of /proc/mounts)
 * above it; undefined when none is.
 */
export function fileSystemOf(path: string, mounts: string): string | undefined {
  let type: string | undefined, longest = -1;
  for (const line of mounts.split("\n")) {
    const [, escaped, fs] = line.split(" ");
    if (escaped === undefined || fs === undefined) continue;
    // Spaces, tabs, newlines and backslashes in a mount point are octal escapes.
    const mount = escaped.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mount.length <= longest) continue;
    if (path === mount || path.startsWith(mount === "/" ? "/" : `${mount}/`)) {
      longest = mount.length;
      type = fs;
    }
  }
  return type;
}

/**
 * The type of the file system the directory `dir` is on, or would be on
 * once made (its nearest existing parent's); undefined where the system
 * has no /proc/mounts (not Linux) or no parent can be resolved.
 */
export function fileSystemType(dir: string): string | undefined {
  let mounts: string;
  try {
    mounts = Deno.readTextFileSync("/proc/mounts");
  } catch {
    return undefined;
  }
  for (let d = dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;;) {
    try {
      return fileSystemOf(Deno.realPathSync(d), mounts);
    } catch {
      if (d === "/") return undefined;
      d = d.replace(/\/+[^/]*\/*$/, "") || "/";
    }
  }
}

/** Whether a file system of type `type` answers over a network or through a daemon. */
export function isRemote(type: string | undefined): boolean {
  return type !== undefined && REMOTE.test(type);
}
