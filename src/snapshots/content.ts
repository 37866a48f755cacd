/**
 * File content: copied with holes kept (a 1 TB sparse file stays a few blocks) and hashed
 * without reading its holes. The hash is over 1 MiB chunks, `sha256(sha256(chunk)… ‖ size)`,
 * where a chunk that lies wholly in a hole hashes as the zeros it reads as, known in advance:
 * the same content gives the same hash however its holes lie, and a hole costs no reads.
 */
import { constants } from 'node:fs';
import { copyFile, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dataExtents } from './file-calls.ts';

const CHUNK = 1 << 20;
const ZERO_CHUNK_HASH = createHash('sha256').update(Buffer.alloc(CHUNK)).digest();

/** `/proc/self/fd/N`: the open file itself, whatever its path now names (never a symlink's target). */
export const fdPath = (fd: number): string => `/proc/self/fd/${fd}`;

/** True when the file holds fewer blocks than its size needs: it has holes worth keeping. */
export const looksSparse = (size: number, blocks: number): boolean => size > 64 * 1024 && blocks * 512 < size;

/**
 * Copies `size` bytes of `src` into `dst` (an empty file): in the kernel (a reflink where the
 * file system shares extents, copy_file_range otherwise) unless the source has holes, which are
 * then skipped and left as holes in the copy.
 */
export async function copyData(src: FileHandle, dst: FileHandle, size: number, sparse: boolean, signal?: AbortSignal): Promise<void> {
  if (!sparse) {
    await copyFile(fdPath(src.fd), fdPath(dst.fd), constants.COPYFILE_FICLONE);
    return;
  }
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const [start, end] of dataExtents(src.fd, size)) {
    for (let at = start; at < end; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK, end - at), at);
      if (bytesRead === 0) break; // the file shrank: the caller's stat check sees it
      await dst.write(buf, 0, bytesRead, at);
      at += bytesRead;
    }
  }
  await dst.truncate(size);
}

/** The content hash of an open file's first `size` bytes (hex); chunks in holes are not read. */
export async function hashData(fh: FileHandle, size: number, signal?: AbortSignal): Promise<string> {
  const extents = size > CHUNK ? dataExtents(fh.fd, size) : [[0, size] as [number, number]];
  const top = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  let e = 0;
  for (let at = 0; at < size; at += CHUNK) {
    signal?.throwIfAborted();
    const len = Math.min(CHUNK, size - at);
    while (e < extents.length && extents[e]![1] <= at) e++;
    const inHole = e >= extents.length || extents[e]![0] >= at + len;
    if (inHole && len === CHUNK) {
      top.update(ZERO_CHUNK_HASH);
      continue;
    }
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, at + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    buf.fill(0, got, len); // a file shorter than recorded: the caller's stat check catches that
    top.update(createHash('sha256').update(buf.subarray(0, len)).digest());
  }
  return hashChunks(top, size);
}

/** The content hash of bytes held in memory (a small file read whole). */
export function hashBytes(data: Buffer): string {
  const top = createHash('sha256');
  for (let at = 0; at < data.length; at += CHUNK) top.update(createHash('sha256').update(data.subarray(at, at + CHUNK)).digest());
  return hashChunks(top, data.length);
}

function hashChunks(top: ReturnType<typeof createHash>, size: number): string {
  const tail = Buffer.alloc(8);
  tail.writeBigUInt64BE(BigInt(size));
  return top.update(tail).digest('hex');
}
