/** The small JSON files of the image store: read leniently, written whole or not at all. */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The parsed file, or undefined when it is missing or not JSON. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Writes a file under a `.tmp` name and renames it into place: readers see the old or the new
 * text, never half. A failed write or rename removes the temp file. With `sync`, the file is on
 * disk before it takes the name, and the name before this returns (fsync of the file, then of
 * its folder): for a file whose loss after a crash would matter.
 */
export async function atomicWrite(path: string, text: string, opts: { sync?: boolean } = {}): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    if (opts.sync) {
      const file = await open(tmp, 'w', 0o600);
      try {
        await file.writeFile(text);
        await file.sync();
      } finally {
        await file.close();
      }
    } else {
      await writeFile(tmp, text, { mode: 0o600 });
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (opts.sync) await syncDir(dirname(path));
}

/** fsync of a folder: the names made, renamed or removed in it are on disk. */
export async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
