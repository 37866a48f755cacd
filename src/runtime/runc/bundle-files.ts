/**
 * File modes of the runtime's folders and bundles. config.json and spec.json hold the
 * container's environment (secrets): root alone reads them. Folders on the way to a container's
 * root filesystem are entered by the container's root (a shifted host id in its user namespace,
 * which has no rights over host root's files), so they give its group search rights and nothing else.
 */
import { chmod, chown, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { IdRange } from '../id-range.ts';

/** Writes a file readable by root only, from the start: a new file with mode 0600 renamed into place. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
}

/**
 * Makes (or fixes) a folder that root owns, whose group is the container root's host gid, mode
 * 0710: only root lists or changes it; the container's root can pass through it.
 */
export async function makeGateDir(path: string, ids: IdRange): Promise<void> {
  // 0700 first, so the folder is never open to others while it is being set up
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chown(path, 0, ids.gid);
  await chmod(path, 0o710);
}

/**
 * Whether the container's root (host uid/gid of `ids`) can pass through every folder from `/` to
 * `dir`: runc 1.1 resolves the root filesystem's path inside the user namespace. `gated` folders
 * (Hoody's own: the runtime folder and the data folder) get the container root's group and its
 * search right (nothing more) when they are not passable; false when any other folder (root's
 * 0700 home, say) is in the way: that one is the admin's, and is left as it is.
 */
export async function ensurePassable(dir: string, ids: IdRange, gated: string[]): Promise<boolean> {
  for (let d = dir; ; d = dirname(d)) {
    const s = await stat(d);
    const passable = s.uid === ids.uid ? (s.mode & 0o100) !== 0 : s.gid === ids.gid ? (s.mode & 0o010) !== 0 : (s.mode & 0o001) !== 0;
    if (!passable) {
      // a folder of Hoody's (made for another range, say) is set right; any other is the admin's to decide
      if (!gated.includes(d) || s.uid !== 0) return false;
      await chown(d, 0, ids.gid);
      await chmod(d, (s.mode & 0o7700) | 0o010);
    }
    if (d === dirname(d)) return true;
  }
}
