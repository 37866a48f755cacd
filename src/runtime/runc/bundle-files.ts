/**
 * File modes of the runtime's folders and bundles. config.json and spec.json hold the
 * container's environment (secrets): root alone reads them, and root alone enters the folders
 * that hold them. The one folder container root must pass through (a shifted host id in its user
 * namespace, which has no rights over host root's files) is where runc finds root filesystems.
 */
import { chmod, chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { IdRange } from '../id-range.ts';

/** Writes a file readable by root only, from the start: a new file with mode 0600 renamed into place. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
}

/** Makes (or fixes) a folder for root alone: 0700, also when an older version made it wider. */
export async function makePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
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
