/** The container's root filesystem: overlayfs with the image's layers read-only below a per-container upper dir. */
import { readFile, mkdir, chown } from 'node:fs/promises';
import { RuntimeError } from './driver.ts';
import { MNT_DETACH, MS_BIND, MS_NODEV, MS_NOSUID, mount, mountOverlayLayers, umount2 } from './mount-syscalls.ts';

export interface OverlayDirs {
  /** The read-only layers: one folder, or several with the topmost first (overlay's `lowerdir=a:b:c` order). */
  lower: string | readonly string[];
  upper: string;
  work: string;
  merged: string;
  /** Host uid and gid of the container's root: the owner of its `/` (the upper dir's top). */
  owner: { uid: number; gid: number };
}

/**
 * Mounts the overlay unless it is already mounted. nosuid and nodev: a setuid file or a device
 * node in the image or the upper dir grants nothing (no new privileges is set in the container
 * anyway, so setuid never worked there).
 */
export async function mountOverlay(dirs: OverlayDirs, signal?: AbortSignal): Promise<void> {
  if (await isMountPoint(dirs.merged)) return;
  await makeOverlayDirs(dirs);
  if (signal?.aborted) throw new RuntimeError('failed', `mount of "${dirs.merged}" was aborted`);
  let options: string;
  try {
    options = overlayOptions(dirs);
  } catch (err) {
    // too many layers for one page of mount(2) options: the new mount API takes them one by one
    if (!(err instanceof RuntimeError) || err.details.bytes === undefined || typeof dirs.lower === 'string') throw err;
    await mountOverlayLayers({ lowers: dirs.lower, upper: dirs.upper, work: dirs.work, target: dirs.merged }).catch((fsErr: Error) => {
      throw new RuntimeError('failed', `${err.message}; the new mount API failed too: ${fsErr.message}`, err.details);
    });
    return;
  }
  await mount({ source: 'overlay', target: dirs.merged, fstype: 'overlay', flags: MS_NOSUID | MS_NODEV, data: options });
}

/** Makes the upper and work folders, and the mount point when given (those missing), with their modes and owner. */
export async function makeOverlayDirs(dirs: Pick<OverlayDirs, 'upper' | 'work' | 'owner'> & { merged?: string }): Promise<void> {
  // the upper dir's mode is that of the container's `/`; only root uses work and the mount point
  const privateDirs = dirs.merged === undefined ? [dirs.work] : [dirs.work, dirs.merged];
  await Promise.all([mkdir(dirs.upper, { recursive: true, mode: 0o755 }), ...privateDirs.map((d) => mkdir(d, { recursive: true, mode: 0o700 }))]);
  // the top of the upper dir is the container's `/`: its root must own it to write there
  await chown(dirs.upper, dirs.owner.uid, dirs.owner.gid);
}

/** mount(2) copies its option string into one page, NUL included: a longer one fails with a misleading error. */
export const MAX_MOUNT_OPTIONS_BYTES = 4096;

/** overlay's options; a path with a separator in it would name other folders than the one meant. */
export function overlayOptions(dirs: Pick<OverlayDirs, 'lower' | 'upper' | 'work'>): string {
  const lowers = typeof dirs.lower === 'string' ? [dirs.lower] : [...dirs.lower];
  if (lowers.length === 0) throw new RuntimeError('failed', 'cannot mount an overlay without a lower layer');
  for (const p of [...lowers, dirs.upper, dirs.work]) {
    if (/[,:\\]/.test(p)) throw new RuntimeError('failed', `cannot mount an overlay on "${p}": the path holds ',', ':' or '\\'`);
  }
  const options = `lowerdir=${lowers.join(':')},upperdir=${dirs.upper},workdir=${dirs.work}`;
  const bytes = Buffer.byteLength(options) + 1;
  if (bytes > MAX_MOUNT_OPTIONS_BYTES) {
    throw new RuntimeError('failed', `cannot mount an overlay of ${lowers.length} layers: its options take ${bytes} bytes, more than one page (${MAX_MOUNT_OPTIONS_BYTES})`, { layers: lowers.length, bytes });
  }
  return options;
}

/** Bind-mounts `source` on `target` (`mount --bind`: this mount alone, not those under it). */
export async function bindMount(source: string, target: string, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new RuntimeError('failed', `mount of "${target}" was aborted`);
  await mount({ source, target, flags: MS_BIND });
}

/**
 * Unmounts several mount points, in the order given (an alias before the mount it binds), one
 * umount2 each; whatever is still mounted after that (a stacked layer, a busy mount) goes through
 * unmountOverlay, so the outcome is the same as unmounting each in turn until nothing is left.
 */
export async function unmountAll(paths: readonly string[], signal?: AbortSignal): Promise<void> {
  const mounted = await mountPoints();
  for (const p of paths) if (mounted.has(p)) await umount2(p).catch(() => undefined);
  const left = await mountPoints();
  for (const p of paths) if (left.has(p)) await unmountOverlay(p, signal);
}

/** Unmounts the overlay (every layer stacked on the mount point); lazily when something still holds it. */
export async function unmountOverlay(merged: string, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < 8 && (await isMountPoint(merged)); i++) {
    if (signal?.aborted) throw new RuntimeError('failed', `unmount of "${merged}" was aborted`);
    await umount2(merged).catch(() => umount2(merged, MNT_DETACH));
  }
  // removing the bundle through a live mount would delete the container's files
  if (await isMountPoint(merged)) throw new RuntimeError('failed', `cannot unmount "${merged}"`);
}

/** True when `path` is a mount point in this mount namespace. */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountPoints()).has(path);
}

/** Every mount point in this mount namespace. */
export async function mountPoints(): Promise<Set<string>> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return new Set(info.split('\n').map((line) => unescapeMountPath(line.split(' ')[4] ?? '')));
}

const unescapeMountPath = (p: string): string => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
