/**
 * Which overlay mounts of this mount namespace use a layer folder, read from
 * /proc/self/mountinfo. An overlay lists its lower dirs in its options as they were given to
 * mount(2) or fsconfig(2) when it was made (the store hands out `<base>/l/<short>` links, or
 * `l/<short>` relative to `<base>`), not as they resolve now: after a layer's folder is swapped,
 * the same text names the new folder while the mount keeps the old one. So a folder's users are
 * found by the link names that led to it at mount time (a moved layer gets a new link, so only
 * mounts made before the move name the old one), and by the lower dirs that still resolve to it.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';

interface MountLine {
  /** Where it is mounted. */
  point: string;
  fstype: string;
  options: string;
}

/** A folder by its device and inode (as decimal text: bigint stat fields). */
export interface FolderId {
  dev: string;
  ino: string;
}

/** The folder's identity, or undefined when it is missing. */
export async function folderId(path: string): Promise<FolderId | undefined> {
  const s = await stat(path, { bigint: true }).catch(() => undefined);
  return s ? { dev: String(s.dev), ino: String(s.ino) } : undefined;
}

/**
 * The mount points of the overlays that have among their lower dirs one of `names` (text as
 * given at mount time), or a path that resolves (a relative one from `base`) to `folder`.
 */
export async function overlaysUsing(want: { names: readonly string[]; base: string; folder: FolderId | undefined }): Promise<string[]> {
  const names = new Set(want.names);
  const resolved = new Map<string, Promise<boolean>>();
  const isFolder = (p: string): Promise<boolean> => {
    const { folder } = want;
    if (!folder) return Promise.resolve(false);
    let hit = resolved.get(p);
    if (!hit) {
      hit = folderId(isAbsolute(p) ? p : resolve(want.base, p)).then((id) => id?.dev === folder.dev && id.ino === folder.ino);
      resolved.set(p, hit);
    }
    return hit;
  };
  const users: string[] = [];
  for (const m of await mountLines()) {
    if (m.fstype !== 'overlay') continue;
    const lowers = lowerDirsOf(m.options).filter((p) => p !== '');
    if (lowers.some((p) => names.has(p)) || (await Promise.all(lowers.map(isFolder))).some(Boolean)) users.push(m.point);
  }
  return users;
}

/** The lower dirs named in overlay options: `lowerdir=a:b:c` (mount(2)), or one `lowerdir+=a` each (fsconfig). */
export function lowerDirsOf(options: string): string[] {
  return options.split(',').flatMap((o) => {
    if (o.startsWith('lowerdir=')) return o.slice('lowerdir='.length).split(':').map(unescapeMountText);
    if (o.startsWith('lowerdir+=')) return [unescapeMountText(o.slice('lowerdir+='.length))];
    return [];
  });
}

/** A line of mountinfo: fields, optional fields, `-`, then fstype, source and the super block's options. */
export function parseMountLine(line: string): MountLine | undefined {
  const sep = line.indexOf(' - ');
  if (sep < 0) return undefined;
  const fields = line.slice(0, sep).split(' ');
  const [fstype = '', , options = ''] = line.slice(sep + 3).split(' ');
  return { point: unescapeMountText(fields[4] ?? ''), fstype, options };
}

async function mountLines(): Promise<MountLine[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').flatMap((line) => parseMountLine(line) ?? []);
}

/** mountinfo writes space, tab, newline, backslash (and, in options, a comma) as `\ooo`. */
const unescapeMountText = (text: string): string => text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
