/**
 * Which mounts of this mount namespace use a layer folder, read from /proc/self/mountinfo: an
 * overlay lists its lower dirs in its options as they were given to mount(2) (the store's
 * `l/<short>` links), so a layer's users are found by those paths.
 */
import { readFile } from 'node:fs/promises';

/** One mount: `<mount id> <major:minor> <mount point>`, which no two mounts share while both exist. */
export type MountKey = string;

interface MountLine {
  key: MountKey;
  fstype: string;
  options: string;
}

/** The keys of every mount now. */
export async function mountKeys(): Promise<Set<MountKey>> {
  return new Set((await mountLines()).map((m) => m.key));
}

/** The keys of the overlay mounts that have one of `paths` among their lower dirs. */
export async function overlaysUsing(paths: readonly string[]): Promise<MountKey[]> {
  const wanted = new Set(paths);
  return (await mountLines()).filter((m) => m.fstype === 'overlay' && lowerDirsOf(m.options).some((p) => wanted.has(p))).map((m) => m.key);
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
  return { key: `${fields[0]} ${fields[2]} ${unescapeMountText(fields[4] ?? '')}`, fstype, options };
}

async function mountLines(): Promise<MountLine[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').flatMap((line) => parseMountLine(line) ?? []);
}

/** mountinfo writes space, tab, newline, backslash (and, in options, a comma) as `\ooo`. */
const unescapeMountText = (text: string): string => text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
