/**
 * What `runc start` does, without spawning runc (libcontainer's linuxContainer.exec and
 * handleFifoResult in runc 1.1.5). After `runc create`, the container's init waits, blocked
 * opening <runc root>/<id>/exec.fifo for writing. Opening the fifo for reading releases it: init
 * writes one byte, then execs the container's process, which closes its end of the fifo. The
 * reader reads to end of file (at least one byte, else the container was started already) and
 * unlinks the fifo, which is what makes the container "running" rather than "created".
 */
import { constants } from 'node:fs';
import { lstat, open, unlink, type FileHandle } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { RuntimeError } from '../driver.ts';
import { isRunning } from './proc.ts';
import { pathExists } from '../fs.ts';

/** How often init's liveness is checked while waiting for it, as runc does. */
const LIVENESS_CHECK_MS = 100;
/** Polls that follow each other at once before the loop sleeps 1 ms between polls. */
const FAST_POLLS = 50;

export interface ReleaseOptions {
  /** Give up after this long while init still lives (runc itself waits forever). */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Lets a created container's init run its process. Resolves true once done, false when the fifo
 * is missing or is not a fifo (the caller then asks `runc start`, which says why). Rejects with a
 * RuntimeError when init is gone before it wrote its byte, as `runc start` fails then.
 */
export async function releaseInit(fifo: string, initPid: number, opts: ReleaseOptions): Promise<boolean> {
  const info = await lstat(fifo).catch(() => undefined);
  if (!info?.isFIFO()) return false;
  // runc start refuses a container whose init has ended before it looks at the fifo
  if (!isRunning(initPid)) throw new RuntimeError('failed', 'cannot start a container that has stopped');
  // non-blocking: a blocking open (or read) would hold a libuv thread for as long as init does not come
  const handle = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    await readToEnd(fifo, handle, initPid, opts);
  } finally {
    await handle.close();
  }
  await unlink(fifo);
  return true;
}

/** Reads the fifo until init has written its byte and closed its end; fails when init dies first. */
async function readToEnd(fifo: string, handle: FileHandle, initPid: number, opts: ReleaseOptions): Promise<void> {
  const buf = Buffer.alloc(16);
  const started = Date.now();
  let nextCheck = started + LIVENESS_CHECK_MS;
  let received = 0;
  for (let poll = 0; ; poll++) {
    const n = await readSome(handle, buf);
    if (n > 0) {
      received += n;
      continue;
    }
    // 0 bytes is end of file only once init has written: before it opens its end, a read also returns 0
    if (n === 0 && received > 0) return;
    const now = Date.now();
    if (now >= nextCheck) {
      nextCheck = now + LIVENESS_CHECK_MS;
      if (!isRunning(initPid)) {
        // like runc: init may have written and ended between two polls; one last read decides
        if (received > 0 || (await readSome(handle, buf)) > 0) return;
        throw new RuntimeError('failed', 'container process is already dead');
      }
      // another reader (a concurrent `runc start`) took the byte and removed the fifo
      if (received === 0 && !(await pathExists(fifo))) throw new RuntimeError('failed', 'cannot start an already running container');
    }
    if (opts.signal?.aborted) throw new RuntimeError('failed', 'start was aborted');
    if (now - started > opts.timeoutMs) throw new RuntimeError('failed', `container init did not start within ${opts.timeoutMs} ms`);
    if (poll < FAST_POLLS) await nextTurn();
    else await new Promise((r) => setTimeout(r, 1));
  }
}

/** Bytes read, 0 at end of file (or no writer yet), -1 when the fifo is open but empty. */
async function readSome(handle: FileHandle, buf: Buffer): Promise<number> {
  try {
    return (await handle.read(buf, 0, buf.length, null)).bytesRead;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return -1;
    throw new RuntimeError('failed', `exec fifo: ${(err as Error).message}`);
  }
}
