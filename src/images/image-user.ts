/**
 * The config's `User` (`""`, `name`, `uid`, `name:group`, `uid:gid`…) resolved through the
 * image's /etc/passwd and /etc/group as runc and umoci do: a number not in passwd stands for
 * itself (gid 0 when no group is given), a name must be there; the primary group comes from
 * passwd unless a group is given; supplementary groups are those of /etc/group listing the user.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattr } from './whiteouts.ts';
import type { ResolvedUser } from './types.ts';

/** One /etc/passwd entry. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One /etc/group entry. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^\d+$/;

/** Parses /etc/passwd text; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 4 || f[0] === '' || !NUMERIC.test(f[2] ?? '') || !NUMERIC.test(f[3] ?? '')) continue;
    entries.push({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' });
  }
  return entries;
}

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 3 || f[0] === '' || !NUMERIC.test(f[2] ?? '')) continue;
    entries.push({ name: f[0] as string, gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return entries;
}

/**
 * Resolves `user` against the files' text (undefined: the image has no such file). Throws with
 * a lowercase message naming what is missing (a name not in passwd, a group not in group).
 */
export function resolveUser(user: string | undefined, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const spec = (user ?? '').trim();
  const [userPart, groupPart] = spec === '' ? ['0', undefined] : splitOnce(spec);
  const users = parsePasswd(passwd ?? '');
  const groups = parseGroup(group ?? '');
  const byName = users.find((u) => u.name === userPart);
  const entry = byName ?? (NUMERIC.test(userPart) ? users.find((u) => u.uid === Number(userPart)) : undefined);
  if (!entry && !NUMERIC.test(userPart)) {
    throw new Error(passwd === undefined ? `user "${userPart}" cannot be resolved: the image has no /etc/passwd` : `user "${userPart}" is not in the image's /etc/passwd`);
  }
  const uid = entry ? entry.uid : Number(userPart);
  let gid = entry ? entry.gid : 0;
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((x) => x.name === groupPart);
    if (g) gid = g.gid;
    else if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else throw new Error(group === undefined ? `group "${groupPart}" cannot be resolved: the image has no /etc/group` : `group "${groupPart}" is not in the image's /etc/group`);
  }
  const additionalGids = entry ? [...new Set(groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid))] : [];
  return { uid, gid, additionalGids, home: entry?.home ?? '/' };
}

function splitOnce(spec: string): [string, string | undefined] {
  const i = spec.indexOf(':');
  return i < 0 ? [spec, undefined] : [spec.slice(0, i), spec.slice(i + 1)];
}

/**
 * A file's text as the merged overlay of `layers` (topmost first) shows it, or undefined when
 * absent: the topmost layer holding the path decides; a whiteout (char device 0:0) of it or of a
 * folder above it, or an opaque folder above it, hides the lower layers. Symlinks are not followed.
 */
export async function readMergedFile(layers: readonly string[], path: string): Promise<string | undefined> {
  const parts = path.split('/').filter((p) => p !== '');
  for (const layer of layers) {
    let hidden = false;
    for (let i = 1; i <= parts.length; i++) {
      const p = join(layer, ...parts.slice(0, i));
      const s = await lstat(p).catch(() => undefined);
      if (!s) break;
      if (s.isCharacterDevice() && s.rdev === 0) return undefined;
      if (i === parts.length) return s.isFile() ? readFile(p, 'utf8') : undefined;
      if (!s.isDirectory()) return undefined;
      if ((await lgetxattr(p, 'trusted.overlay.opaque')) === 'y') hidden = true;
    }
    if (hidden) return undefined;
  }
  return undefined;
}
