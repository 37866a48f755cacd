/** File system checks and private files, shared by the runtime and the daemon's data folder. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { access, chmod, mkdir, rename, writeFile } from 'node:fs/promises';

/** True when something exists at `path` (following symlinks). */
export const pathExists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * A small status file's text, read synchronously; throws as readFileSync does. For the files read
 * on every status read (procfs, cgroupfs, runc's state.json in the page cache), where one blocking
 * read takes a few microseconds and an async readFile four thread-pool round trips.
 */
export const readStatusFile = (path: string): string => readFileSync(path, 'utf8');

/** readStatusFile, or undefined when the file cannot be read. */
export function readStatusFileIfAny(path: string): string | undefined {
  try {
    return readStatusFile(path);
  } catch {
    return undefined;
  }
}

/**
 * Writes a file only its owner reads, from the start: a new file with mode 0600 renamed into
 * place, so neither a secret nor half a file is ever readable, also over an older, wider file.
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
}

/** Makes (or fixes) a folder for its owner alone: 0700, also when an older version made it wider. */
export async function makePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
}
