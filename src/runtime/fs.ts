/** File system checks and private files, shared by the runtime and the daemon's data folder. */
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, rename, writeFile } from 'node:fs/promises';

/** True when something exists at `path` (following symlinks). */
export const pathExists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

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
