/**
 * Pull + unpack of a ~400 MB, 4-layer image from one local registry, three ways in one run,
 * interleaved round by round (the order rotates): Hoody's puller into a fresh content store;
 * `skopeo copy docker://… oci:` + `umoci raw unpack` (what Incus does); `podman pull` into a
 * fresh `--root`; and `skopeo copy` + Hoody's content store fed from that layout (its unpack
 * alone, next to umoci's). Run as root: `npm run bench:images-pull -- [rounds=3]`.
 *
 * The image (a busybox base plus 4 layers of random and compressible files) is built once and
 * kept in /var/tmp/hoody-bench-images (HOODY_BENCH_IMAGES_DIR), so later runs start at once.
 * Wall time and the CPU (user + sys) of this process and every child it waited for (from
 * /proc/self/stat; this process's own share apart) are printed per round and as medians, with
 * the load average. SIDES=hoody,podman runs only those sides.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { LayerContentStore } from '../src/images/store.ts';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFixtureLayout, layoutConfig, run } from '../test/image-fixtures.ts';
import { pushImage } from '../test/fixture-push.ts';
import { startRegistry } from '../test/registry-harness.ts';
import { imageKit } from '../test/image-subsystem.ts';
import { median } from './proc-util.ts';

const rounds = Number(process.argv[2] ?? 3);
const CACHE = process.env.HOODY_BENCH_IMAGES_DIR || '/var/tmp/hoody-bench-images';
const LAYERS = 4;
const IDS = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };

/** Builds `big` (once): per layer ~100 MB in 2,700 files, a third random, the rest compressible text. */
async function buildBig(): Promise<string> {
  const layout = join(CACHE, 'fixtures', 'oci');
  if (existsSync(join(layout, 'index.json')) && (await readFile(join(layout, 'index.json'), 'utf8')).includes('"big"')) return layout;
  await rm(CACHE, { recursive: true, force: true });
  await mkdir(CACHE, { recursive: true });
  const started = performance.now();
  await buildFixtureLayout(join(CACHE, 'fixtures'));
  let from = 'base';
  let tarBytes = 0;
  const hex = randomBytes(1 << 20).toString('hex');
  const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango'.split(' ');
  for (let l = 0; l < LAYERS; l++) {
    const stage = join(CACHE, `stage-${l}`);
    for (let d = 0; d < 45; d++) {
      const dir = join(stage, `data/layer${l}/d${d}`);
      await mkdir(dir, { recursive: true });
      for (let f = 0; f < 60; f++) {
        // one file in three random (incompressible), the others text that gzip shrinks about 4x
        if (f % 3 === 0) await writeFile(join(dir, `r${f}.bin`), randomBytes(28_000 + ((f * 997) % 8000)));
        else {
          const lines: string[] = [];
          for (let i = 0; i < 1600; i++) {
            const at = (i * 7919 + f * 104_729 + d * 1_299_709 + l * 15_485_863) % (hex.length - 6);
            lines.push(`${words[(i * 7 + f + d) % words.length]} ${hex.slice(at, at + 6)} ${words[(i + l) % words.length]} ${i}`);
          }
          await writeFile(join(dir, `t${f}.txt`), lines.join('\n'));
        }
      }
    }
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', stage, '-cf', `${stage}.tar`, 'data']);
    const tag = l === LAYERS - 1 ? 'big' : `big-${l}`;
    tarBytes += (await stat(`${stage}.tar`)).size;
    await run('umoci', ['raw', 'add-layer', '--image', `${layout}:${from}`, '--tag', tag, `${stage}.tar`]);
    await rm(stage, { recursive: true, force: true });
    await rm(`${stage}.tar`, { force: true });
    from = tag;
  }
  await writeFile(join(CACHE, 'big.json'), JSON.stringify({ tarBytes, files: LAYERS * 45 * 60 }));
  console.log(`built the image in ${((performance.now() - started) / 1000).toFixed(1)} s under ${CACHE}`);
  return layout;
}

/** CPU seconds (user + sys) of this process (`own`) and of its waited-for children so far. */
async function cpuSeconds(): Promise<{ own: number; children: number }> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14-17 (utime, stime, cutime, cstime) are 11-14 after the command name and state
  return { own: (Number(f[11]) + Number(f[12])) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
}

type Side = 'hoody' | 'skopeo+store' | 'skopeo+umoci' | 'podman';
const samples: Record<Side, { wall: number; cpu: number; own: number }[]> = { hoody: [], 'skopeo+store': [], 'skopeo+umoci': [], podman: [] };

/** Feeds Hoody's store from an OCI layout as a pull would (blob copied in, verified, unpacked; layers in parallel). */
async function ingestLayout(store: LayerContentStore, layout: string, tag: string): Promise<void> {
  const { manifest, manifestDigest } = await layoutConfig(layout, tag);
  const blob = (d: string): string => join(layout, 'blobs/sha256', d.slice('sha256:'.length));
  const configBytes = await readFile(blob(manifest.config.digest));
  await store.putBlob(manifest.config.digest, configBytes);
  const diffIds = (JSON.parse(configBytes.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
  await Promise.all(
    (manifest.layers as { digest: string; size: number }[]).map(async (l, i) => {
      const temp = store.blobTempPath(l.digest);
      await copyFile(blob(l.digest), temp);
      await store.applyLayer(await store.commitBlob(temp, l.digest, l.size), diffIds[i]!);
    }),
  );
  await store.commitImage({ configBytes, manifestDigest, names: ['bench/big:1.0'], source: 'bench' });
}

async function once(side: Side, reference: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-pull-'));
  const cpu0 = await cpuSeconds();
  const t0 = performance.now();
  try {
    if (side === 'hoody') {
      const kit = imageKit(join(dir, 'images'), IDS);
      await kit.puller.pull(reference);
    } else if (side === 'skopeo+store') {
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reference}`, `oci:${join(dir, 'oci')}:t`]);
      await ingestLayout(new LayerContentStore({ root: join(dir, 'images'), ids: IDS }), join(dir, 'oci'), 't');
    } else if (side === 'skopeo+umoci') {
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reference}`, `oci:${join(dir, 'oci')}:t`]);
      await run('umoci', ['raw', 'unpack', '--image', `${join(dir, 'oci')}:t`, join(dir, 'rootfs')]);
    } else {
      await run('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay', 'pull', '--quiet', '--tls-verify=false', reference]);
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = await cpuSeconds();
    const own = cpu1.own - cpu0.own;
    samples[side].push({ wall, cpu: own + cpu1.children - cpu0.children, own });
    console.log(`${side.padEnd(14)} wall ${wall.toFixed(2)} s  cpu ${samples[side].at(-1)!.cpu.toFixed(2)} s (this process ${own.toFixed(2)})  load ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    if (side === 'podman') await run('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay', 'rmi', '--all', '--force']).catch(() => undefined);
    await run('umount', ['-R', join(dir, 'root', 'overlay')]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

const layout = await buildBig();
const { manifest } = await layoutConfig(layout, 'big');
const gz = (manifest.layers as { size: number }[]).reduce((a, l) => a + l.size, 0);
const reg = await startRegistry();
try {
  const pushed = await pushImage(reg, layout, 'big', 'bench/big', { destTag: '1.0' });
  const big = JSON.parse(await readFile(join(CACHE, 'big.json'), 'utf8')) as { tarBytes: number; files: number };
  console.log(`image ${pushed.reference}: ${manifest.layers.length} layers, ${(gz / 1e6).toFixed(0)} MB compressed, ${(big.tarBytes / 1e6).toFixed(0)} MB of layer tars (${big.files} files) on a 2 MB busybox base; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // SIDES=hoody,podman runs some of them only
  const sides = (process.env.SIDES?.split(',') ?? ['hoody', 'skopeo+store', 'skopeo+umoci', 'podman']) as Side[];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sides.length; i++) await once(sides[(i + r) % sides.length]!, pushed.reference);
  }
  console.log('\nmedians');
  for (const side of sides) {
    const s = samples[side];
    console.log(`${side.padEnd(14)} wall ${median(s.map((x) => x.wall)).toFixed(2)} s  cpu ${median(s.map((x) => x.cpu)).toFixed(2)} s (this process ${median(s.map((x) => x.own)).toFixed(2)})  (${s.length} runs)`);
  }
  console.log(`load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  await reg.stop();
}
