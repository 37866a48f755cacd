/**
 * Throughput of reading one container: Hoody's `GET /api/v1/containers/{id}` next to podman's
 * `GET /containers/{id}/json`, in the same run, with autocannon from the same machine. Run as root:
 * `npm run bench:api-get -- [rounds] [seconds]` (default 3 rounds of 10 s per side and connection count).
 *
 * Each side has one running busybox container (`sleep 600`). Every round measures 10 and then 50
 * connections on both sides, the side that goes first alternating per round; autocannon runs as a
 * process of its own (its CLI, JSON out), each answer must be a 200. Both answers say what runs:
 * Hoody's reads the runtime's state of the container on every request (`observed_status`), as
 * podman's inspect reads its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';
import { PODMAN_IMAGE, podman, podmanCgroup, podmanFolder, startPodman, stopPodman } from './podman-service.ts';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 10);
const CONNECTIONS = [10, 50] as const;
const AUTOCANNON = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));
type Side = 'hoody' | 'podman';

interface Run {
  reqPerSec: number;
  p50: number;
  p99: number;
}

/** One autocannon run; fails on any error or answer other than 2xx. */
function autocannon(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '--json', '-d', String(seconds), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      const r = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number; timeouts: number };
      if (r.errors || r.non2xx || r.timeouts) return reject(new Error(`autocannon saw ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts: ${args.join(' ')}`));
      resolve({ reqPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
    });
  });
}

let daemon: DaemonHandle | undefined;
const results: Record<Side, Record<number, Run[]>> = { hoody: { 10: [], 50: [] }, podman: { 10: [], 50: [] } };

try {
  daemon = await startTestDaemon();
  await startPodman();
  const created = await fetch(`${daemon.api}/containers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${daemon.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'get-bench', container_image: 'busybox', command: ['sleep', '600'] }),
  });
  const hoodyId = ((await created.json()) as { data: { id: string; status: string } }).data.id;
  const podmanId = (
    JSON.parse(
      (
        await podman('POST', '/containers/create?name=get-bench', {
          Image: PODMAN_IMAGE,
          Cmd: ['sleep', '600'],
          HostConfig: { NetworkMode: 'none', Init: true, CgroupParent: podmanCgroup() },
        })
      ).text,
    ) as { Id: string }
  ).Id;
  await podman('POST', `/containers/${podmanId}/start`);
  const sides: Record<Side, (c: number, d?: number) => Promise<Run>> = {
    hoody: (c) => autocannon(['-c', String(c), '-H', `authorization=Bearer ${daemon?.adminToken}`, `${daemon?.api}/containers/${hoodyId}`]),
    podman: (c) => autocannon(['-c', String(c), '-S', `${podmanFolder()}/api.sock`, `http://localhost/v1.41/containers/${podmanId}/json`]),
  };
  // warm-up: JIT, caches, connections
  for (const side of ['hoody', 'podman'] as const) await sides[side](10);
  for (let round = 0; round < rounds; round++) {
    for (const c of CONNECTIONS) {
      const order: Side[] = round % 2 ? ['podman', 'hoody'] : ['hoody', 'podman'];
      for (const side of order) {
        const r = await sides[side](c);
        results[side][c]?.push(r);
        console.log(`round ${round + 1}, ${c} connections, ${side}: ${r.reqPerSec.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
      }
    }
  }
  await podman('DELETE', `/containers/${podmanId}?force=true`);
} finally {
  await stopPodman().catch((err: unknown) => console.error(`podman teardown: ${String(err)}`));
  await daemon?.cleanup();
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
console.log(`\nGET one container, ${rounds} rounds of ${seconds} s per side and connection count, median of the rounds\n`);
console.log('| connections | Hoody req/s | Hoody p99 ms | podman req/s | podman p99 ms | Hoody / podman (req/s) |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const c of CONNECTIONS) {
  const h = results.hoody[c] ?? [];
  const p = results.podman[c] ?? [];
  const hr = median(h.map((r) => r.reqPerSec));
  const pr = median(p.map((r) => r.reqPerSec));
  console.log(`| ${c} | ${hr.toFixed(0)} | ${median(h.map((r) => r.p99))} | ${pr.toFixed(0)} | ${median(p.map((r) => r.p99))} | ${(hr / pr).toFixed(2)}× |`);
}
