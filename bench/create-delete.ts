/**
 * Where the runc driver's create and delete spend their time, with timing spans around its steps,
 * for the built driver of this tree next to those of other trees (older commits, built), in the
 * same process, rounds interleaved. Run as root:
 *
 *   npm run build && tsx bench/create-delete.ts [rounds] [other-tree…]
 *
 * Each round and tree: create (timed), start (timed), KILL, wait for the exit, SETTLE_MS (env,
 * default 0: a delete right after the exit), delete (timed). The spans
 * wrap the driver's own steps (mountRootfs, writeBundle, waitForConmon, unmountRootfs,
 * forgetFinished, removeCgroup); the event loop's longest stall during create and delete is printed too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const rounds = Number(process.argv[2] ?? 15);
const trees = [resolve('.'), ...process.argv.slice(3).map((t) => resolve(t))];
/** How long a stopped container waits before its delete, as one stopped a while ago would. */
const settleMs = Number(process.env.SETTLE_MS ?? 0);
const SPANS = ['mountRootfs', 'writeBundle', 'waitForConmon', 'unmountRootfs', 'forgetFinished', 'removeCgroup'] as const;

interface Side {
  tree: string;
  driver: {
    create(spec: unknown): Promise<void>;
    start(id: string): Promise<unknown>;
    kill(id: string, sig: string): Promise<void>;
    waitExit(id: string, ms: number): Promise<unknown>;
    delete(id: string): Promise<void>;
    list(): Promise<{ id: string }[]>;
    close(): Promise<void>;
    removeCgroupPrefix(): Promise<void>;
  };
  dir: string;
  times: Record<string, number[]>;
}

/** The timed call under way: a span is counted under it too (`start.mountRootfs`), else under `other` (background work). */
let current = 'other';
const dirs: string[] = [];
const sides: Side[] = [];
for (const [i, tree] of trees.entries()) {
  const { RuncDriver } = await import(join(tree, 'dist/runtime/runc/runc-driver.js'));
  const { ImageStore } = await import(join(tree, 'dist/runtime/image-store.js'));
  const times: Record<string, number[]> = { create: [], start: [], delete: [], createStall: [], startStall: [], deleteStall: [] };
  // each tree's class is its own: wrapping its prototype's steps times that tree only
  for (const name of SPANS) {
    const proto = RuncDriver.prototype as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const orig = proto[name];
    if (!orig) continue;
    times[name] = [];
    proto[name] = async function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      const op = current;
      try {
        return await orig.apply(this, args);
      } finally {
        const ms = performance.now() - t0;
        times[name]?.push(ms);
        (times[`${op}.${name}`] ??= []).push(ms);
      }
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-cd-'));
  dirs.push(dir);
  const images = new ImageStore(join(dir, 'images'));
  await images.require('busybox');
  const driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images, cgroupPrefix: `hoody-bench-cd-${process.pid}-${i}` });
  sides.push({ tree, driver, dir, times });
}

async function timed(side: Side, name: string, fn: () => Promise<unknown>): Promise<void> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  current = name;
  await fn().finally(() => (current = 'other'));
  side.times[name]?.push(performance.now() - t0);
  h.disable();
  side.times[`${name}Stall`]?.push(h.max / 1e6);
}

async function round(side: Side, id: string): Promise<void> {
  await timed(side, 'create', () => side.driver.create({ id, image: 'busybox', command: ['sleep', '600'], env: {}, hostname: id }));
  await timed(side, 'start', () => side.driver.start(id));
  await side.driver.kill(id, 'SIGKILL');
  await side.driver.waitExit(id, 10_000);
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  await timed(side, 'delete', () => side.driver.delete(id));
}

try {
  for (let i = 0; i < rounds; i++) {
    // whoever goes second finds the page cache warm: take turns going first
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) await round(side, `cd${i.toString().padStart(4, '0')}`);
  }
} finally {
  for (const side of sides) {
    for (const s of await side.driver.list()) await side.driver.delete(s.id).catch(() => undefined);
    await side.driver.close();
    await side.driver.removeCgroupPrefix();
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}

const median = (xs: number[] | undefined): string => {
  if (!xs?.length) return '-';
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return (s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2).toFixed(2);
};

console.log(`runc driver create, start and delete (${settleMs} ms after the exit), ${rounds} rounds, median ms (stall: the event loop's longest delay during the call)`);
console.log(['step'.padEnd(28), ...sides.map((s) => s.tree.padStart(24))].join(' '));
for (const key of ['create', 'create.mountRootfs', 'create.writeBundle', 'createStall', 'start', 'start.mountRootfs', 'startStall', 'delete', 'delete.waitForConmon', 'delete.unmountRootfs', 'delete.forgetFinished', 'delete.removeCgroup', 'deleteStall', 'other.unmountRootfs']) {
  console.log([key.padEnd(28), ...sides.map((s) => median(s.times[key]).padStart(24))].join(' '));
}
