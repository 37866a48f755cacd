/**
 * The one folder of the runtime that container root must pass through (a shifted host id in its
 * user namespace, which has no rights over host root's files): where runc finds root
 * filesystems. Every other folder and bundle file is root's alone (makePrivateDir and
 * writePrivateFile in ../fs.ts): config.json and spec.json hold the container's environment.
 */
import { chmod, chown, mkdir } from 'node:fs/promises';
import type { IdRange } from '../id-range.ts';

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
