/**
 * The subordinate id range a server's containers run in: container uid/gid N is host uid/gid
 * `start + N`, so container root is an unprivileged host user (the design Incus uses by default:
 * one range per server, image files shifted into it).
 */
import { readFileSync } from 'node:fs';

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

/** The range a server uses: HOODY_USERNS_RANGE, else root's subordinate range, else the default. */
export function idRangeFromEnv(env: NodeJS.ProcessEnv = process.env): IdRange {
  if (env.HOODY_USERNS_RANGE) return parseIdRange(env.HOODY_USERNS_RANGE);
  return subordinateRange() ?? DEFAULT_ID_RANGE;
}

/**
 * The host id a file owned by host id `id` gets when moved from one range to another: ids of
 * `from` (plain host ids when `from` is undefined) keep their offset; ids that do not fit in
 * `to` become its nobody (65534), as the kernel shows an unmapped id. Ids already in `to` stay.
 */
export function shiftId(id: number, kind: 'uid' | 'gid', from: IdRange | undefined, to: IdRange): number {
  // already in the target range: a shift that was cut short is finished by running it again
  if (id >= to[kind] && id < to[kind] + to.size) return id;
  const fromStart = from ? from[kind] : 0;
  const offset = id - fromStart;
  const inside = from ? offset >= 0 && offset < from.size : true;
  if (inside && offset < to.size) return to[kind] + offset;
  return to[kind] + Math.min(65_534, to.size - 1);
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

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
