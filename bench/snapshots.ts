/**
 * Snapshot capture and restore of real overlay upper dirs (as root), each case in its own
 * folder under the temp dir: 1 GiB written (1024 files of 1 MiB) in a container's upper dir;
 * 10 MiB written on top of a large image (a 2 GiB lower layer); a second snapshot after changing
 * one file; and the 1 GiB case captured while a writer process runs, frozen with SIGSTOP/SIGCONT
 * around the frozen pass (the daemon uses the cgroup freezer). Prints capture time (and frozen
 * time), restore time, extra disk (the store's allocated blocks, each inode once) and the
 * event loop's longest stall. Next to `podman commit` when podman is installed.
 *
 *   node --import tsx bench/snapshots.ts
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotStore } from '../src/snapshots/store.ts';
import { removeTree } from '../src/snapshots/remove-tree.ts';
import { mountOverlay, unmountOverlay } from '../src/runtime/overlay.ts';

const IDS = { uid: 2_500_200_000, gid: 2_500_200_000 };
const MiB = 1 << 20;
const ms = (n: number): string => `${n.toFixed(0)} ms`;
const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

async function fill(dir: string, files: number, size: number, prefix: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const buf = Buffer.alloc(size);
  for (let i = 0; i < files; i++) {
    buf.writeUInt32LE(i, 0); // distinct contents
    buf.write(prefix, 8);
    await writeFile(join(dir, `${prefix}-${i}`), buf);
  }
}

async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; stallMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t = performance.now();
  const value = await fn();
  const took = performance.now() - t;
  h.disable();
  return { value, ms: took, stallMs: h.max / 1e6 };
}

const root = await mkdtemp(join(tmpdir(), 'hoody-bench-snapshots-'));
const rows: string[][] = [['case', 'capture', 'walk / store / tree', 'frozen', 'restore', 'extra disk', 'files read', 'loop stall']];
try {
  const store = await SnapshotStore.open(join(root, 'store'));
  const merged = (c: string): string => join(root, c, 'merged');
  const dirs = (c: string) => ({ lower: join(root, c, 'lower'), upper: join(root, c, 'upper'), work: join(root, c, 'work'), merged: merged(c), owner: IDS });
  const mountCase = async (c: string): Promise<void> => {
    await mkdir(merged(c), { recursive: true });
    await mountOverlay(dirs(c));
  };
  execFileSync('sync');

  const row = async (name: string, c: string, id: string, opts: Parameters<SnapshotStore['capture']>[2] = {}, restore = true): Promise<void> => {
    const before = await store.diskBytes();
    const cap = await measure(() => store.capture(dirs(c).upper, id, opts));
    const extra = (await store.diskBytes()) - before;
    let restoreMs = '-';
    if (restore) {
      const r = await measure(() => store.restore(id, join(root, c, `restored-${id}`)));
      restoreMs = ms(r.ms);
      await rm(join(root, c, `restored-${id}`), { recursive: true });
    }
    const s = cap.value;
    rows.push([name, ms(cap.ms), `${ms(s.timings.prescanMs + s.timings.frozenMs)} / ${ms(s.timings.storeMs)} / ${ms(s.timings.treeMs)}`, opts.freeze ? `${ms(s.timings.frozenMs)} (first pass ${ms(s.timings.prescanMs)})` : '(stopped)', restoreMs, mb(extra), `${s.readFiles} (${mb(s.readBytes)})`, `${cap.stallMs.toFixed(0)} ms`]);
  };

  // 1 GiB written in the upper dir, on a small image
  await mkdir(join(root, 'big', 'lower'), { recursive: true });
  await mountCase('big');
  await fill(join(merged('big'), 'data'), 1024, MiB, 'big');
  await unmountOverlay(merged('big'));
  execFileSync('sync');
  await new Promise((r) => setTimeout(r, 200));
  await row('1 GiB written (1024 x 1 MiB), stopped', 'big', 'big-1');

  // a second snapshot after changing one file
  await mountCase('big');
  const fh = await open(join(merged('big'), 'data', 'big-7'), 'r+');
  await fh.write(Buffer.from('changed'), 0, 7, 100);
  await fh.close();
  await unmountOverlay(merged('big'));
  await new Promise((r) => setTimeout(r, 200));
  await row('  then 1 file changed, stopped', 'big', 'big-2', { previous: 'big-1' });

  // the same container running: a writer appends to a log, frozen around the frozen pass
  await mountCase('big');
  const writer = spawn('sh', ['-c', `while :; do echo line >> "${merged('big')}/log"; done`], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const freeze = { freeze: async () => void writer.kill('SIGSTOP'), thaw: async () => void writer.kill('SIGCONT') };
  await row('  running, 1st snapshot (no previous)', 'big', 'big-live-1', { freeze }, false);
  await row('  running, next snapshot (previous)', 'big', 'big-live-2', { freeze, previous: 'big-live-1' }, false);
  writer.kill('SIGKILL');
  await new Promise((r) => writer.once('close', r));
  await unmountOverlay(merged('big'));

  // 10 MiB written on top of a large image (2 GiB lower layer)
  await fill(join(root, 'small', 'lower', 'usr', 'lib'), 2048, MiB, 'image');
  await mountCase('small');
  await fill(join(merged('small'), 'app'), 100, 100 * 1024, 'app');
  await unmountOverlay(merged('small'));
  execFileSync('sync');
  await new Promise((r) => setTimeout(r, 200));
  await row('10 MiB written on a 2 GiB image, stopped', 'small', 'small-1');

  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`);
  const podman = (() => {
    try {
      return execFileSync('which', ['podman']).toString().trim();
    } catch {
      return undefined;
    }
  })();
  console.log(podman ? `podman: ${podman} (comparison not run by this version of the bench)` : 'podman: not installed here, no `podman commit` comparison');
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  for (const c of ['big', 'small']) await unmountOverlay(join(root, c, 'merged')).catch(() => undefined);
  await removeTree(root);
}
