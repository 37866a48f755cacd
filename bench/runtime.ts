/**
 * Per-operation latency of the runc driver next to raw `runc` CLI calls, in the same run, on the
 * same bundle. Run as root: `npm run bench:runtime -- [rounds]`.
 *
 * driver start = conmon + `runc create`, then what `runc start` does, through the exec fifo (what
 *                Hoody does to run a container); pause, resume and kill write the cgroup freezer
 *                and call kill(2) the way runc does, without spawning it;
 * raw start    = `runc create` + `runc start` with no monitor (no exit code, no logs kept).
 *
 * Each round uses one bundle for both, one after the other; which goes first alternates.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';

const rounds = Number(process.argv[2] ?? 15);
const OPS = ['start', 'pause', 'resume', 'kill'] as const;
type Op = (typeof OPS)[number];

const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-'));
const prefix = `hoody-bench-${process.pid}`;
const driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images: new ImageStore(join(dir, 'images')), cgroupPrefix: prefix });
const rawRoot = join(dir, 'raw-runc');
await mkdir(rawRoot);

const timings: Record<'driver' | 'raw', Record<Op, number[]>> = {
  driver: { start: [], pause: [], resume: [], kill: [] },
  raw: { start: [], pause: [], resume: [], kill: [] },
};

async function timed(list: number[], fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  list.push(performance.now() - t0);
}

/** Runs runc with no pipes attached, as a shell would for a detached container. */
function runc(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/runc', ['--root', rawRoot, ...args], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc ${args.join(' ')} exited ${code}`))));
  });
}

/** The driver's run of one container: start, pause, resume, kill, then wait for its end. */
async function driverRound(id: string): Promise<void> {
  const t = timings.driver;
  await timed(t.start, () => driver.start(id));
  await timed(t.pause, () => driver.pause(id));
  await timed(t.resume, () => driver.resume(id));
  await timed(t.kill, () => driver.kill(id, 'SIGKILL'));
  await driver.waitExit(id, 5000);
}

/** The same bundle (config, overlay, cgroup path) driven by the runc CLI alone. */
async function rawRound(id: string): Promise<void> {
  const bundle = join(dir, 'runtime', 'containers', id);
  const r = timings.raw;
  const rawId = `raw-${id}`;
  await timed(r.start, async () => {
    await runc(['create', '--bundle', bundle, '--pid-file', join(bundle, 'raw.pid'), rawId]);
    await runc(['start', rawId]);
  });
  await timed(r.pause, () => runc(['pause', rawId]));
  await timed(r.resume, () => runc(['resume', rawId]));
  await timed(r.kill, () => runc(['kill', rawId, 'KILL']));
  for (let tries = 0; tries < 100; tries++) {
    try {
      await runc(['delete', rawId]);
      break;
    } catch {
      await new Promise((res) => setTimeout(res, 10));
    }
  }
}

try {
  for (let i = 0; i < rounds; i++) {
    const id = `bench${i.toString().padStart(4, '0')}`;
    await driver.create({ id, image: 'busybox', command: ['sleep', '600'], env: {}, hostname: id });
    // whoever goes second finds the cgroup and the page cache warm: take turns going first
    if (i % 2 === 0) {
      await driverRound(id);
      await rawRound(id);
    } else {
      await rawRound(id);
      await driverRound(id);
    }
    await driver.delete(id);
  }
} finally {
  for (const s of await driver.list()) await driver.delete(s.id).catch(() => undefined);
  await driver.close();
  await driver.removeCgroupPrefix();
  await rm(dir, { recursive: true, force: true });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

console.log(`runc driver vs raw runc CLI, ${rounds} rounds, median ms (same process, same bundle)`);
console.log('op       driver    raw runc   overhead');
for (const op of OPS) {
  const d = median(timings.driver[op]);
  const r = median(timings.raw[op]);
  console.log(`${op.padEnd(8)} ${d.toFixed(1).padStart(6)}   ${r.toFixed(1).padStart(8)}   ${(((d - r) / r) * 100).toFixed(0).padStart(6)}%`);
}
