/**
 * A user namespace mapped to the server's id range, for running a program (GNU tar) as the
 * container's root: files it makes are owned by host `range + N`, and file capabilities it
 * writes carry the range's root (a v3 `security.capability`), as the container needs them.
 * util-linux's `unshare --map-users` goes through newuidmap, which only grants the ranges of
 * /etc/subuid; host root writes the maps itself instead (root may map any range).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { childEnv } from '../runtime/child-env.ts';
import type { IdRange } from '../runtime/id-range.ts';

/** A user namespace held open by a helper process; `nsPath` is its `/proc/<pid>/ns/user`. */
export interface IdNamespace {
  nsPath: string;
  /** Ends the helper (the namespace goes when nothing is in it). */
  close(): void;
}

const READY_DEADLINE_MS = 10_000;

/** Starts a process in a new user namespace whose ids 0..size-1 are the range's host ids. */
export async function openIdNamespace(ids: IdRange, signal?: AbortSignal): Promise<IdNamespace> {
  // cat lives as long as its stdin is open: a dying daemon takes it along
  const holder = spawn('unshare', ['--user', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'], env: childEnv() });
  holder.on('error', () => undefined); // a missing unshare shows as the exit below
  const close = (): void => stop(holder);
  try {
    await waitUnshared(holder, signal);
    await writeFile(`/proc/${holder.pid}/uid_map`, `0 ${ids.uid} ${ids.size}\n`);
    await writeFile(`/proc/${holder.pid}/gid_map`, `0 ${ids.gid} ${ids.size}\n`);
    return { nsPath: `/proc/${holder.pid}/ns/user`, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** The argv that runs `argv` as root of the namespace (nsenter sets uid and gid 0 and clears groups). */
export function inNamespace(ns: IdNamespace, argv: readonly string[]): string[] {
  return ['nsenter', `--user=${ns.nsPath}`, '--setuid', '0', '--setgid', '0', '--', ...argv];
}

/** Waits until the helper has left our user namespace (its maps can be written only then). */
async function waitUnshared(holder: ChildProcess, signal?: AbortSignal): Promise<void> {
  const own = await readlink('/proc/self/ns/user');
  let stderr = '';
  holder.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const deadline = Date.now() + READY_DEADLINE_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    if (signal?.aborted) throw new Error('opening a user namespace was aborted');
    if (holder.exitCode !== null || holder.signalCode !== null || holder.pid === undefined) {
      throw new Error(`unshare "--user" ended before its namespace was ready: ${stderr.trim() || 'no message'}`);
    }
    const ns = await readlink(`/proc/${holder.pid}/ns/user`).catch(() => own);
    if (ns !== own) return;
    if (Date.now() > deadline) throw new Error(`unshare "--user" did not make a namespace within ${READY_DEADLINE_MS} ms`);
    await sleep(delay);
  }
}

function stop(holder: ChildProcess): void {
  holder.stdin?.end();
  if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
}
