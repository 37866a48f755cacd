/**
 * What confinement costs at start: `runc create` + `runc start` of one busybox bundle in four
 * variants (no seccomp filter and no user namespace; the filter only; the user namespace only;
 * both, which is what Hoody runs), interleaved round by round so that load on the machine hits
 * each alike. Run as root: `npx tsx bench/confinement.ts [rounds]`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../src/runtime/image-store.ts';
import { buildOciSpec } from '../src/runtime/runc/oci-spec.ts';
import { DEFAULT_ID_RANGE } from '../src/runtime/id-range.ts';

const rounds = Number(process.argv[2] ?? 15);
const VARIANTS = ['neither', 'seccomp', 'userns', 'both'] as const;
type Variant = (typeof VARIANTS)[number];
const ids = DEFAULT_ID_RANGE;
const cgroupParent = `hoody-bench-confine-${process.pid}`;

const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-'));
// container root passes through these folders (see docs/runtime.md)
await chmod(dir, 0o711);
const lower = await new ImageStore(join(dir, 'images'), ids).rootfs('busybox');
const runcRoot = join(dir, 'runc');

function runc(args: string[]): void {
  const r = spawnSync('/usr/sbin/runc', ['--root', runcRoot, ...args], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`runc ${args.join(' ')} exited ${r.status}`);
}

async function prepare(v: Variant): Promise<void> {
  const b = join(dir, v);
  for (const d of ['rootfs', 'upper', 'work']) await mkdir(join(b, d), { recursive: true });
  await chmod(b, 0o711);
  await chown(join(b, 'upper'), ids.uid, ids.gid);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(b, 'upper')},workdir=${join(b, 'work')}`, join(b, 'rootfs')]);
  const spec = { id: v, image: 'busybox', command: ['sleep', '60'], env: {}, hostname: v };
  const config = buildOciSpec({ spec, run: { entrypoint: [], cmd: [], env: [], workingDir: '/' }, initBinary: '/usr/bin/catatonit', cgroupsPath: `/${cgroupParent}/${v}`, nofile: 1024, ids, swapAccounting: false }) as {
    linux: { seccomp?: unknown; uidMappings?: unknown; gidMappings?: unknown; namespaces: { type: string }[] };
  };
  if (v === 'neither' || v === 'userns') delete config.linux.seccomp;
  if (v === 'neither' || v === 'seccomp') {
    // without a user namespace, container root is host root: give the upper dir back to it
    await chown(join(b, 'upper'), 0, 0);
    delete config.linux.uidMappings;
    delete config.linux.gidMappings;
    config.linux.namespaces = config.linux.namespaces.filter((n) => n.type !== 'user');
  }
  await writeFile(join(b, 'config.json'), JSON.stringify(config), { mode: 0o600 });
}

const times: Record<Variant, number[]> = { neither: [], seccomp: [], userns: [], both: [] };
try {
  for (const v of VARIANTS) await prepare(v);
  for (let i = 0; i < rounds; i++) {
    for (const v of i % 2 ? [...VARIANTS].reverse() : VARIANTS) {
      const t0 = performance.now();
      runc(['create', '--bundle', join(dir, v), v]);
      runc(['start', v]);
      times[v].push(performance.now() - t0);
      runc(['delete', '--force', v]);
    }
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? NaN;
  console.log(`runc create + start by confinement, ${rounds} interleaved rounds, median ms`);
  for (const v of VARIANTS) console.log(`${v.padEnd(8)} ${median(times[v]).toFixed(1).padStart(7)}`);
} finally {
  for (const v of VARIANTS) spawnSync('umount', [join(dir, v, 'rootfs')]);
  for (const c of execFileSync('ls', ['/sys/fs/cgroup'], { encoding: 'utf8' }).split('\n').filter(Boolean)) spawnSync('rmdir', [`/sys/fs/cgroup/${c}/${cgroupParent}`]);
  await rm(dir, { recursive: true, force: true });
}
