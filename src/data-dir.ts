/**
 * The data folder holds the database (token hashes, every container's environment), the admin
 * secret and the containers' files: only the daemon's user may enter it, whoever made it first.
 */
import { chmod, mkdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SQLITE_FILES } from './store/open-store.ts';

/** Files directly in the data folder that hold secrets (or say which server this is). */
export const ADMIN_TOKEN_FILE = 'admin-token';
export const SERVER_ID_FILE = 'server-id';
const PRIVATE_FILES = [...SQLITE_FILES, ADMIN_TOKEN_FILE, SERVER_ID_FILE];

/**
 * Makes the data folder (creating it when needed) 0700 and the secret files in it 0600, at every
 * start; refuses a folder that belongs to another user. Answers the folder's real path.
 */
export async function securePrivateDataDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const real = await realpath(dir);
  const uid = process.geteuid?.();
  const info = await stat(real);
  if (uid !== undefined && info.uid !== uid) {
    // its owner could read and change everything the daemon keeps there
    throw new Error(`data folder "${real}" belongs to uid ${info.uid}, not to the daemon's user (uid ${uid}): chown it to that user or choose another --data-dir`);
  }
  await chmod(real, 0o700).catch((err: Error) => {
    throw new Error(`data folder "${real}" cannot be made private (mode 0700): ${err.message}`);
  });
  // some file systems (vfat, some network mounts) accept chmod and ignore it
  const mode = (await stat(real)).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new Error(`data folder "${real}" stays open to other users (mode 0${mode.toString(8)}) after chmod 0700: put it on a file system that keeps permissions`);
  for (const name of PRIVATE_FILES) {
    await chmod(join(real, name), 0o600).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  return real;
}

