/**
 * Daemon start-up and idle memory, run from the TypeScript sources through tsx (`node --import tsx
 * src/cli/main.ts serve`, what bin/hoody.js did before the build) next to the built package
 * (`node bin/hoody.js serve` on dist/), in the same run, interleaved round by round (the order
 * alternates). Run as root after `npm run build`: `npm run bench:startup-sources -- [rounds] [settle-ms]`
 * (default 10 rounds, 3000 ms).
 *
 * Each start gets an empty data folder (SQLite) and a free port. Start-up is the time from spawn to
 * the first 200 answer of GET /healthz (polled every 5 ms). Idle memory is read `settle-ms` after
 * that: VmRSS of the daemon and of every process under it (the event fan-out child, and under tsx
 * its esbuild service), from /proc.
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeRuntime } from '../test/daemon-harness.ts';
import { median, startAndMeasure, type StartSample } from './proc-util.ts';

const rounds = Number(process.argv[2] ?? 10);
const settleMs = Number(process.argv[3] ?? 3000);
const ROOT = new URL('..', import.meta.url).pathname;

const SIDES = {
  tsx: ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')],
  dist: [join(ROOT, 'bin/hoody.js')],
} as const;
type Side = keyof typeof SIDES;

type Sample = StartSample;
const samples: Record<Side, Sample[]> = { tsx: [], dist: [] };

async function once(side: Side): Promise<Sample> {
  const dataDir = await realpath(await mkdtemp(join(tmpdir(), 'hoody-bench-startup-')));
  try {
    return await startAndMeasure({ node: process.execPath, args: [...SIDES[side]], cwd: ROOT, dataDir, settleMs, label: side });
  } finally {
    await removeRuntime(dataDir);
    await rm(dataDir, { recursive: true, force: true });
  }
}

for (let r = 0; r < rounds; r++) {
  const order: Side[] = r % 2 ? ['dist', 'tsx'] : ['tsx', 'dist'];
  for (const side of order) samples[side].push(await once(side));
  process.stderr.write('.');
}
process.stderr.write('\n');

const row = (label: string, f: (s: Sample) => number, unit: string, digits = 0): string => {
  const t = median(samples.tsx.map(f));
  const d = median(samples.dist.map(f));
  return `| ${label} | ${t.toFixed(digits)} ${unit} | ${d.toFixed(digits)} ${unit} | ${(d / t).toFixed(2)}x |`;
};
console.log(`daemon start-up and idle memory, ${rounds} starts each, interleaved; medians (settle ${settleMs} ms)\n`);
console.log('| | tsx sources | built dist | dist/tsx |');
console.log('|---|---|---|---|');
console.log(row('spawn to first 200 of GET /healthz', (s) => s.startMs, 'ms'));
console.log(row('idle RSS, daemon', (s) => s.daemonKb / 1024, 'MB', 1));
console.log(row('idle RSS, processes under it', (s) => s.childrenKb / 1024, 'MB', 1));
console.log(row('idle RSS, daemon + processes under it', (s) => (s.daemonKb + s.childrenKb) / 1024, 'MB', 1));
console.log(row('processes', (s) => s.processes, ''));
console.log(`\nstart-up ms, tsx:  ${samples.tsx.map((s) => s.startMs.toFixed(0)).join(' ')}`);
console.log(`start-up ms, dist: ${samples.dist.map((s) => s.startMs.toFixed(0)).join(' ')}`);
