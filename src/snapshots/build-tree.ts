/**
 * Makes a folder from manifest entries: folders, symlinks, device nodes (whiteouts), FIFOs and
 * sockets with their owners, modes, xattrs and mtimes, and hard links between entries as they
 * were; regular files are placed by the caller (a link to an object in a snapshot's tree, a copy
 * in a restored upper dir). Every path goes through the open descriptor of its folder, so depth
 * is no limit on path length and nothing on the way can be a symlink. Folders get their owner,
 * mode and mtime once what they hold is made.
 */
import { constants } from 'node:fs';
import { link, mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fdPath } from './content.ts';
import { makeNode } from './file-calls.ts';
import { applyMeta } from './inode-meta.ts';
import { entryPaths, type Entry } from './manifest.ts';
import { Limiter } from './limiter.ts';
import { removeTree } from './remove-tree.ts';

/** Places one regular file at `path` (which does not exist yet), content and metadata. */
export type PlaceFile = (entry: Entry, path: Buffer, index: number) => Promise<void>;

/** An open folder being filled, and the placements in it still under way. */
interface Level {
  fh: FileHandle;
  index: number;
  pending: Array<Promise<void>>;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const TYPE_BITS: Record<string, number> = { c: constants.S_IFCHR, b: constants.S_IFBLK, p: constants.S_IFIFO, s: constants.S_IFSOCK };

/**
 * Builds `root` (which must not exist) from `entries`; on failure, what was made is left for the
 * caller to remove. `stashDir` (made and removed here, on the same file system) holds a second
 * name of each inode that has further names, so that a link is made by a short path however
 * deep the first name lies.
 */
export async function buildTree(root: string, entries: readonly Entry[], placeFile: PlaceFile, stashDir: string, signal?: AbortSignal): Promise<void> {
  const top = entries[0];
  if (!top || top.depth !== 0 || top.type !== 'd') throw new Error(`manifest for "${root}" does not start with its root folder`);
  const paths = entryPaths(entries);
  const linked = new Set(entries.flatMap((e) => (e.linkOf === undefined ? [] : [e.linkOf])));
  const stash = (i: number): string => join(stashDir, String(i));
  if (linked.size > 0) await mkdir(stashDir, { mode: 0o700 });
  await mkdir(root, { mode: 0o700 });
  // files are placed a few at a time; a folder is finished (and closed) once its own are placed
  const limiter = new Limiter(8);
  const placed = new Map<number, Promise<void>>();
  const stack: Level[] = [{ fh: await open(root, DIR_FLAGS), index: 0, pending: [] }];
  const track = (level: Level, p: Promise<void>): Promise<void> => {
    p.catch(() => undefined); // awaited when its folder is finished; not unhandled meanwhile
    level.pending.push(p);
    return p;
  };
  const finish = async (): Promise<void> => {
    const done = stack.pop()!;
    try {
      await settle(done.pending);
      await applyMeta({ fh: done.fh }, entries[done.index]!, paths[done.index] || '.');
    } finally {
      await done.fh.close();
    }
  };
  try {
    for (let i = 1; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.depth < 1 || e.depth > stack.length) throw new Error(`manifest for "${root}": entry ${i} is at depth ${e.depth} under a folder of depth ${stack.length - 1}`);
      while (stack.length > e.depth) await finish();
      if (i % 256 === 0) signal?.throwIfAborted();
      const level = stack[e.depth - 1]!;
      const path = Buffer.concat([Buffer.from(`${fdPath(level.fh.fd)}/`), e.name]);
      const what = paths[i]!;
      if (e.linkOf !== undefined) {
        const first = e.linkOf;
        track(level, (async () => {
          await placed.get(first);
          await link(stash(first), path);
        })());
        continue;
      }
      if (e.type === 'f') {
        const place = track(level, limiter.run(async () => {
          await placeFile(e, path, i);
          if (linked.has(i)) await link(path, stash(i));
        }));
        if (linked.has(i)) placed.set(i, place);
        continue;
      }
      switch (e.type) {
        case 'd':
          await mkdir(path, { mode: 0o700 });
          stack.push({ fh: await open(path, DIR_FLAGS), index: i, pending: [] });
          break;
        case 'l':
          await symlink(e.target ?? Buffer.alloc(0), path);
          await applyMeta({ path, symlink: true }, e, what);
          break;
        default:
          makeNode(path, (TYPE_BITS[e.type] ?? 0) | 0o600, e.rdev ?? 0, what);
          await applyMeta({ path, symlink: false }, e, what);
      }
      if (linked.has(i)) await link(path, stash(i));
    }
    while (stack.length > 0) await finish();
  } finally {
    // a failure: what is still being placed finishes before its folder's descriptor closes
    await Promise.allSettled(stack.flatMap((l) => l.pending));
    await Promise.all(stack.map((l) => l.fh.close()));
    // the stash's names would count in the link count of the tree's files
    if (linked.size > 0) await removeTree(stashDir);
  }
}

/** Waits for every promise, then throws the first failure. */
async function settle(pending: ReadonlyArray<Promise<void>>): Promise<void> {
  const failed = (await Promise.allSettled(pending)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
