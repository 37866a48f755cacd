/**
 * The subordinate id range a server's containers run in: container uid/gid N is host uid/gid
 * `start + N`, so container root is an unprivileged host user (the design Incus uses by default:
 * one range per server, image files shifted into it).
 */
import { readFileSync } from 'node:fs';
import { RuntimeError } from './driver.ts';

/** Host ids of container id 0 (uid and gid) and how many ids follow. */
export interface IdRange {
  uid: number;
  gid: number;
  size: number;
}

/** Used when neither HOODY_USERNS_RANGE nor /etc/subuid and /etc/subgid give root a range. */
export const DEFAULT_ID_RANGE: IdRange = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };
/** A container needs ids 0-65534 (nobody is 65534); host ids below this are ordinary users. */
const MIN_SIZE = 65_536;
const MIN_START = 65_536;
const MAX_ID = 0xfffffffe;

/** Parses `START:SIZE` (the same range for uids and gids), as HOODY_USERNS_RANGE holds it. */
export function parseIdRange(text: string, what = 'HOODY_USERNS_RANGE'): IdRange {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`${what} "${text}" is not START:SIZE`);
  const range = { uid: Number(m[1]), gid: Number(m[1]), size: Number(m[2]) };
  assertIdRange(range, what);
  return range;
}

/** Throws unless the range leaves host ids below 65536 alone and holds 65536 ids or more. */
export function assertIdRange(range: IdRange, what = 'id range'): void {
  for (const start of [range.uid, range.gid]) {
    if (!Number.isSafeInteger(start) || start < MIN_START || start + range.size - 1 > MAX_ID) {
      throw new Error(`${what} start "${start}" must be from ${MIN_START} to ${MAX_ID - range.size + 1}`);
    }
  }
  if (!Number.isSafeInteger(range.size) || range.size < MIN_SIZE) throw new Error(`${what} size "${range.size}" must be at least ${MIN_SIZE}`);
}

/**
 * root's first range of at least 65536 ids in /etc/subuid and /etc/subgid (`root:START:COUNT`
 * lines, the files useradd and usermod keep), or undefined when either file has none.
 */
export function subordinateRange(subuid = readText('/etc/subuid'), subgid = readText('/etc/subgid')): IdRange | undefined {
  const uid = rootEntry(subuid);
  const gid = rootEntry(subgid);
  if (!uid || !gid) return undefined;
  const range = { uid: uid.start, gid: gid.start, size: Math.min(uid.count, gid.count) };
  try {
    assertIdRange(range);
    return range;
  } catch {
    return undefined;
  }
}

/** The host files that give out ids: subordinate ranges, users and groups. */
export interface HostIdFiles {
  subuid: string;
  subgid: string;
  passwd: string;
  group: string;
}

/** Reads /etc/subuid, /etc/subgid, /etc/passwd and /etc/group (a missing file reads as empty). */
export function readHostIdFiles(): HostIdFiles {
  return { subuid: readText('/etc/subuid'), subgid: readText('/etc/subgid'), passwd: readText('/etc/passwd'), group: readText('/etc/group') };
}

/**
 * The range a server uses: HOODY_USERNS_RANGE, else root's subordinate range, else the default;
 * refused when another user or group of the host holds ids in it (see `assertIdRangeFree`).
 */
export function idRangeFromEnv(env: NodeJS.ProcessEnv = process.env, files: HostIdFiles = readHostIdFiles()): IdRange {
  if (env.HOODY_USERNS_RANGE) return assertIdRangeFree(parseIdRange(env.HOODY_USERNS_RANGE), files, 'HOODY_USERNS_RANGE');
  const root = subordinateRange(files.subuid, files.subgid);
  if (root) return assertIdRangeFree(root, files, "root's range in /etc/subuid and /etc/subgid");
  return assertIdRangeFree(DEFAULT_ID_RANGE, files, 'the default id range');
}

/**
 * Why `range` is not the server's alone: another user's subordinate ids (/etc/subuid,
 * /etc/subgid; root's own entries are where the range comes from) or a user's or group's id
 * (/etc/passwd, /etc/group) inside it; undefined when it is free. Whoever holds such an id can
 * map it (newuidmap) or is it, and so is the root or another user of every container.
 */
export function idRangeConflict(range: IdRange, files: HostIdFiles): string | undefined {
  for (const kind of ['uid', 'gid'] as const) {
    const [lo, hi] = [range[kind], range[kind] + range.size - 1];
    const sub = kind === 'uid' ? 'subuid' : 'subgid';
    for (const line of lines(files[sub])) {
      const [name, start, count] = line.split(':').map((f) => f.trim());
      if (name === 'root' || name === '0' || !isId(start) || !isId(count)) continue;
      const end = Number(start) + Number(count) - 1;
      if (Number(count) > 0 && Number(start) <= hi && end >= lo) return `host ${kind}s ${lo}-${hi} overlap "${line}" in /etc/${sub} (${kind}s ${start}-${end} of "${name}")`;
    }
    const owners = kind === 'uid' ? [{ file: 'passwd' as const, field: 2 }] : [{ file: 'group' as const, field: 2 }, { file: 'passwd' as const, field: 3 }];
    for (const { file, field } of owners) {
      for (const line of lines(files[file])) {
        const fields = line.split(':');
        const id = fields[field];
        if (isId(id) && Number(id) >= lo && Number(id) <= hi) return `host ${kind}s ${lo}-${hi} hold ${kind} ${id} of "${fields[0]}" in /etc/${file}`;
      }
    }
  }
  return undefined;
}

/**
 * Returns the range when it is the server's alone, else throws saying which entry holds ids of
 * it and how to give the server a free range (a range above every entry of the files).
 */
export function assertIdRangeFree(range: IdRange, files: HostIdFiles = readHostIdFiles(), what = 'id range'): IdRange {
  const conflict = idRangeConflict(range, files);
  if (!conflict) return range;
  const start = freeStart(files, range.size);
  const fix =
    start === undefined
      ? 'give root a range no other user has in /etc/subuid and /etc/subgid, or set HOODY_USERNS_RANGE to a free START:SIZE'
      : `give root its own range with "usermod --add-subuids ${start}-${start + range.size - 1} --add-subgids ${start}-${start + range.size - 1} root", or set HOODY_USERNS_RANGE="${start}:${range.size}"`;
  throw new Error(`${what} "${formatIdRange(range)}" is not the server's alone: ${conflict}; that user could act as the root of every container: ${fix}`);
}

/** `START:SIZE`, or `uids START:SIZE, gids START:SIZE` when uids and gids start apart. */
export const formatIdRange = (r: IdRange): string => (r.uid === r.gid ? `${r.uid}:${r.size}` : `uids ${r.uid}:${r.size}, gids ${r.gid}:${r.size}`);

/**
 * The host id a file owned by host id `id` gets when moved from one range to another: ids of
 * `from` (plain host ids when `from` is undefined) keep their offset; ids that do not fit in
 * `to` become its nobody (65534), as the kernel shows an unmapped id. Ids already in `to` stay,
 * so a shift cut short is finished by running it again; that is why `from` and `to` may not
 * overlap unless they start at the same id (then an id in both means the same container id).
 */
export function shiftId(id: number, kind: 'uid' | 'gid', from: IdRange | undefined, to: IdRange): number {
  if (from) assertShiftable(from, to);
  // already in the target range: a shift that was cut short is finished by running it again
  if (id >= to[kind] && id < to[kind] + to.size) return id;
  const fromStart = from ? from[kind] : 0;
  const offset = id - fromStart;
  const inside = from ? offset >= 0 && offset < from.size : true;
  if (inside && offset < to.size) return to[kind] + offset;
  return to[kind] + Math.min(65_534, to.size - 1);
}

/**
 * Throws when files cannot be moved from `from` to `to` safely: the ranges start apart but
 * overlap, so an owner in both cannot be told shifted from not yet shifted (container uid 65536
 * of 1000000:131072 is host 1065536, container root of 1065536:65536).
 */
export function assertShiftable(from: IdRange, to: IdRange): void {
  for (const kind of ['uid', 'gid'] as const) {
    const apart = from[kind] !== to[kind];
    const overlap = from[kind] < to[kind] + to.size && to[kind] < from[kind] + from.size;
    if (apart && overlap) {
      throw new RuntimeError(
        'failed',
        `cannot move files from id range "${formatIdRange(from)}" to "${formatIdRange(to)}": the ranges overlap; set HOODY_USERNS_RANGE back to "${formatIdRange(from)}" or to a range that does not overlap it`,
        { from, to },
      );
    }
  }
}

/** True when two ranges are the same. */
export const sameIdRange = (a: IdRange | undefined, b: IdRange | undefined): boolean =>
  a !== undefined && b !== undefined && a.uid === b.uid && a.gid === b.gid && a.size === b.size;

function rootEntry(text: string): { start: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [name, start, count] = line.trim().split(':');
    if ((name === 'root' || name === '0') && Number(count) >= MIN_SIZE) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

/** The first id past every subordinate range, user and group of the files, rounded up to 65536, if a range of `size` fits there. */
function freeStart(files: HostIdFiles, size: number): number | undefined {
  let top = DEFAULT_ID_RANGE.uid;
  for (const sub of [files.subuid, files.subgid]) {
    for (const line of lines(sub)) {
      const [, start, count] = line.split(':').map((f) => f.trim());
      if (isId(start) && isId(count)) top = Math.max(top, Number(start) + Number(count));
    }
  }
  for (const [text, fields] of [[files.passwd, [2, 3]], [files.group, [2]]] as const) {
    for (const line of lines(text)) {
      const parts = line.split(':');
      // an id at the very top (an old nfsnobody's 4294967294) would leave no room above it
      for (const f of fields) if (isId(parts[f]) && Number(parts[f]) < MAX_ID) top = Math.max(top, Number(parts[f]) + 1);
    }
  }
  const start = Math.ceil(top / MIN_SIZE) * MIN_SIZE;
  return start + size - 1 <= MAX_ID ? start : undefined;
}

/** The lines of a colon-separated host file that hold entries (no comments, no NIS `+`/`-` lines). */
function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('+') && !l.startsWith('-'));
}

const isId = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s.trim());

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
