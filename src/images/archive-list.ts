/**
 * The members of an outer image archive (`docker save`, `podman save`, `oci-archive`), listed by
 * GNU tar before anything is unpacked, and the unpack of its files alone: such an archive needs
 * files, folders and (docker-archive's legacy `layer.tar`) symlinks, and nothing else is allowed.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { runCommand } from '../runtime/run-command.ts';
import { childEnv } from '../runtime/child-env.ts';

/** The archive uploaded is not one Hoody can import (not a tar file, no image in it, members out of bounds…): the user's input, not a failure of the server. */
export class InvalidArchiveError extends Error {
  override readonly name = 'InvalidArchiveError';
}

/** One member of the archive; paths are normal relative ones (`blobs/sha256/…`, no `./`). */
export interface ArchiveMember {
  type: 'file' | 'dir' | 'symlink';
  path: string;
  /** The name as the archive spells it (`./blobs/…`), which tar matches. */
  raw: string;
  /** A symlink's target, as written. */
  target?: string;
}

const TYPES: Record<string, ArchiveMember['type']> = { '-': 'file', d: 'dir', l: 'symlink' };

/** Lists the archive; throws on a hard link, device, FIFO, an absolute path, `..`, or a path given twice. */
export async function listArchive(archive: string, signal?: AbortSignal): Promise<ArchiveMember[]> {
  const { stdout } = await listing(archive, signal);
  const members: ArchiveMember[] = [];
  const seen = new Set<string>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const type = TYPES[line[0] as string];
    const quote = line.indexOf('"');
    if (!type || quote < 0) throw new InvalidArchiveError(`archive member "${line}" is not a file, folder or symlink`);
    const [raw, rest] = cString(line, quote);
    const path = normalMember(raw);
    if (seen.has(path)) throw new InvalidArchiveError(`archive member "${path}" appears twice`);
    seen.add(path);
    if (type === 'symlink') {
      const arrow = rest.indexOf('"');
      if (!rest.startsWith(' -> ') || arrow < 0) throw new InvalidArchiveError(`archive symlink "${path}" has no target`);
      members.push({ type, path, raw, target: cString(rest, arrow)[0] });
    } else if (rest !== '') {
      throw new InvalidArchiveError(`archive member "${path}" is not a file, folder or symlink`);
    } else if (path !== '') {
      members.push({ type, path, raw });
    }
  }
  return members;
}

/** Unpacks the archive's files and folders (never its symlinks) into `dest`, as plain root-owned files. */
export async function unpackArchiveFiles(archive: string, members: readonly ArchiveMember[], dest: string, signal?: AbortSignal): Promise<void> {
  const wanted = members.filter((m) => m.type !== 'symlink');
  const listFile = join(dest, '.members');
  // the archive's own spelling, given literally (no wildcards)
  await writeFile(listFile, wanted.map((m) => m.raw).join('\0'));
  await runCommand('tar', ['-x', '-f', archive, '-C', dest, '--no-same-owner', '--no-same-permissions', '--no-recursion', '--no-wildcards', '--null', '--verbatim-files-from', '-T', listFile], signal, 3_600_000);
}

/** Follows the archive's symlinks from `path` to a file member; throws when it leads out of the archive or nowhere. */
export function resolveMember(members: readonly ArchiveMember[], path: string): string {
  const byPath = new Map(members.map((m) => [m.path, m]));
  let current = normalMember(path);
  for (let hops = 0; hops < 16; hops++) {
    const m = byPath.get(current);
    if (!m) throw new InvalidArchiveError(`archive has no member "${path}"`);
    if (m.type === 'file') return current;
    if (m.type === 'dir') throw new InvalidArchiveError(`archive member "${path}" is a folder`);
    current = normalMember(posix.join(posix.dirname(current), m.target as string));
  }
  throw new InvalidArchiveError(`archive member "${path}" is a loop of symlinks`);
}

/** `./a/b/` → `a/b`; throws on an absolute path or one that climbs with `..`. */
export function normalMember(raw: string): string {
  if (raw.startsWith('/')) throw new InvalidArchiveError(`archive member "${raw}" has an absolute path`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new InvalidArchiveError(`archive member "${raw}" climbs out with ".."`);
  return parts.join('/');
}

const NOT_A_TAR = /does not look like a tar archive|Unexpected EOF in archive|Skipping to next header|not in gzip format|Archive is compressed|unexpected end of file|Damaged tar archive|Archive contains obsolescent base-64 headers/i;

function listing(archive: string, signal?: AbortSignal): Promise<{ stdout: string }> {
  // LC_ALL=C: every byte that is not plain ASCII comes out as an octal escape, decoded below
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-t', '-v', '--numeric-owner', '--quoting-style=c', '-f', archive], { env: childEnv({ LC_ALL: 'C' }), signal, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve({ stdout: Buffer.concat(out).toString('latin1') });
      const said = err.trim().split('\n').slice(-2).join('; ').replaceAll(archive, 'the archive');
      // tar's words for an upload that is not a (whole, readable) tar file: the user's input; anything
      // else (tar killed, a read error, a tar without these options) is the server's own failure
      if (code === 2 && NOT_A_TAR.test(err)) reject(new InvalidArchiveError(`the archive is not a tar file: ${said}`));
      else reject(new Error(`could not list the archive with tar (${signal ? `signal ${signal}` : `exit ${code}`}): ${said}`));
    });
  });
}

/** Decodes the C-quoted string starting at `at` (a `"`); returns it (UTF-8) and the text after it. */
function cString(line: string, at: number): [string, string] {
  const bytes: number[] = [];
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, b: 8, a: 7, '\\': 92, '"': 34, '?': 63 };
  let i = at + 1;
  for (; i < line.length && line[i] !== '"'; i++) {
    if (line[i] !== '\\') {
      bytes.push(line.charCodeAt(i) & 0xff);
      continue;
    }
    const next = line[i + 1] as string;
    const oct = /^[0-7]{1,3}/.exec(line.slice(i + 1, i + 4));
    if (oct) {
      bytes.push(parseInt(oct[0], 8) & 0xff);
      i += oct[0].length;
    } else {
      bytes.push(simple[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  if (i >= line.length) throw new InvalidArchiveError(`archive listing line "${line}" cannot be read`);
  return [Buffer.from(bytes).toString('utf8'), line.slice(i + 1)];
}
