/** A scratch folder for tests that mount (root only), and a cleanup that unmounts whatever is left under it first. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MNT_DETACH, umount2 } from '../src/runtime/mount-syscalls.ts';

/** A new folder under the temp dir named `<prefix>…`; `cleanup` detaches every mount below it, deepest first, then removes it. */
export async function mountScratch(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {
    dir,
    cleanup: async () => {
      // whatever a failed case left mounted under the folder goes before the folder itself
      const info = await readFile('/proc/self/mountinfo', 'utf8');
      const left = info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(dir));
      for (const p of left.reverse()) await umount2(p, MNT_DETACH).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
