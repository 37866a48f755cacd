/**
 * Reads and writes the few cgroup files Hoody needs itself, on cgroup v1 (separate hierarchies
 * per controller) and cgroup v2 (one unified tree). runc does the rest.
 */
import { readFile, rmdir, readdir, access } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';

export type CgroupLayout = 'v1' | 'v2';

/** v2 when /sys/fs/cgroup itself is the unified hierarchy; v1 (or hybrid) otherwise. */
export async function detectCgroupLayout(): Promise<CgroupLayout> {
  return (await exists(join(ROOT, 'cgroup.controllers'))) ? 'v2' : 'v1';
}

/** Where one container's cgroup lives, per controller, for a cgroupsPath like /hoody-ab12/c0ffee. */
export class CgroupPaths {
  constructor(
    readonly layout: CgroupLayout,
    readonly path: string,
  ) {}

  dir(controller: 'memory' | 'cpuacct' | 'pids' | 'freezer' | 'cpu'): string {
    return this.layout === 'v2' ? join(ROOT, this.path) : join(ROOT, controller, this.path);
  }

  /** Bytes of memory in use (page cache included, as the kernel counts it). */
  async memoryBytes(): Promise<number> {
    const file = this.layout === 'v2' ? 'memory.current' : 'memory.usage_in_bytes';
    return readNumber(join(this.dir('memory'), file));
  }

  /** CPU time consumed by all of the cgroup's processes, in nanoseconds. */
  async cpuUsageNs(): Promise<number> {
    if (this.layout === 'v1') return readNumber(join(this.dir('cpuacct'), 'cpuacct.usage'));
    const stat = await readFile(join(this.dir('cpu'), 'cpu.stat'), 'utf8').catch(() => '');
    const usec = /^usage_usec (\d+)$/m.exec(stat)?.[1];
    return usec === undefined ? 0 : Number(usec) * 1000;
  }

  /** Pids of every process in the cgroup. */
  async pids(): Promise<number[]> {
    const text = await readFile(join(this.dir('pids'), 'cgroup.procs'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map(Number);
  }

  /** True while the cgroup freezer holds the container's processes. */
  async isFrozen(): Promise<boolean> {
    if (this.layout === 'v2') return (await readFile(join(this.dir('freezer'), 'cgroup.freeze'), 'utf8').catch(() => '0')).trim() === '1';
    const state = (await readFile(join(this.dir('freezer'), 'freezer.state'), 'utf8').catch(() => 'THAWED')).trim();
    return state !== 'THAWED';
  }

  /** A limit file's value as the kernel reports it (for checks and diagnostics). */
  async readLimit(controller: 'memory' | 'cpu' | 'pids', file: string): Promise<string> {
    return (await readFile(join(this.dir(controller), file), 'utf8')).trim();
  }

  /** Every directory this container's cgroup occupies (runc normally removes them on delete). */
  async existingDirs(): Promise<string[]> {
    const candidates = this.layout === 'v2' ? [join(ROOT, this.path)] : (await readdir(ROOT)).map((c) => join(ROOT, c, this.path));
    const found: string[] = [];
    for (const dir of candidates) if (await exists(dir)) found.push(dir);
    return found;
  }
}

/** Removes the (empty) cgroup directories of a prefix such as /hoody-ab12 in every hierarchy. */
export async function removeCgroupDirs(path: string): Promise<void> {
  const layout = await detectCgroupLayout();
  const dirs = layout === 'v2' ? [join(ROOT, path)] : (await readdir(ROOT)).map((c) => join(ROOT, c, path));
  for (const dir of dirs) await rmdir(dir).catch(() => undefined);
}

async function readNumber(file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '0');
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : 0;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
