/**
 * An upper dir rebuilt from a snapshot. File contents are copied out of the objects, never
 * linked: overlayfs writes upper files in place, so a link would let the container change the
 * object, and every snapshot that holds it. The new upper dir is built in a folder beside the
 * target and swapped in with one renameat2(RENAME_EXCHANGE): a restore that fails or is cut
 * short leaves the target as it was, plus at most a leftover that `sweepRestores` removes.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, rename } from 'node:fs/promises';
import { removeTree } from './remove-tree.ts';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { exchangePaths } from '../images/exchange-paths.ts';
import { parseMountLine } from '../images/layer-mounts.ts';
import { buildTree } from './build-tree.ts';
import { copyData, looksSparse } from './content.ts';
import { applyMeta } from './inode-meta.ts';
import type { Entry } from './manifest.ts';
import type { ObjectStore } from './objects.ts';

export interface RestoreOptions {
  signal?: AbortSignal;
  /** Called before each regular file is placed (its index in the manifest): lets a test fail a restore half-way. */
  onFile?: (index: number) => void | Promise<void>;
}

/** What a restore wrote. */
export interface RestoreResult {
  entries: number;
  files: number;
  bytes: number;
  ms: number;
}

const LEFTOVER = '.restore-';

/** Replaces `targetUpperDir` (or makes it) with the tree `entries` describe, contents copied from `objects`. */
export async function restoreTree(entries: readonly Entry[], objects: ObjectStore, targetUpperDir: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const started = performance.now();
  if (await mountedAsUpper(targetUpperDir)) throw new Error(`cannot restore into "${targetUpperDir}": an overlay mounted now writes to it (stop the container first)`);
  const tmp = join(dirname(targetUpperDir), `.${basename(targetUpperDir)}${LEFTOVER}${randomBytes(6).toString('hex')}`);
  let files = 0;
  let bytes = 0;
  try {
    await buildTree(tmp, entries, async (e, path, index) => {
      await opts.onFile?.(index);
      await copyObject(objects, e, path, opts.signal);
      files++;
      bytes += e.size ?? 0;
    }, `${tmp}-links`, opts.signal);
    if (await lstat(targetUpperDir).then(() => true, () => false)) {
      await exchangePaths(tmp, targetUpperDir);
    } else {
      await rename(tmp, targetUpperDir);
    }
  } finally {
    // after the exchange this is the old upper dir; after a failure, the half-made new one
    await removeTree(tmp);
  }
  return { entries: entries.length, files, bytes, ms: performance.now() - started };
}

/** Removes what restores cut short left beside `targetUpperDir` (call before the container's next use). */
export async function sweepRestores(targetUpperDir: string): Promise<number> {
  const prefix = `.${basename(targetUpperDir)}${LEFTOVER}`;
  const names = await readdir(dirname(targetUpperDir)).catch(() => [] as string[]);
  const left = names.filter((n) => n.startsWith(prefix));
  for (const n of left) await removeTree(join(dirname(targetUpperDir), n));
  return left.length;
}

async function copyObject(objects: ObjectStore, e: Entry, path: Buffer, signal?: AbortSignal): Promise<void> {
  if (e.object === undefined) throw new Error(`manifest entry "${e.name.toString('latin1')}" names no object`);
  const src = await open(objects.path(e.object), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const dst = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const st = await src.stat();
      if (st.size !== e.size) throw new Error(`object "${e.object}" holds ${st.size} bytes, the manifest says ${e.size}`);
      await copyData(src, dst, st.size, looksSparse(st.size, st.blocks), signal);
      await applyMeta({ fh: dst }, e, e.name.toString('latin1'));
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** True when a mounted overlay has `dir` as its upper dir. */
async function mountedAsUpper(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => {
    const m = parseMountLine(line);
    return m?.fstype === 'overlay' && m.options.split(',').some((o) => o === `upperdir=${dir}` || unescape(o) === `upperdir=${dir}`);
  });
}

const unescape = (text: string): string => text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
