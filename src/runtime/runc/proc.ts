/** Facts about host processes read from /proc. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** The command line of a process, or '' when it is gone. */
export async function processCommand(pid: number): Promise<string> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.replace(/\0+$/, '').split('\0').join(' ');
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

/** TCP ports in LISTEN state in the network namespace of a process (from /proc/<pid>/net/tcp{,6}). */
export async function listeningPorts(pid: number): Promise<number[]> {
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN
      if (cols[3] === '0A') ports.add(parseInt(cols[1]?.split(':')[1] ?? '', 16));
    }
  }
  return [...ports].filter(Number.isFinite).sort((a, b) => a - b);
}
