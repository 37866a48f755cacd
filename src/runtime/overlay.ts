/** The container's root filesystem: overlayfs with the image read-only below a per-container upper dir. */
import { readFile, mkdir } from 'node:fs/promises';
import { runCommand } from './run-command.ts';
import { RuntimeError } from './driver.ts';

export interface OverlayDirs {
  lower: string;
  upper: string;
  work: string;
  merged: string;
}

/** Mounts the overlay unless it is already mounted. */
export async function mountOverlay(dirs: OverlayDirs, signal?: AbortSignal): Promise<void> {
  if (await isMountPoint(dirs.merged)) return;
  await Promise.all([dirs.upper, dirs.work, dirs.merged].map((d) => mkdir(d, { recursive: true })));
  const options = `lowerdir=${dirs.lower},upperdir=${dirs.upper},workdir=${dirs.work}`;
  await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', options, dirs.merged], signal);
}

/** Unmounts the overlay (every layer stacked on the mount point); lazily when something still holds it. */
export async function unmountOverlay(merged: string, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < 8 && (await isMountPoint(merged)); i++) {
    try {
      await runCommand('umount', [merged], signal);
    } catch {
      await runCommand('umount', ['-l', merged], signal);
    }
  }
  // removing the bundle through a live mount would delete the container's files
  if (await isMountPoint(merged)) throw new RuntimeError('failed', `cannot unmount ${merged}`);
}

/** True when `path` is a mount point in this mount namespace. */
export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => unescapeMountPath(line.split(' ')[4] ?? '') === path);
}

const unescapeMountPath = (p: string): string => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
