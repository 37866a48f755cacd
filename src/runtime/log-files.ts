/**
 * A container's stdout and stderr on disk: conmon writes them to `ctr.log` in the k8s-file format
 * (`<RFC 3339 time> <stdout|stderr> <P|F> <text>` per line) and, past `--log-size-max`, replaces the
 * file with an empty one (it writes a new file and renames it over the old one). Nothing is lost at
 * that moment when the old inode has another name: `ctr.log.next` is a hard link to the current
 * file, so after a rotation it holds the file conmon let go, which then becomes `ctr.log.1` (the one
 * before it goes: the cap is two files). The links are renewed after each start and whenever the
 * daemon finds a rotation (reads, follows, and a periodic check). The files live in the bundle, so
 * they survive daemon and container restarts (conmon appends) and go with the container.
 */
import { link, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export const LOG_FILE = 'ctr.log';
const NEXT_FILE = 'ctr.log.next';
const PREVIOUS_FILE = 'ctr.log.1';

export type LogStream = 'stdout' | 'stderr';

/** The longest part of an unended line held back before it is given out as a line of its own. */
export const MAX_LINE = 16 * 1024;

/** One line the container wrote (partial chunks joined). */
export interface LogRecord {
  /** When conmon read it, RFC 3339 with nanoseconds, as conmon wrote it. */
  time: string;
  stream: LogStream;
  line: string;
}

const inode = async (path: string): Promise<number | undefined> => (await stat(path).catch(() => undefined))?.ino;

/** keepRotated under way per bundle: two at once would each move `ctr.log.next` and lose the rotated file. */
const rotating = new Map<string, Promise<void>>();

/**
 * Keeps the rotated file: when `ctr.log.next` is no longer the current file, conmon rotated, and it
 * becomes `ctr.log.1`; then `ctr.log.next` names the current file again. Safe to call at any time
 * (calls for one bundle run one after the other).
 */
export function keepRotated(bundle: string): Promise<void> {
  const before = rotating.get(bundle) ?? Promise.resolve();
  const run = before.then(() => keepRotatedNow(bundle));
  const settled = run.catch(() => undefined);
  rotating.set(bundle, settled);
  void settled.then(() => {
    if (rotating.get(bundle) === settled) rotating.delete(bundle);
  });
  return run;
}

async function keepRotatedNow(bundle: string): Promise<void> {
  const current = await inode(join(bundle, LOG_FILE));
  if (current === undefined) return;
  const next = await inode(join(bundle, NEXT_FILE));
  if (next === current) return;
  if (next !== undefined) await rename(join(bundle, NEXT_FILE), join(bundle, PREVIOUS_FILE));
  await link(join(bundle, LOG_FILE), join(bundle, NEXT_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/** The log files of a bundle, oldest first, each inode once (`ctr.log.next` only while it is not the current file). */
export async function logFiles(bundle: string): Promise<string[]> {
  await keepRotated(bundle).catch(() => undefined);
  const [previous, next, current] = await Promise.all([PREVIOUS_FILE, NEXT_FILE, LOG_FILE].map((n) => inode(join(bundle, n))));
  const files: string[] = [];
  if (previous !== undefined && previous !== next && previous !== current) files.push(join(bundle, PREVIOUS_FILE));
  if (next !== undefined && next !== current) files.push(join(bundle, NEXT_FILE));
  if (current !== undefined) files.push(join(bundle, LOG_FILE));
  return files;
}

/** Removes the rotated files (the container is being deleted with its bundle anyway; used by tests). */
export async function removeRotated(bundle: string): Promise<void> {
  await Promise.all([rm(join(bundle, NEXT_FILE), { force: true }), rm(join(bundle, PREVIOUS_FILE), { force: true })]);
}

/** Turns k8s-file text into records; `pending` holds a partial line per stream across calls. */
export class LogParser {
  private readonly pending: Record<LogStream, { time: string; text: string } | undefined> = { stdout: undefined, stderr: undefined };
  private rest = '';

  /** Parses a chunk of the file (lines may be cut anywhere); answers the complete records. */
  push(chunk: string): LogRecord[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    const out: LogRecord[] = [];
    for (const l of lines) {
      const m = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/.exec(l);
      if (!m) continue;
      const [, time, streamName, tag, body = ''] = m as unknown as [string, string, LogStream, string, string | undefined];
      const prior = this.pending[streamName];
      if (tag === 'P') {
        const text = (prior?.text ?? '') + body;
        // a line that never ends is cut into lines of MAX_LINE (as Docker does at 16 KiB): held text stays bounded
        if (text.length >= MAX_LINE) {
          this.pending[streamName] = undefined;
          out.push({ time: prior?.time ?? time, stream: streamName, line: text });
        } else this.pending[streamName] = { time: prior?.time ?? time, text };
        continue;
      }
      this.pending[streamName] = undefined;
      out.push({ time: prior?.time ?? time, stream: streamName, line: (prior?.text ?? '') + body });
    }
    return out;
  }

  /** The partial lines held (a program that wrote no newline yet), as lines; forgets them. */
  flush(): LogRecord[] {
    const out: LogRecord[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const p = this.pending[stream];
      if (p) out.push({ time: p.time, stream, line: p.text });
      this.pending[stream] = undefined;
    }
    return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  }
}

/** Every record of the files, oldest first. */
export async function readLogRecords(files: readonly string[]): Promise<{ records: LogRecord[]; end: { file: string; offset: number; ino: number } | undefined }> {
  const parser = new LogParser();
  const records: LogRecord[] = [];
  let end: { file: string; offset: number; ino: number } | undefined;
  for (const file of files) {
    const handle = await open(file, 'r').catch(() => undefined);
    if (!handle) continue;
    try {
      const { ino } = await handle.stat();
      const offset = await readAll(handle, 0, (chunk) => records.push(...parser.push(chunk)));
      end = { file, offset, ino };
    } finally {
      await handle.close();
    }
  }
  // a line not ended yet is shown as it is (a follower then gets its end as a line of its own)
  records.push(...parser.flush());
  return { records, end };
}

/** Reads a file from `offset` to its end, chunk by chunk (UTF-8 characters never split); answers the offset reached. */
export async function readAll(handle: FileHandle, offset: number, onChunk: (text: string) => void): Promise<number> {
  const buf = Buffer.alloc(256 * 1024);
  const decoder = new StringDecoder('utf8');
  let pos = offset;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const text = decoder.write(buf.subarray(0, bytesRead));
    if (text) onChunk(text);
  }
  const rest = decoder.end();
  if (rest) onChunk(rest);
  return pos;
}
