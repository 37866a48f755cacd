/**
 * What test/snapshots-api.test.ts shares: one user's view of a daemon (containers it made and
 * removes afterwards, exec, status logs, snapshots), curl and the CLI as child processes, the
 * cgroup freezer file of a container, and the disk a folder takes.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiClient, HOODY_BIN, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';

export type Call = ReturnType<typeof apiClient>;

/** Generous: the machine may be a loaded 2-core one. */
export const LONG = 60_000;

let seq = 0;
/** A container name no other test of the file uses. */
export const uniqueName = (prefix: string): string => `${prefix}-${(seq++).toString(36)}-${Date.now().toString(36).slice(-4)}`;

/** A busybox command that ends at once on SIGTERM (the trap is set before anything else). */
export const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];

/** One user of a daemon: the containers it makes are removed by `cleanup`. */
export class Tenant {
  readonly call: Call;
  private readonly made: string[] = [];

  constructor(
    readonly d: DaemonHandle,
    readonly token: string,
  ) {
    this.call = apiClient(d.api, token);
  }

  /** Creates a busybox container (running unless `autostart: false`) and keeps its id for clean-up. */
  async create(name: string, body: Record<string, unknown> = {}): Promise<any> {
    const r = await this.call('POST', '/containers', { name, container_image: 'busybox', command: IDLE, stop_timeout: 5, ...body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    this.made.push(r.body.data.id);
    if (body.autostart === false) return r.body.data;
    return eventually(`container ${name} running`, () => this.get(r.body.data.id), (c) => c.status === 'running' && c.current_operation === null, LONG);
  }

  /** Keeps a container made another way (a copy) for clean-up. */
  track(id: string): void {
    this.made.push(id);
  }

  async get(id: string): Promise<any> {
    const r = await this.call('GET', `/containers/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data;
  }

  /** The container with this name, or undefined. */
  async byName(name: string): Promise<any> {
    const r = await this.call('GET', `/containers?name=${encodeURIComponent(name)}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.data.containers as any[]).find((c) => c.name === name);
  }

  /** Runs `sh -c script` in a running container; requires exit code 0 and answers stdout. */
  async sh(id: string, script: string, timeout = 600): Promise<string> {
    const r = await this.call('POST', `/containers/${id}/exec`, { command: ['sh', '-c', script], timeout });
    assert.equal(r.status, 200, `exec ${script}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.data.exit_code, 0, `exec ${script}: ${JSON.stringify(r.body.data)}`);
    return r.body.data.stdout as string;
  }

  /** Every status-log row of a container, oldest first. */
  async logs(id: string): Promise<any[]> {
    const r = await this.call('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.logs;
  }

  async snapshot(id: string, body: Record<string, unknown> = {}): Promise<any> {
    const r = await this.call('POST', `/containers/${id}/snapshots`, body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.data.snapshot;
  }

  async snapshots(id: string): Promise<any[]> {
    const r = await this.call('GET', `/containers/${id}/snapshots`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.snapshots;
  }

  /** Runs a lifecycle operation and requires it to succeed. */
  async op(id: string, operation: string): Promise<any> {
    const r = await this.call('POST', `/containers/${id}/${operation}`);
    assert.equal(r.status, 200, `${operation}: ${JSON.stringify(r.body)}`);
    return r.body.data;
  }

  /** Stops (when live) and deletes a container. */
  async remove(id: string): Promise<void> {
    const r = await this.call('GET', `/containers/${id}`);
    if (r.status === 404) return;
    if (r.body.data?.status === 'running' || r.body.data?.status === 'paused') await this.call('POST', `/containers/${id}/force-stop`);
    const del = await this.call('DELETE', `/containers/${id}`);
    assert.equal(del.status, 200, `delete ${id}: ${JSON.stringify(del.body)}`);
  }

  /** Removes every container this tenant made (what cannot be removed is reported, not thrown). */
  async cleanup(): Promise<void> {
    for (const id of this.made.splice(0)) await this.remove(id).catch((err: Error) => console.error(`clean-up of ${id}: ${err.message}`));
  }
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `curl` as the user guide writes it: the answer's status and JSON body. */
export async function curl(d: DaemonHandle, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const args = ['-sS', '-X', method, `${d.api}${path}`, '-H', `Authorization: Bearer ${token}`, '-w', '\n%{http_code}'];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '-d', JSON.stringify(body));
  const r = await run('curl', args);
  assert.equal(r.code, 0, `curl ${method} ${path}: ${r.stderr}`);
  const cut = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, cut);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: the assertion shows the text */
  }
  return { status: Number(r.stdout.slice(cut + 1)), body: parsed };
}

/** The `hoody` CLI with the daemon's URL and this token in the environment. */
export function hoody(d: DaemonHandle, token: string, args: string[]): Promise<Run> {
  return run(process.execPath, [HOODY_BIN, ...args], { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: token });
}

/** Runs the CLI and requires exit code 0; answers stdout. */
export async function hoodyOk(d: DaemonHandle, token: string, args: string[]): Promise<string> {
  const r = await hoody(d, token, args);
  assert.equal(r.code, 0, `hoody ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The file that says whether the cgroup freezer holds a container, and the text it has when it does not. */
export function freezerOf(d: DaemonHandle, id: string): { file: string; thawed: string } {
  const path = `${cgroupPrefixFor(d.dataDir)}/${id}`;
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? { file: join('/sys/fs/cgroup', path, 'cgroup.freeze'), thawed: '0' } : { file: join('/sys/fs/cgroup/freezer', path, 'freezer.state'), thawed: 'THAWED' };
}

/** The freezer file's text now ('' when there is none: the container does not run). */
export function freezerState(d: DaemonHandle, id: string): string {
  try {
    return readFileSync(freezerOf(d, id).file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** KiB a folder takes on disk (`du -sk`, each hard-linked inode counted once). */
export function diskKiB(path: string): number {
  return Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]);
}
