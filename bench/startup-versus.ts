/**
 * Daemon start-up and idle memory of this checkout's built package next to another one (a checkout
 * of an earlier commit, built), or next to itself with other Node flags, in the same run, interleaved
 * round by round (the order alternates). Run as root after `npm run build` in both:
 * `npm run bench:startup-versus -- OTHER_ROOT [rounds=10] [settle-ms=3000]`.
 * HOODY_BENCH_NODE (default: this Node) runs both sides (HOODY_BENCH_THIS_ROOT: another checkout
 * in place of this one, e.g. one whose native addons are built for that Node); HOODY_BENCH_THIS_ARGS and
 * HOODY_BENCH_OTHER_ARGS add Node flags to one side (space-separated); HOODY_BENCH_THIS_KEEP=1 or
 * HOODY_BENCH_OTHER_KEEP=1 restarts that side in one data folder (started once before the rounds,
 * not counted) instead of a new empty one each time: a restart, as `systemctl restart` does.
 *
 * Each start gets an empty data folder (SQLite) and a free port. Start-up is the time from spawn to
 * the first 200 answer of GET /healthz (polled every 5 ms). Idle memory is read `settle-ms` after
 * that: VmRSS of the daemon and of every process under it, from /proc.
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeRuntime } from '../test/daemon-harness.ts';
import { median, startAndMeasure, type StartSample } from './proc-util.ts';

const other = process.argv[2];
if (!other) throw new Error('usage: bench/startup-versus.ts OTHER_ROOT [rounds] [settle-ms]');
const rounds = Number(process.argv[3] ?? 10);
const settleMs = Number(process.argv[4] ?? 3000);
const ROOT = new URL('..', import.meta.url).pathname;
const NODE = process.env.HOODY_BENCH_NODE || process.execPath;
const flags = (v: string | undefined): string[] => (v ?? '').split(' ').filter(Boolean);

const SIDES = {
  other: [...flags(process.env.HOODY_BENCH_OTHER_ARGS), join(other, 'bin/hoody.js')],
  this: [...flags(process.env.HOODY_BENCH_THIS_ARGS), join(process.env.HOODY_BENCH_THIS_ROOT || ROOT, 'bin/hoody.js')],
} as const;
type Side = keyof typeof SIDES;

type Sample = StartSample;
const samples: Record<Side, Sample[]> = { other: [], this: [] };

const keep: Record<Side, boolean> = { other: process.env.HOODY_BENCH_OTHER_KEEP === '1', this: process.env.HOODY_BENCH_THIS_KEEP === '1' };
const keptDirs: Partial<Record<Side, string>> = {};

async function once(side: Side): Promise<Sample> {
  const dataDir = keptDirs[side] ?? (await realpath(await mkdtemp(join(tmpdir(), 'hoody-bench-startup-'))));
  try {
    return await startAndMeasure({ node: NODE, args: [...SIDES[side]], cwd: ROOT, dataDir, settleMs, label: side });
  } finally {
    if (!keptDirs[side]) {
      await removeRuntime(dataDir);
      await rm(dataDir, { recursive: true, force: true });
    }
  }
}

for (const side of ['other', 'this'] as const) {
  if (!keep[side]) continue;
  keptDirs[side] = await realpath(await mkdtemp(join(tmpdir(), 'hoody-bench-startup-kept-')));
  await once(side);
}
for (let r = 0; r < rounds; r++) {
  const order: Side[] = r % 2 ? ['this', 'other'] : ['other', 'this'];
  for (const side of order) samples[side].push(await once(side));
  process.stderr.write('.');
}
process.stderr.write('\n');
for (const dir of Object.values(keptDirs)) {
  await removeRuntime(dir);
  await rm(dir, { recursive: true, force: true });
}

const row = (label: string, f: (s: Sample) => number, unit: string, digits = 0): string => {
  const o = median(samples.other.map(f));
  const t = median(samples.this.map(f));
  return `| ${label} | ${o.toFixed(digits)} ${unit} | ${t.toFixed(digits)} ${unit} | ${(t / o).toFixed(2)}x |`;
};
console.log(`daemon start-up and idle memory, ${rounds} starts each, interleaved; medians (settle ${settleMs} ms); node ${NODE}`);
console.log(`other: ${SIDES.other.join(' ')}${keep.other ? ' (restarts in one data folder)' : ''}\nthis:  ${SIDES.this.join(' ')}${keep.this ? ' (restarts in one data folder)' : ''}\n`);
console.log('| | other | this | this/other |');
console.log('|---|---|---|---|');
console.log(row('spawn to first 200 of GET /healthz', (s) => s.startMs, 'ms'));
console.log(row('idle RSS, daemon', (s) => s.daemonKb / 1024, 'MB', 1));
console.log(row('idle RSS, daemon + processes under it', (s) => (s.daemonKb + s.childrenKb) / 1024, 'MB', 1));
console.log(row('processes', (s) => s.processes, ''));
console.log(`\nstart-up ms, other: ${samples.other.map((s) => s.startMs.toFixed(0)).join(' ')}`);
console.log(`start-up ms, this:  ${samples.this.map((s) => s.startMs.toFixed(0)).join(' ')}`);
