/** File system checks shared by the runtime. */
import { access } from 'node:fs/promises';

/** True when something exists at `path` (following symlinks). */
export const pathExists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );
