/**
 * One layer blob unpacked into its own folder: Node reads and decompresses the blob (gzip by
 * zlib, zstd by a `zstd -dc` child), hashes the tar (the diff_id) and pipes it into GNU tar run
 * as root of a user namespace mapped to the server's id range, then whiteouts become overlay
 * form. The event loop never unpacks: tar and zstd are child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chown, mkdir, open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { childEnv } from '../runtime/child-env.ts';
import type { IdRange } from '../runtime/id-range.ts';
import { inNamespace, openIdNamespace } from './id-namespace.ts';
import { DEFAULT_IMAGE_LIMITS, entriesTooMany, unpackedTooLarge, type UnpackBudget } from './limits.ts';
import { convertWhiteouts } from './whiteouts.ts';

/** What unpacking found: the sha256 of the uncompressed tar and its length. */
export interface AppliedLayer {
  diffId: string;
  sizeBytes: number;
  /** Device nodes the layer held; a user namespace cannot make them, so they were left out. */
  skippedDevices: number;
}

/**
 * What one layer may unpack to: bytes of tar and tar entries (each counted as the layer streams,
 * so a small blob that expands to far more is stopped early), and the budget of the pull or
 * import the layer belongs to, charged as well.
 */
export interface LayerLimits {
  maxBytes: number;
  maxEntries: number;
  budget?: UnpackBudget;
  /** Names the layer in errors (`layer "sha256:…"`). */
  what?: string;
}

/**
 * GNU tar's flags: keep modes, owners by number (never through the host's /etc/passwd) and all
 * xattrs (file capabilities). As namespace root tar refuses `..` members, strips a leading `/`
 * and delays symlinks that could be written through; it can only touch files the range owns.
 * `-v` names each member on stdout (one line each, newlines in names escaped): the entry count.
 */
export const TAR_EXTRACT_ARGS = ['-x', '-v', '-p', '--same-owner', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--warning=no-timestamp', '-f', '-', '-C', '.'];

const DEFAULT_IMAGE_LIMITS_FOR_LAYER: LayerLimits = { maxBytes: DEFAULT_IMAGE_LIMITS.maxUnpackedBytes, maxEntries: DEFAULT_IMAGE_LIMITS.maxEntries };

/** Zeros written after the tar: a layer cut before its end-of-archive blocks still unpacks (umoci 0.4.7 `insert`). */
const END_PADDING = 512 + 1024;
const MKNOD_REFUSED = /^tar: .*: Cannot mknod: Operation not permitted$/;
const TAR_SUMMARY = /^tar: Exiting with failure status due to previous errors$/;

/** The compression a blob starts with: gzip (1f 8b), zstd (28 b5 2f fd) or none. */
export function sniffCompression(head: Uint8Array): 'gzip' | 'zstd' | 'none' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * Unpacks the blob into `destDir` (made if missing, owned by the range's root) and converts its
 * whiteouts. Throws when tar fails (a hostile or broken layer); the caller discards the folder
 * then, and also when the returned diffId is not the expected one.
 */
export async function applyLayerTar(blobPath: string, destDir: string, ids: IdRange, signal?: AbortSignal, limits: LayerLimits = DEFAULT_IMAGE_LIMITS_FOR_LAYER): Promise<AppliedLayer> {
  signal?.throwIfAborted();
  await mkdir(destDir, { recursive: true, mode: 0o755 });
  await chown(destDir, ids.uid, ids.gid);
  const kind = await sniffFile(blobPath);
  const ns = await openIdNamespace(ids, signal);
  const children: ChildProcess[] = [];
  const kill = (): void => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  signal?.addEventListener('abort', kill, { once: true });
  try {
    const source = decompressed(blobPath, kind, children);
    // the child's cwd is the layer folder, opened as host root: tar never needs to pass the private store root
    const [file, ...args] = inNamespace(ns, ['tar', ...TAR_EXTRACT_ARGS]);
    const tar = spawn(file as string, args, { cwd: destDir, stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
    children.push(tar);
    // a limit passed stops tar at once, and the feed at its next chunk
    let over: Error | undefined;
    const stop = (err: Error): void => {
      over ??= err;
      kill();
    };
    let entries = 0;
    tar.stdout.on('data', (d: Buffer) => {
      let lines = 0;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
      entries += lines;
      try {
        if (entries > limits.maxEntries) throw entriesTooMany(`${limits.what ?? 'layer'} holds more than the ${limits.maxEntries} files allowed`, limits.maxEntries);
        limits.budget?.chargeEntries(lines, limits.what);
      } catch (err) {
        stop(err as Error);
      }
    });
    let stderr = '';
    tar.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-65_536)));
    const exited = new Promise<number | string>((resolve) => {
      tar.on('error', (err) => resolve(err.message));
      tar.on('close', (code, sig) => resolve(code ?? sig ?? 'unknown'));
    });
    const { diffId, sizeBytes } = await feed(source, tar.stdin, (n, total) => {
      if (over) throw over;
      if (total > limits.maxBytes) throw unpackedTooLarge(`${limits.what ?? 'layer'} unpacks to more than the ${limits.maxBytes} bytes allowed`, limits.maxBytes);
      limits.budget?.chargeBytes(n, limits.what);
    }, signal);
    const status = await exited;
    signal?.throwIfAborted();
    if (over) throw over;
    const skippedDevices = checkTar(status, stderr);
    await convertWhiteouts(destDir, ids, signal);
    return { diffId, sizeBytes, skippedDevices };
  } finally {
    signal?.removeEventListener('abort', kill);
    kill();
    ns.close();
  }
}

/** tar's exit: 0, or failures that are all refused device nodes (counted); anything else throws with tar's words. */
function checkTar(status: number | string, stderr: string): number {
  if (status === 0) return 0;
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const devices = lines.filter((l) => MKNOD_REFUSED.test(l)).length;
  if (status === 2 && devices > 0 && lines.every((l) => MKNOD_REFUSED.test(l) || TAR_SUMMARY.test(l))) return devices;
  const words = lines.filter((l) => !TAR_SUMMARY.test(l)).slice(0, 5).join('; ');
  throw new Error(`layer tar "${typeof status === 'number' ? `exit ${status}` : status}": ${words || 'no message'}`);
}

/**
 * Hashes every byte of the tar and writes it to tar's stdin, then the padding; tar may stop
 * reading at its end blocks (EPIPE), the hash goes on. `check` sees each chunk's length and the
 * total so far before the chunk goes anywhere; its throw ends the feed (and the decompression).
 */
async function feed(source: Readable, sink: Writable, check: (bytes: number, total: number) => void, signal?: AbortSignal): Promise<{ diffId: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let size = 0;
  let open = true;
  sink.on('error', () => (open = false));
  const write = (chunk: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      if (!open || sink.write(chunk)) return resolve();
      const done = (): void => {
        sink.off('drain', done);
        sink.off('close', done);
        resolve();
      };
      sink.on('drain', done);
      sink.on('close', done);
    });
  sink.on('close', () => (open = false));
  for await (const chunk of source) {
    signal?.throwIfAborted();
    const bytes = chunk as Buffer;
    check(bytes.length, size + bytes.length);
    hash.update(bytes);
    size += bytes.length;
    if (open) await write(bytes);
  }
  if (open) await write(Buffer.alloc(END_PADDING + ((512 - (size % 512)) % 512)));
  sink.end();
  return { diffId: `sha256:${hash.digest('hex')}`, sizeBytes: size };
}

/** The blob's tar bytes: zlib for gzip, a `zstd -dc` child for zstd, the file itself otherwise. */
function decompressed(blobPath: string, kind: 'gzip' | 'zstd' | 'none', children: ChildProcess[]): Readable {
  if (kind === 'gzip') {
    // the file goes with the gunzip stream: a feed that stops early (a limit, an abort) destroys only the latter
    const file = createReadStream(blobPath);
    const gunzip = file.pipe(createGunzip());
    gunzip.once('close', () => file.destroy());
    return gunzip;
  }
  if (kind === 'none') return createReadStream(blobPath);
  const zstd = spawn('zstd', ['-dc', '--', blobPath], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  children.push(zstd);
  let stderr = '';
  zstd.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  zstd.on('error', (err) => zstd.stdout.destroy(err));
  zstd.on('close', (code) => {
    if (code !== 0) zstd.stdout.destroy(new Error(`zstd "${blobPath}": ${stderr.trim() || `exit ${code}`}`));
  });
  return zstd.stdout;
}

async function sniffFile(path: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    return sniffCompression(head);
  } finally {
    await fh.close();
  }
}
