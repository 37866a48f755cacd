/**
 * N containers (100 by default) created and started at once, Hoody next to podman's
 * Docker-compatible API (set up as in bench/api.ts), rounds alternating between the two:
 *
 * - "create+start": N concurrent requests that each make a running container (Hoody: one
 *   `POST /containers` with autostart; podman: `create` then `start`, timed together);
 * - "create, then start": N concurrent creates, then N concurrent starts.
 *
 * Wall time of the N requests and p50/p99 of each; then every container is checked to run and,
 * on Hoody, to have its status-log rows (creating → stopped → running). Memory with N running:
 * the daemon (and its child processes) by VmRSS, and the conmon processes of its containers.
 * Run as root: `npm run bench:parallel -- [rounds=3] [n=100]`.
 */
import { readFile, readdir } from 'node:fs/promises';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';
import { PodmanService } from './podman-service.ts';

const rounds = Number(process.argv[2] ?? 3);
const N = Number(process.argv[3] ?? 100);
type Side = 'hoody' | 'podman';
type Mode = 'create+start' | 'create' | 'start';
const results: Record<Side, Record<Mode, { wall: number[]; each: number[] }>> = {
  hoody: { 'create+start': { wall: [], each: [] }, create: { wall: [], each: [] }, start: { wall: [], each: [] } },
  podman: { 'create+start': { wall: [], each: [] }, create: { wall: [], each: [] }, start: { wall: [], each: [] } },
};
const problems: string[] = [];
const memory: { hoodyDaemon: number[]; hoodyConmons: number[]; podmanDaemon: number[]; podmanConmons: number[]; conmonCount: number[] } = { hoodyDaemon: [], hoodyConmons: [], podmanDaemon: [], podmanConmons: [], conmonCount: [] };

async function rssMb(pid: number): Promise<number> {
  return Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1] ?? 0) / 1024;
}
async function treeRss(pid: number): Promise<number> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean).map(Number);
  let total = await rssMb(pid);
  for (const c of children) total += await treeRss(c);
  return total;
}
/** conmon processes whose command line mentions `needle` (each daemon's own folder): count and total RSS. */
async function conmons(needle: string): Promise<{ count: number; mb: number }> {
  let count = 0;
  let mb = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('/usr/bin/conmon') && cmd.includes(needle)) {
      count++;
      mb += await rssMb(Number(pid));
    }
  }
  return { count, mb };
}

/** Runs `fn` for 0..N-1 at once; answers the wall time and each call's time. */
async function burst<T>(fn: (i: number) => Promise<T>): Promise<{ wall: number; each: number[]; values: T[] }> {
  const each: number[] = new Array(N).fill(0);
  const t0 = performance.now();
  const values = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const t = performance.now();
      const v = await fn(i);
      each[i] = performance.now() - t;
      return v;
    }),
  );
  return { wall: performance.now() - t0, each, values };
}

function record(side: Side, mode: Mode, r: { wall: number; each: number[] }): void {
  results[side][mode].wall.push(r.wall);
  results[side][mode].each.push(...r.each);
}

// ---------------------------------------------------------------- Hoody
let daemon: DaemonHandle;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bench reads a few fields of the answers
async function hoody(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${daemon.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${daemon.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`Hoody ${method} ${path} answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { data: unknown }).data;
}

/** Each container runs, and its log holds creating → stopped → running in order. */
async function checkHoody(ids: string[]): Promise<void> {
  for (const id of ids) {
    const c = await hoody('GET', `/containers/${id}`);
    if (c.status !== 'running') problems.push(`Hoody ${id}: ${c.status}, not running`);
    const logs = (await hoody('GET', `/containers/${id}/status-logs?limit=10&sort_order=asc`)).logs as { to_status: string }[];
    const path = logs.map((l) => l.to_status).join('>');
    if (path !== 'stopped>running') problems.push(`Hoody ${id}: status log ${path}, expected stopped>running`);
  }
}

async function hoodyClear(ids: string[]): Promise<void> {
  // a few at a time: clearing is not timed
  for (let i = 0; i < ids.length; i += 10) {
    await Promise.all(ids.slice(i, i + 10).map(async (id) => {
      await hoody('POST', `/containers/${id}/force-stop`);
      await hoody('DELETE', `/containers/${id}`);
    }));
  }
}

const body = (name: string, autostart: boolean) => ({ name, container_image: 'busybox', command: ['sleep', '600'], autostart });

async function hoodyRound(round: number, timed: boolean): Promise<void> {
  const a = await burst((i) => hoody('POST', '/containers', body(`pa${round}-${i}`, true)));
  const idsA = a.values.map((c) => c.id as string);
  if (timed) record('hoody', 'create+start', a);
  await checkHoody(idsA);
  if (timed && memory.hoodyDaemon.length < rounds) {
    memory.hoodyDaemon.push(await treeRss(daemon.pid));
    const cm = await conmons(daemon.dataDir);
    memory.hoodyConmons.push(cm.mb);
    memory.conmonCount.push(cm.count);
  }
  await hoodyClear(idsA);
  const c = await burst((i) => hoody('POST', '/containers', body(`pb${round}-${i}`, false)));
  const idsB = c.values.map((x) => x.id as string);
  const s = await burst((i) => hoody('POST', `/containers/${idsB[i]}/start`));
  if (timed) {
    record('hoody', 'create', c);
    record('hoody', 'start', s);
  }
  await checkHoody(idsB);
  await hoodyClear(idsB);
}

// ---------------------------------------------------------------- podman
const podman = await PodmanService.prepare();
let image = '';
async function podmanCreate(name: string): Promise<string> {
  const r = await podman.call('POST', `/containers/create?name=${name}`, {
    Image: image,
    Cmd: ['sleep', '600'],
    HostConfig: { NetworkMode: 'none', Init: true, CgroupParent: podman.cgroupParent },
  });
  return (JSON.parse(r.text) as { Id: string }).Id;
}
async function checkPodman(ids: string[]): Promise<void> {
  for (const id of ids) {
    const s = (JSON.parse((await podman.call('GET', `/containers/${id}/json`)).text) as { State: { Status: string } }).State.Status;
    if (s !== 'running') problems.push(`podman ${id}: ${s}, not running`);
  }
}
async function podmanClear(ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => podman.call('DELETE', `/containers/${id}?force=true`)));
}
async function podmanRound(round: number, timed: boolean): Promise<void> {
  const a = await burst(async (i) => {
    const id = await podmanCreate(`pa${round}-${i}`);
    await podman.call('POST', `/containers/${id}/start`);
    return id;
  });
  if (timed) record('podman', 'create+start', a);
  await checkPodman(a.values);
  if (timed && memory.podmanDaemon.length < rounds) {
    memory.podmanDaemon.push(await rssMb(podman.pid ?? 0));
    memory.podmanConmons.push((await conmons(podman.dir)).mb);
  }
  await podmanClear(a.values);
  const c = await burst((i) => podmanCreate(`pb${round}-${i}`));
  const s = await burst((i) => podman.call('POST', `/containers/${c.values[i]}/start`));
  if (timed) {
    record('podman', 'create', c);
    record('podman', 'start', s);
  }
  await checkPodman(c.values);
  await podmanClear(c.values);
}

// ---------------------------------------------------------------- the run
let d: DaemonHandle | undefined;
try {
  d = daemon = await startTestDaemon('sqlite');
  await podman.start();
  image = await podman.importBusybox();
  const idle = await treeRss(d.pid);
  // one untimed warm-up round each
  await hoodyRound(0, false);
  await podmanRound(0, false);
  for (let r = 1; r <= rounds; r++) {
    if (r % 2) {
      await hoodyRound(r, true);
      await podmanRound(r, true);
    } else {
      await podmanRound(r, true);
      await hoodyRound(r, true);
    }
  }
  const pct = (xs: number[], p: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  };
  const med = (xs: number[]): number => pct(xs, 50);
  const f = (x: number): string => x.toFixed(0);
  console.log(`\n${N} at once, ${rounds} timed rounds after one warm-up, alternating; ms (wall: median of rounds, per run; each request: p50 / p99 over all rounds)\n`);
  console.log('| | Hoody wall | podman wall | Hoody / podman | Hoody p50 / p99 | podman p50 / p99 |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const mode of ['create+start', 'create', 'start'] as const) {
    const h = results.hoody[mode];
    const p = results.podman[mode];
    console.log(`| ${mode === 'create' ? 'create (autostart false)' : mode} ×${N} | ${h.wall.map(f).join(' / ')} | ${p.wall.map(f).join(' / ')} | ${(med(h.wall) / med(p.wall)).toFixed(2)}× | ${f(med(h.each))} / ${f(pct(h.each, 99))} | ${f(med(p.each))} / ${f(pct(p.each, 99))} |`);
  }
  console.log(`\nMemory, MB (VmRSS): Hoody daemon idle before ${idle.toFixed(1)}; with ${N} running: daemon (and children) ${memory.hoodyDaemon.map((x) => x.toFixed(1)).join(' / ')}, its ${memory.conmonCount.join('/')} conmons ${memory.hoodyConmons.map((x) => x.toFixed(1)).join(' / ')}; podman service ${memory.podmanDaemon.map((x) => x.toFixed(1)).join(' / ')}, its conmons ${memory.podmanConmons.map((x) => x.toFixed(1)).join(' / ')}`);
  console.log(problems.length === 0 ? `\nEvery container ran, and each of Hoody's had its status-log rows (stopped>running after creating).` : `\nproblems:\n${problems.slice(0, 20).join('\n')}`);
} finally {
  await d?.cleanup().catch((err: unknown) => console.error(String(err)));
  await podman.cleanup().catch((err: unknown) => console.error(String(err)));
}
