/** Facts about host processes read from /proc, each read bounded whatever the process makes of it. */
import { readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { readStatusFileIfAny } from '../fs.ts';

/** The most bytes of a command line read for a process listing (a process may carry megabytes of argv). */
export const MAX_COMMAND_BYTES = 4096;

/** The most bytes read of each of /proc/<pid>/net/tcp and tcp6 (a tenant may hold a socket table of many MB). */
export const MAX_SOCKET_TABLE_BYTES = 256 * 1024;

/** Marks a command line cut at MAX_COMMAND_BYTES. */
export const TRUNCATED_MARK = '…';

/**
 * The arguments of a process from the first `maxBytes` of /proc/<pid>/cmdline, and whether there
 * were more; no arguments when it is gone.
 */
export async function processArgs(pid: number, maxBytes = MAX_COMMAND_BYTES): Promise<{ args: string[]; truncated: boolean }> {
  // one byte more than asked tells a command line of exactly maxBytes from a longer one
  const head = await readHead(`/proc/${pid}/cmdline`, maxBytes + 1);
  if (!head || head.length === 0) return { args: [], truncated: false };
  const truncated = head.length > maxBytes;
  const text = head.subarray(0, maxBytes).toString('utf8');
  return { args: (truncated ? text : text.replace(/\0+$/, '')).split('\0'), truncated };
}

/**
 * The command line of a process as a listing shows it: at most MAX_COMMAND_BYTES of it, control
 * characters as '?' (as ps does), TRUNCATED_MARK at the end when cut; '' when it is gone.
 */
export async function processCommand(pid: number): Promise<string> {
  const { args, truncated } = await processArgs(pid);
  // eslint-disable-next-line no-control-regex -- control characters are what is replaced
  const command = args.join(' ').replace(/[\u0000-\u001f\u007f]/g, '?');
  return truncated ? command + TRUNCATED_MARK : command;
}

/** The first `maxBytes` of a file, read into a buffer of that size; undefined when it cannot be opened. */
async function readHead(path: string, maxBytes: number): Promise<Buffer | undefined> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(maxBytes);
    let filled = 0;
    // /proc files may answer a read with less than asked: read until full or at the end
    while (filled < maxBytes) {
      const { bytesRead } = await handle.read(buffer, filled, maxBytes - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** One process as a listing shows it; undefined when it is gone (or a kernel thread with no command line). */
export async function processInfo(pid: number): Promise<{ pid: number; command: string; state: string } | undefined> {
  const [command, stat] = await Promise.all([processCommand(pid), readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')]);
  if (command === '') return undefined;
  return { pid, command, state: stateOf(stat) ?? '?' };
}

/**
 * The first `max` processes of a list of pids, read without blocking the event loop (a few files
 * at a time), and how many pids there were in all.
 */
export async function listProcesses(pids: number[], max: number): Promise<{ processes: { pid: number; command: string; state: string }[]; total: number }> {
  const wanted = [...pids].sort((a, b) => a - b).slice(0, max);
  const processes: { pid: number; command: string; state: string }[] = [];
  for (let i = 0; i < wanted.length; i += PROC_READS_AT_ONCE) {
    const batch = await Promise.all(wanted.slice(i, i + PROC_READS_AT_ONCE).map(processInfo));
    for (const p of batch) if (p) processes.push(p);
  }
  return { processes, total: pids.length };
}

/** How many processes are read from /proc at once. */
const PROC_READS_AT_ONCE = 32;

/** The state letter of a /proc/<pid>/stat line: the command name in parentheses may contain spaces, so it follows the last ')'. */
function stateOf(stat: string): string | undefined {
  if (stat === '') return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/** One-letter scheduler state of a process (R, S, D, T, Z…), or undefined when it is gone. Synchronous: for one pid at a time. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name in parentheses may contain spaces: the state follows the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** True while a process exists and is not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/**
 * TCP ports in LISTEN state in the network namespace of a process (from /proc/<pid>/net/tcp{,6}),
 * parsed as they are read: at most MAX_SOCKET_TABLE_BYTES of each table, and no further than the
 * first socket that does not listen (the kernel lists the listening ones first).
 */
export async function listeningPorts(pid: number): Promise<number[]> {
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) await readListening(`/proc/${pid}/net/${file}`, ports);
  return [...ports].sort((a, b) => a - b);
}

/** How many bytes of a socket table are read at once. */
const SOCKET_TABLE_CHUNK = 16 * 1024;

/** Adds the listening ports of one socket table to `ports`, reading it chunk by chunk. */
async function readListening(path: string, ports: Set<number>): Promise<void> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    const buffer = Buffer.alloc(SOCKET_TABLE_CHUNK);
    let total = 0;
    let rest = '';
    let header = true;
    while (total < MAX_SOCKET_TABLE_BYTES) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(SOCKET_TABLE_CHUNK, MAX_SOCKET_TABLE_BYTES - total), null);
      if (bytesRead === 0) break;
      total += bytesRead;
      const lines = (rest + buffer.toString('latin1', 0, bytesRead)).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        const cols = line.trim().split(/\s+/);
        // local_address is HEXIP:HEXPORT; state 0A is LISTEN, and the listening sockets come first
        if (cols[3] !== '0A') return;
        const port = parseInt(cols[1]?.split(':')[1] ?? '', 16);
        if (Number.isFinite(port)) ports.add(port);
      }
    }
  } catch {
    // the process went away while its table was read: what was read stands
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** runc's own init names itself so until it execs the container's process (runc:[2:INIT]). */
const RUNC_INIT_NAME = /^runc:\[/;

/**
 * Whether signal number `signo` sent to `pid` now would be acted on: the process has exec'd
 * past runc's init and blocks the signal (it is queued, as catatonit's signalfd reads it) or
 * catches it. PID 1 of a PID namespace drops a signal it does neither, and runc's init (Go's
 * handlers) loses it across the exec. Undefined when the process is gone.
 */
export function receivesSignal(pid: number, signo: number): boolean | undefined {
  const status = readStatusFileIfAny(`/proc/${pid}/status`);
  if (status === undefined) return undefined;
  const field = (name: string): string => new RegExp(`^${name}:\\s*(\\S*)`, 'm').exec(status)?.[1] ?? '';
  if (RUNC_INIT_NAME.test(field('Name'))) return false;
  // each mask is 64 bits in hex; signal n is bit n-1
  const bit = 1n << BigInt(signo - 1);
  const has = (mask: string): boolean => /^[0-9a-f]+$/i.test(mask) && (BigInt(`0x${mask}`) & bit) !== 0n;
  return has(field('SigBlk')) || has(field('SigCgt'));
}
