/**
 * Node's on-disk cache of compiled code (Node ≥ 22.1, `module.enableCompileCache`), kept in the
 * daemon's own data folder: Node's default folder is under /tmp, where another user of the host
 * could plant code the root daemon would then run.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join, resolve } from 'node:path';

/** The cache's folder inside the data folder. */
export const COMPILE_CACHE_DIR = 'compile-cache';

type EnableCompileCache = (dir: string) => { status: number; message?: string; directory?: string };

/**
 * Enables the compile cache in `<dataDir>/compile-cache` when this Node has one and the folder is
 * the daemon user's alone (0700, its owner); answers the folder Node uses (another one when
 * NODE_COMPILE_CACHE names it), or undefined when not enabled.
 * Never throws: without the cache a start is only slower, and a bad data folder is refused later.
 */
export function enableCompileCacheIn(dataDir: string): string | undefined {
  const enable = (nodeModule as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
  if (typeof enable !== 'function') return undefined;
  try {
    const dir = join(resolve(dataDir), COMPILE_CACHE_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const uid = process.geteuid?.();
    for (const path of [resolve(dataDir), dir]) {
      const info = lstatSync(path);
      // a folder someone else owns or may write to could hold planted code
      if (!info.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0) return undefined;
    }
    if ((lstatSync(dir).mode & 0o077) !== 0) return undefined;
    const result = enable(dir);
    // NODE_COMPILE_CACHE, when the operator set it, wins: say where the cache really is
    return result.directory;
  } catch {
    return undefined;
  }
}

/** Writes what has been compiled so far to the cache now, not only at exit (Node ≥ 22.10; a no-op otherwise). */
export function flushCompileCache(): void {
  try {
    (nodeModule as { flushCompileCache?: () => void }).flushCompileCache?.();
  } catch {
    // the cache is an optimisation: a failed write costs the next start only time
  }
}
