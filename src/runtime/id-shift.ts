/** Moves the owners of a file tree from one id range to another (no idmapped mounts in runc 1.1). */
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { shiftId, type IdRange } from './id-range.ts';

/** How many files of one folder are changed at once. */
const BATCH = 64;

/**
 * Gives every file under `root` (itself included, symlinks not followed) the owner its owner
 * has in `to`; `from` undefined means plain host ids (a tree made before user namespaces).
 * The kernel clears setuid and setgid bits on chown; they are put back, so the image behaves
 * as it did. File capabilities (security.capability) are dropped by chown and not restored.
 */
export async function shiftTree(root: string, from: IdRange | undefined, to: IdRange): Promise<void> {
  const dirs = [root];
  await shiftOne(root, from, to);
  while (dirs.length > 0) {
    const dir = dirs.pop() as string;
    const entries = await readdir(dir, { withFileTypes: true });
    for (let i = 0; i < entries.length; i += BATCH) {
      await Promise.all(
        entries.slice(i, i + BATCH).map(async (e) => {
          const path = join(dir, e.name);
          await shiftOne(path, from, to);
          if (e.isDirectory()) dirs.push(path);
        }),
      );
    }
  }
}

async function shiftOne(path: string, from: IdRange | undefined, to: IdRange): Promise<void> {
  const s = await lstat(path);
  const uid = shiftId(s.uid, 'uid', from, to);
  const gid = shiftId(s.gid, 'gid', from, to);
  if (uid === s.uid && gid === s.gid) return;
  await lchown(path, uid, gid);
  if (!s.isSymbolicLink() && (s.mode & 0o6000) !== 0) await chmod(path, s.mode & 0o7777);
}
