/**
 * A container's own files between servers: packed with GNU tar (owners as numbers, every extended
 * attribute, overlay whiteouts as the device files they are) into a file whose SHA-256 goes with
 * it, and unpacked at the other end while the same digest is computed over what arrived; files
 * that do not match are not used.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const TAR_FORMAT = ['--format=posix', '--xattrs', '--xattrs-include=*', '--numeric-owner'];

export interface Packed {
  file: string;
  bytes: number;
  sha256: string;
  open(): Readable;
  remove(): Promise<void>;
}

/** Packs the folder `dir` (or only `members` of it) into `file` (its folder made when missing): its size and digest. */
export async function packFiles(dir: string, file: string, signal?: AbortSignal, members: readonly string[] = ['.']): Promise<Packed> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const hash = createHash('sha256');
  const tar = runTar(['--create', ...TAR_FORMAT, '--sparse', '-C', dir, '--', ...members], 'out', signal);
  try {
    await pipeline(
      tar.stdout,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(file, { mode: 0o600 }),
    );
    const code = await tar.exited;
    if (code !== 0) throw new Error(`tar could not pack ${dir} (exit ${code}): ${tar.stderr()}`);
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  const bytes = (await stat(file)).size;
  return { file, bytes, sha256: hash.digest('hex'), open: () => createReadStream(file), remove: () => rm(file, { force: true }) };
}

/** Unpacks `body` into the new folder `dir`; throws (and leaves no `dir`) when it fails or its digest is not `sha256`. */
export async function unpackFiles(body: Readable, dir: string, sha256: string): Promise<{ bytes: number }> {
  await mkdir(dir, { recursive: false, mode: 0o700 });
  const hash = createHash('sha256');
  let bytes = 0;
  // --ignore-zeros: tar reads to the end of the stream (else it may stop at the end-of-archive
  // blocks, before the record's padding, and close its input under the writer: a broken pipe, and
  // a digest that misses the last bytes)
  const tar = runTar(['--extract', ...TAR_FORMAT, '--ignore-zeros', '--same-owner', '--same-permissions', '-C', dir], 'in');
  try {
    await pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      tar.stdin,
    );
    const code = await tar.exited;
    if (code !== 0) throw new Error(`tar could not unpack the files (exit ${code}): ${tar.stderr()}`);
    const got = hash.digest('hex');
    if (got !== sha256) throw new DigestMismatchError(sha256, got);
    return { bytes };
  } catch (err) {
    tar.process.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** GNU tar with its archive on stdout (`out`) or stdin (`in`): its exit, and the end of what it said on stderr. */
function runTar(args: string[], archive: 'in' | 'out', signal?: AbortSignal) {
  const tar = spawn('tar', args, { stdio: archive === 'out' ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
  let stderr = '';
  tar.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.once('error', reject);
    tar.once('close', resolve);
  });
  return { process: tar, stdout: tar.stdout as Readable, stdin: tar.stdin as Writable, exited, stderr: () => stderr.trim() };
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly got: string,
  ) {
    super(`the files arrived with SHA-256 ${got}, not ${expected}`);
    this.name = 'DigestMismatchError';
  }
}
