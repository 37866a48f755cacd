/**
 * An upper dir rebuilt from a snapshot. File contents are copied out of the objects, never
 * linked: overlayfs writes upper files in place, so a link would let the container change the
 * object, and every snapshot that holds it. The new upper dir is built in a folder beside the
 * target and swapped in with one renameat2(RENAME_EXCHANGE): a restore that fails or is cut
 * short leaves the target as it was, plus at most a leftover that `sweepRestores` removes.
 *
 * A restore asked to `hold` keeps the files it replaced beside the target until its caller
 * commits or undoes it (after writing, or failing to write, what else the restore changes). The
 * new tree's root carries a mark (an xattr in the trusted namespace, which only host root reads)
 * naming the folder the replaced files are in; the exchange moves the mark with the tree, so
 * after a crash `settleRestore` can tell a swapped-in restore from a half-built one, and undo it.
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
import { readXattrs, removeXattr, writeXattrs } from './file-calls.ts';
import type { Entry } from './manifest.ts';
import type { ObjectStore } from './objects.ts';

export interface RestoreOptions {
  signal?: AbortSignal;
  /** Keep the replaced files until the answer's `commit` or `undo` (a crash meanwhile: see settleRestore). */
  hold?: boolean;
  /** Called before each regular file is placed (its index in the manifest): lets a test fail a restore half-way. */
  onFile?: (index: number) => void | Promise<void>;
}

/** What a restore wrote. */
export interface RestoreResult {
  entries: number;
  files: number;
  bytes: number;
  ms: number;
  /** With `hold`: makes the restore final (the replaced files go). */
  commit?: () => Promise<void>;
  /** With `hold`: puts the replaced files back (the restored ones go). */
  undo?: () => Promise<void>;
}

const LEFTOVER = '.restore-';
/** On the root of a restored tree swapped in and not yet committed: the name of the folder holding the files it replaced. */
const MARK = Buffer.from('trusted.hoody.restore', 'latin1');

/** Replaces `targetUpperDir` (or makes it) with the tree `entries` describe, contents copied from `objects`. */
export async function restoreTree(entries: readonly Entry[], objects: ObjectStore, targetUpperDir: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const started = performance.now();
  if (await mountedAsUpper(targetUpperDir)) throw new Error(`cannot restore into "${targetUpperDir}": an overlay mounted now writes to it (stop the container first)`);
  const tmp = join(dirname(targetUpperDir), `.${basename(targetUpperDir)}${LEFTOVER}${randomBytes(6).toString('hex')}`);
  let files = 0;
  let bytes = 0;
  let held = false;
  try {
    await buildTree(tmp, entries, async (e, path, index) => {
      await opts.onFile?.(index);
      await copyObject(objects, e, path, opts.signal);
      files++;
      bytes += e.size ?? 0;
    }, `${tmp}-links`, opts.signal);
    const replacing = await lstat(targetUpperDir).then(() => true, () => false);
    if (opts.hold && replacing) await writeXattrs({ path: Buffer.from(tmp) }, [[MARK, Buffer.from(basename(tmp))]], tmp);
    if (replacing) {
      await exchangePaths(tmp, targetUpperDir);
    } else {
      await rename(tmp, targetUpperDir);
    }
    held = opts.hold === true && replacing;
  } finally {
    // after the exchange this is the old upper dir (kept when held); after a failure, the half-made new one
    if (!held) await removeTree(tmp);
  }
  const result: RestoreResult = { entries: entries.length, files, bytes, ms: performance.now() - started };
  if (!opts.hold) return result;
  let settled = false;
  const once = async (work: () => Promise<void>): Promise<void> => {
    if (settled) throw new Error(`the restore of "${targetUpperDir}" was committed or undone already`);
    settled = true;
    await work();
  };
  return {
    ...result,
    commit: () => once(async () => {
      if (!held) return;
      removeXattr(Buffer.from(targetUpperDir), MARK, targetUpperDir);
      await removeTree(tmp);
    }),
    undo: () => once(async () => {
      // a target that did not exist before is removed: it was not there to go back to
      if (!held) return removeTree(targetUpperDir);
      await exchangePaths(tmp, targetUpperDir);
      await removeTree(tmp);
    }),
  };
}

/**
 * After a crash, settles a held restore of `targetUpperDir` that was swapped in and never
 * committed: `undo` (its caller never recorded it) puts the replaced files back; otherwise the
 * restore is made final. Then removes every leftover beside the target. Answers what it found.
 */
export async function settleRestore(targetUpperDir: string, undo: boolean): Promise<'undone' | 'kept' | 'none'> {
  const target = Buffer.from(targetUpperDir);
  const mark = (await lstat(targetUpperDir).then(() => true, () => false)) ? readXattrs({ path: target }, targetUpperDir).find(([name]) => name.equals(MARK))?.[1] : undefined;
  let outcome: 'undone' | 'kept' | 'none' = 'none';
  if (mark) {
    const replaced = join(dirname(targetUpperDir), mark.toString());
    const prefix = `.${basename(targetUpperDir)}${LEFTOVER}`;
    const isOurs = mark.toString().startsWith(prefix) && !mark.includes(0x2f);
    if (undo && isOurs && (await lstat(replaced).then((st) => st.isDirectory(), () => false))) {
      await exchangePaths(replaced, targetUpperDir);
      outcome = 'undone';
    } else {
      removeXattr(target, MARK, targetUpperDir);
      outcome = 'kept';
    }
  }
  await sweepRestores(targetUpperDir);
  return outcome;
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
