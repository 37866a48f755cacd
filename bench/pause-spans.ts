/**
 * Pause and resume, one after the other on one running busybox container, against one or more
 * built trees of Hoody, interleaved block by block. Run as root:
 *
 *   npx tsx bench/pause-spans.ts [pairs] [ROOT...]     # default 200 pairs, this tree
 *
 * Each ROOT is a checkout with `dist/` built; its daemon is started through that checkout's own
 * test/daemon-harness.ts (own data folder, SQLite). The bench prints the client-side medians
 * (request to the end of the answer, node:http with keep-alive). When a daemon was built with a
 * patch that stamps `performance.now()` per phase and appends one JSON line per request to
 * `HOODY_SPANS_FILE` (`{"spans": [[name, ms], …]}`), it also prints the median of each phase: the
 * time from the previous stamp to the named one.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { httpCall } from './podman-service.ts';

const pairs = Number(process.argv[2] ?? 200);
const roots = process.argv.length > 3 ? process.argv.slice(3).map((r) => resolve(r)) : [resolve(new URL('..', import.meta.url).pathname)];
const BLOCKS = 4;

interface Daemon {
  api: string;
  adminToken: string;
  cleanup(): Promise<void>;
}

interface Side {
  root: string;
  daemon: Daemon;
  spansFile: string;
  id: string;
  agent: http.Agent;
  client: Record<'pause' | 'resume', number[]>;
}

function call(side: Side, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const url = new URL(`${side.daemon.api}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return httpCall(
    {
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      agent: side.agent,
      method,
      headers: { authorization: `Bearer ${side.daemon.adminToken}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
    },
    `${method} ${path}`,
    (req) => req.end(payload),
  ).then(({ text }) => (JSON.parse(text) as { data: Record<string, unknown> }).data);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function phases(file: string, op: 'pause' | 'resume'): Promise<Map<string, number[]>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out = new Map<string, number[]>();
  const add = (k: string, v: number): void => void (out.get(k) ?? out.set(k, []).get(k))?.push(v);
  for (const line of text.split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { url: string; method: string; spans: [string, number][] };
    if (r.method !== 'POST' || !r.url.endsWith(`/${op}`)) continue;
    const at = (i: number): number => (r.spans[i] as [string, number])[1];
    for (let i = 1; i < r.spans.length; i++) add((r.spans[i] as [string, number])[0], at(i) - at(i - 1));
    const total = at(r.spans.length - 1) - at(0);
    add('= server total', total);
    const driver = r.spans.findIndex(([n]) => n === 'driver');
    if (driver > 0) add('= total minus driver', total - (at(driver) - at(driver - 1)));
  }
  return out;
}

const sides: Side[] = [];
try {
  for (const root of roots) {
    const harness = (await import(join(root, 'test/daemon-harness.ts'))) as { startTestDaemon: (b: string, env: Record<string, string>) => Promise<Daemon> };
    const spansFile = join(await mkdtemp(join(tmpdir(), 'hoody-spans-')), 'spans.jsonl');
    const daemon = await harness.startTestDaemon('sqlite', { HOODY_SPANS_FILE: spansFile });
    const side: Side = { root, daemon, spansFile, id: '', agent: new http.Agent({ keepAlive: true }), client: { pause: [], resume: [] } };
    sides.push(side);
    const c = await call(side, 'POST', '/containers', { name: 'spans', container_image: 'busybox', command: ['sleep', '600'], autostart: false });
    side.id = c.id as string;
    await call(side, 'POST', `/containers/${side.id}/start`);
    // warm-up: the first requests compile each route's schemas
    for (let i = 0; i < 5; i++) {
      await call(side, 'POST', `/containers/${side.id}/pause`);
      await call(side, 'POST', `/containers/${side.id}/resume`);
    }
    await rm(spansFile, { force: true });
  }
  for (let b = 0; b < BLOCKS; b++) {
    // the sides take turns per block, in mirrored order
    const order = b % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      for (let i = 0; i < pairs / BLOCKS; i++) {
        for (const op of ['pause', 'resume'] as const) {
          const t0 = performance.now();
          const r = await call(side, 'POST', `/containers/${side.id}/${op}`);
          side.client[op].push(performance.now() - t0);
          if (r.status !== (op === 'pause' ? 'paused' : 'running')) throw new Error(`${op} answered ${String(r.status)}`);
        }
      }
    }
  }
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`${pairs} pauses + ${pairs} resumes per tree, ${BLOCKS} interleaved blocks; load average at the end ${load}`);
  for (const op of ['pause', 'resume'] as const) {
    console.log(`\n${op}: median ms`);
    const perSide = await Promise.all(sides.map((s) => phases(s.spansFile, op)));
    const names = [...new Set(perSide.flatMap((m) => [...m.keys()]))];
    console.log(['phase (time to the stamp)', ...sides.map((s) => s.root)].join(' | '));
    for (const n of names) console.log([n, ...perSide.map((m) => (m.get(n) ? median(m.get(n) as number[]).toFixed(3) : '-'))].join(' | '));
    console.log(['client (request to answer)', ...sides.map((s) => median(s.client[op]).toFixed(3))].join(' | '));
  }
} finally {
  for (const s of sides) {
    s.agent.destroy();
    await s.daemon.cleanup().catch((err: unknown) => console.error(`cleanup of ${s.root}:`, err));
    await rm(join(s.spansFile, '..'), { recursive: true, force: true });
  }
}
