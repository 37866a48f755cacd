/**
 * Reads and writes the few cgroup files Hoody needs itself, on cgroup v1 (separate hierarchies
 * per controller) and cgroup v2 (one unified tree): usage, limits and the freezer. runc does the rest.
 */
import { constants } from 'node:fs';
import { readFile, rmdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists, readStatusFileIfAny } from './fs.ts';

const ROOT = '/sys/fs/cgroup';

export type CgroupLayout = 'v1' | 'v2';

/** v2 when /sys/fs/cgroup itself is the unified hierarchy; v1 (or hybrid) otherwise. */
export async function detectCgroupLayout(): Promise<CgroupLayout> {
  return (await pathExists(join(ROOT, 'cgroup.controllers'))) ? 'v2' : 'v1';
}

/**
 * Whether the kernel counts swap per cgroup, so that a memory+swap limit can be set: v1 has
 * memory.memsw.* only with swap accounting on (swapaccount=1); v2 has memory.swap.max in every
 * non-root cgroup when it is compiled in. runc fails on a swap limit the kernel cannot take.
 */
export async function detectSwapAccounting(layout: CgroupLayout): Promise<boolean> {
  if (layout === 'v1') return pathExists(join(ROOT, 'memory', 'memory.memsw.limit_in_bytes'));
  const own = /^0::(\/.*)$/m.exec(await readFile('/proc/self/cgroup', 'utf8').catch(() => ''))?.[1];
  if (own && own !== '/') return pathExists(join(ROOT, own, 'memory.swap.max'));
  // at the root: any child cgroup tells
  const children = await readdir(ROOT, { withFileTypes: true }).catch(() => []);
  for (const c of children) if (c.isDirectory() && (await pathExists(join(ROOT, c.name, 'memory.swap.max')))) return true;
  return false;
}

/** Whether the freezer file's text (undefined: no such file) says the cgroup is frozen or freezing. */
export function frozenIn(layout: CgroupLayout, text: string | undefined): boolean {
  if (layout === 'v2') return (text ?? '0').trim() === '1';
  return (text ?? 'THAWED').trim() !== 'THAWED';
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
    // read on every status read of a running container: one synchronous read of cgroupfs
    return frozenIn(this.layout, readStatusFileIfAny(this.freezerFile()));
  }

  /** True when the container's cgroup has a freezer file this code can drive. */
  async hasFreezer(): Promise<boolean> {
    return pathExists(this.freezerFile());
  }

  /**
   * Freezes every process of the cgroup the way runc 1.1.5 does (libcontainer/cgroups/fs and fs2
   * freezer.go) and resolves once the kernel reports the cgroup frozen. When freezing fails the
   * cgroup is thawed again: a cgroup left half frozen would hang the container.
   */
  async freeze(): Promise<void> {
    try {
      await (this.layout === 'v2' ? this.freezeV2() : this.freezeV1());
    } catch (err) {
      await writeCgroupFile(this.freezerFile(), this.layout === 'v2' ? '0' : 'THAWED').catch(() => undefined);
      throw err;
    }
  }

  /** Thaws the cgroup and checks that the kernel reports it thawed. */
  async thaw(): Promise<void> {
    const file = this.freezerFile();
    const thawed = this.layout === 'v2' ? '0' : 'THAWED';
    // v1 thaws synchronously, v2 confirms at once (runc reads cgroup.freeze back); the retries are a bound, not a wait
    let state = '';
    for (let i = 0; i < 100; i++) {
      await writeCgroupFile(file, thawed);
      state = (await readFile(file, 'utf8')).trim();
      if (state === thawed) return;
      await sleep(10);
    }
    throw new Error(`unable to thaw: ${file} says ${state}`);
  }

  /** v1: write FROZEN until freezer.state reads FROZEN; every 50th try thaw for 10 ms, as runc does. */
  private async freezeV1(): Promise<void> {
    const file = this.freezerFile();
    for (let i = 0; i < 1000; i++) {
      if (i % 50 === 49) {
        // processes that keep forking can hold a v1 cgroup in FREEZING; a short thaw lets it settle
        await writeCgroupFile(file, 'THAWED');
        await sleep(10);
      }
      await writeCgroupFile(file, 'FROZEN');
      const state = (await readFile(file, 'utf8')).trim();
      if (state === 'FROZEN') return;
      if (state !== 'FREEZING') throw new Error(`unexpected state ${state} while freezing`);
    }
    throw new Error('unable to freeze');
  }

  /** v2: write 1 to cgroup.freeze, then wait for "frozen 1" in cgroup.events (runc: every 10 ms, up to 10 s). */
  private async freezeV2(): Promise<void> {
    const file = this.freezerFile();
    await writeCgroupFile(file, '1');
    const state = (await readFile(file, 'utf8')).trim();
    if (state !== '1') throw new Error(`expected "cgroup.freeze" to be 1 but it is ${state}`);
    const events = join(this.dir('freezer'), 'cgroup.events');
    const started = Date.now();
    for (;;) {
      if (/^frozen 1$/m.test(await readFile(events, 'utf8'))) return;
      const waited = Date.now() - started;
      if (waited >= 10_000) throw new Error('timeout of 10s reached waiting for the cgroup to freeze');
      // an idle container freezes within a millisecond or two: poll fast first
      await sleep(waited < 100 ? 1 : 10);
    }
  }

  /** The file that tells whether the cgroup is frozen (`freezer.state` on v1, `cgroup.freeze` on v2). */
  freezerFile(): string {
    return join(this.dir('freezer'), this.layout === 'v2' ? 'cgroup.freeze' : 'freezer.state');
  }

  /** A limit file's value as the kernel reports it (for checks and diagnostics). */
  async readLimit(controller: 'memory' | 'cpu' | 'pids', file: string): Promise<string> {
    return (await readFile(join(this.dir(controller), file), 'utf8')).trim();
  }

  /** Every directory this container's cgroup occupies (runc normally removes them on delete). */
  async existingDirs(): Promise<string[]> {
    const candidates = this.layout === 'v2' ? [join(ROOT, this.path)] : (await readdir(ROOT)).map((c) => join(ROOT, c, this.path));
    const exists = await Promise.all(candidates.map((dir) => pathExists(dir)));
    return candidates.filter((_, i) => exists[i]);
  }
}

/** Removes the (empty) cgroup directories of a prefix such as /hoody-ab12 in every hierarchy. */
export async function removeCgroupDirs(path: string): Promise<void> {
  const layout = await detectCgroupLayout();
  const dirs = layout === 'v2' ? [join(ROOT, path)] : (await readdir(ROOT)).map((c) => join(ROOT, c, path));
  for (const dir of dirs) await rmdir(dir).catch(() => undefined);
}

/** Writes a cgroup control file that must already exist (as runc does: no O_CREAT). */
function writeCgroupFile(file: string, value: string): Promise<void> {
  return writeFile(file, value, { flag: constants.O_WRONLY | constants.O_TRUNC });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function readNumber(file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '0');
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : 0;
}

