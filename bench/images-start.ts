/**
 * Create + start of a container from a pulled multi-layer image next to the built-in busybox,
 * through the daemon's API, rounds interleaved (the order alternates). The image (`edge`: a
 * busybox base plus two layers, 3 lower dirs) is pulled once from a local registry before the
 * rounds, so only create and start are timed. Run as root after `npm run build`:
 *
 *   npm run bench:images-start -- [rounds=15]
 *
 * Each round and side: POST /containers (autostart false, `sleep 600`), then POST .../start,
 * each timed from the client; then a force-stop and a delete, not timed.
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { buildFixtureLayout } from '../test/image-fixtures.ts';
import { pushImage } from '../test/fixture-push.ts';
import { startRegistry } from '../test/registry-harness.ts';
import { apiClient, startTestDaemon } from '../test/daemon-harness.ts';
import { mountScratch } from '../test/mount-scratch.ts';
import { median } from './proc-util.ts';

const rounds = Number(process.argv[2] ?? 15);
const scratch = await mountScratch('hoody-bench-images-start-');
const reg = await startRegistry();
const d = await startTestDaemon();
try {
  const fx = await buildFixtureLayout(join(scratch.dir, 'fixtures'));
  const image = await pushImage(reg, fx.layout, 'edge', 'bench/edge', { destTag: '1.0' });
  const call = apiClient(d.api, d.adminToken);
  const pulled = await call('POST', '/images/pull', { reference: image.reference });
  if (pulled.status !== 200) throw new Error(`pull of "${image.reference}" answered ${pulled.status}: ${JSON.stringify(pulled.body)}`);
  const sides = { busybox: 'busybox', edge: image.reference } as const;
  type Side = keyof typeof sides;
  const times: Record<Side, { create: number[]; start: number[] }> = { busybox: { create: [], start: [] }, edge: { create: [], start: [] } };
  const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const v = await f();
    return [v, performance.now() - t0];
  };
  // one of each first, not counted: the first start of an image mounts its layers cold
  for (let r = -1; r < rounds; r++) {
    const order: Side[] = r % 2 ? ['edge', 'busybox'] : ['busybox', 'edge'];
    for (const side of order) {
      const [created, createMs] = await timed(() => call('POST', '/containers', { name: `bench-${side}-${r + 1}`, container_image: sides[side], command: ['sleep', '600'], autostart: false }));
      if (created.status !== 201 && created.status !== 200) throw new Error(`create of ${side} answered ${created.status}: ${JSON.stringify(created.body)}`);
      const id = created.body.data.id as string;
      const [started, startMs] = await timed(() => call('POST', `/containers/${id}/start`));
      if (started.status !== 200) throw new Error(`start of ${side} answered ${started.status}: ${JSON.stringify(started.body)}`);
      if (r >= 0) {
        times[side].create.push(createMs);
        times[side].start.push(startMs);
      }
      await call('POST', `/containers/${id}/force-stop`);
      await call('DELETE', `/containers/${id}`);
    }
  }
  console.log(`${rounds} rounds, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const side of Object.keys(sides) as Side[]) {
    const t = times[side];
    console.log(`${side.padEnd(8)} create ${median(t.create).toFixed(1)} ms  start ${median(t.start).toFixed(1)} ms  create+start ${median(t.create.map((c, i) => c + t.start[i]!)).toFixed(1)} ms (medians)`);
  }
} finally {
  await d.cleanup();
  await reg.stop();
  await scratch.cleanup();
}
