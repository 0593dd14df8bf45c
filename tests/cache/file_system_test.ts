import assert from "node:assert/strict";
import { fileSystemOf, fileSystemType, isRemote } from "../../src/cache/file_system.ts";

const MOUNTS = [
  "/dev/root / ext4 rw,relatime 0 0",
  "tmpfs /mnt/ram tmpfs rw,relatime,size=4194304k 0 0",
  "server:/export /mnt/ram/shared nfs4 rw,relatime,vers=4.2 0 0",
  "sshfs#me@host: /home/me/my\\040cache fuse.sshfs rw 0 0",
  "",
].join("\n");

Deno.test("fileSystemOf answers by the longest mount point above the path", () => {
  assert.equal(fileSystemOf("/var/cache/hoard", MOUNTS), "ext4");
  assert.equal(fileSystemOf("/", MOUNTS), "ext4");
  assert.equal(fileSystemOf("/mnt/ram", MOUNTS), "tmpfs");
  assert.equal(fileSystemOf("/mnt/ram/hoard/data", MOUNTS), "tmpfs");
  assert.equal(fileSystemOf("/mnt/ram/shared/hoard", MOUNTS), "nfs4");
  // A mount point is a whole path segment, not a prefix of a name.
  assert.equal(fileSystemOf("/mnt/ramdisk", MOUNTS), "ext4");
  assert.equal(fileSystemOf("/mnt/ram/sharedx", MOUNTS), "tmpfs");
  // Octal escapes in a mount point (a space here).
  assert.equal(fileSystemOf("/home/me/my cache/hoard", MOUNTS), "fuse.sshfs");
  assert.equal(fileSystemOf("/var", ""), undefined);
});

Deno.test("isRemote names the file systems that answer over a network or through a daemon", () => {
  for (
    const t of ["nfs", "nfs4", "cifs", "smb3", "9p", "ceph", "glusterfs", "fuse.sshfs", "fuse"]
  ) {
    assert.equal(isRemote(t), true, t);
  }
  for (const t of ["ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "nfsd", undefined]) {
    assert.equal(isRemote(t), false, String(t));
  }
});

Deno.test({
  name:
    "fileSystemType reads this machine's mount table, for a directory or the one it would be made in",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const mounts = await Deno.readTextFile("/proc/mounts");
      const expected = fileSystemOf(await Deno.realPath(dir), mounts);
      assert.ok(expected !== undefined);
      assert.equal(fileSystemType(dir), expected);
      assert.equal(fileSystemType(`${dir}/not/made/yet`), expected);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
