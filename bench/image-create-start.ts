/**
 * Create + start of a container from a stored multi-layer image next to one from the built-in
 * busybox, through the runc driver, rounds interleaved (the target: within 10 ms of busybox).
 * Run as root:
 *
 *   tsx bench/image-create-start.ts [rounds] [layers]
 *
 * The layered image: a busybox base layer plus `layers - 1` small layers, unpacked into the
 * content store once before the rounds (a cached image: no pull is timed).
 */
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { DEFAULT_ID_RANGE } from '../src/runtime/id-range.ts';
import { LayerContentStore } from '../src/images/store.ts';
import { median } from './proc-util.ts';

const rounds = Number(process.argv[2] ?? 20);
const layerCount = Number(process.argv[3] ?? 8);
const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-ics-'));
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function layer(name: string, fill: (root: string) => Promise<void>): Promise<{ path: string; diffId: string }> {
  const root = join(dir, `${name}-tree`);
  await mkdir(root, { recursive: true });
  await fill(root);
  const path = join(dir, `${name}.tar`);
  execFileSync('tar', ['--numeric-owner', '-C', root, '-cf', path, '.']);
  return { path, diffId: sha256(await readFile(path)) };
}

const layers = [
  await layer('base', async (root) => {
    for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(root, d), { recursive: true });
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    for (const applet of ['sh', 'sleep']) await symlink('busybox', join(root, 'bin', applet));
    await chmod(join(root, 'tmp'), 0o1777);
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  }),
];
for (let i = 1; i < layerCount; i++) layers.push(await layer(`l${i}`, async (root) => writeFile(join(root, `layer-${i}.txt`), `layer ${i}\n`)));

const content = new LayerContentStore({ root: join(dir, 'images'), ids: DEFAULT_ID_RANGE });
const images = new ImageStore(join(dir, 'images'), DEFAULT_ID_RANGE, { content });
for (const l of layers) await content.applyLayer(l.path, l.diffId);
const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sleep', '600'], Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
const layered = await content.commitImage({ configBytes, names: ['bench.local/layered:1'], source: 'bench' });
await images.require('busybox');
const driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images, cgroupPrefix: `hoody-bench-ics-${process.pid}` });

const times: Record<string, number[]> = { busybox: [], layered: [] };
async function round(kind: 'busybox' | 'layered', id: string): Promise<void> {
  const spec = kind === 'busybox' ? { id, image: 'busybox', command: ['sleep', '600'], env: {}, hostname: id } : { id, image: 'bench.local/layered:1', imageId: layered.id, command: null, env: {}, hostname: id };
  const t0 = performance.now();
  await driver.create(spec);
  await driver.start(id);
  times[kind]?.push(performance.now() - t0);
  await driver.kill(id, 'SIGKILL');
  await driver.waitExit(id, 10_000);
  await driver.delete(id);
}

try {
  for (let i = 0; i < rounds; i++) {
    // whoever goes second finds the page cache warm: take turns going first
    const order: ('busybox' | 'layered')[] = i % 2 === 0 ? ['busybox', 'layered'] : ['layered', 'busybox'];
    for (const kind of order) await round(kind, `ics${kind[0]}${i.toString().padStart(4, '0')}`);
  }
} finally {
  for (const s of await driver.list()) await driver.delete(s.id).catch(() => undefined);
  await driver.close();
  await driver.removeCgroupPrefix();
  await rm(dir, { recursive: true, force: true });
}

console.log(`create + start through the runc driver, ${rounds} rounds interleaved, median ms (min-max)`);
for (const [kind, xs] of Object.entries(times)) console.log(`${kind.padEnd(10)} ${median(xs).toFixed(1).padStart(7)}  (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`);
console.log(`layered image: ${layerCount} layers; difference of medians ${(median(times.layered ?? []) - median(times.busybox ?? [])).toFixed(1)} ms`);
