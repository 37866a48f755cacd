/**
 * One layer unpacked two ways, in the same run, on the same blob: GNU tar as root of a user
 * namespace mapped to the id range (what the store does: owners land in the range, file
 * capabilities are kept), and GNU tar as host root followed by shiftTree into the range (the
 * older way: capabilities are lost on chown). Run as root:
 * `tsx bench/images-layer-apply.ts <layer.tar[.gz|.zst]> [rounds]`.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { applyLayerTar, sniffCompression } from '../src/images/layer-apply.ts';
import { shiftTree } from '../src/runtime/id-shift.ts';

const blob = process.argv[2];
if (!blob) throw new Error('usage: bench/images-layer-apply.ts <layer blob> [rounds]');
const rounds = Number(process.argv[3] ?? 3);
const ids = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };
const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-layer-'));

/** Host-root tar with the same flags, fed by zlib as the store does, then every owner shifted. */
async function hostTarThenShift(dest: string): Promise<void> {
  const head = Buffer.alloc(4);
  const fh = await import('node:fs/promises').then((fs) => fs.open(blob as string));
  await fh.read(head, 0, 4, 0);
  await fh.close();
  const tar = spawn('tar', ['-x', '-p', '--same-owner', '--numeric-owner', '--xattrs', '--xattrs-include=*', '-f', '-', '-C', dest], { stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise<number | null>((resolve) => tar.on('close', resolve));
  const src = createReadStream(blob as string);
  (sniffCompression(head) === 'gzip' ? src.pipe(createGunzip()) : src).pipe(tar.stdin);
  if ((await done) !== 0) throw new Error('host tar failed');
  await shiftTree(dest, undefined, ids);
}

const timings: Record<string, number[]> = { 'userns tar': [], 'host tar + shiftTree': [] };
for (let i = 0; i < rounds; i++) {
  // alternate which goes first, so the page cache favours neither
  const order = i % 2 === 0 ? (['userns tar', 'host tar + shiftTree'] as const) : (['host tar + shiftTree', 'userns tar'] as const);
  for (const way of order) {
    const dest = join(dir, `${way.replace(/\W+/g, '-')}-${i}`);
    const t0 = performance.now();
    if (way === 'userns tar') await applyLayerTar(blob, dest, ids);
    else {
      await import('node:fs/promises').then((fs) => fs.mkdir(dest));
      await hostTarThenShift(dest);
    }
    timings[way]?.push(performance.now() - t0);
    await rm(dest, { recursive: true, force: true });
  }
}
await rm(dir, { recursive: true, force: true });
for (const [way, ms] of Object.entries(timings)) {
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(`${way.padEnd(22)} median ${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(2)} s  runs ${sorted.map((m) => (m / 1000).toFixed(2)).join(' ')}`);
}
