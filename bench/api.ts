/**
 * HTTP API latency of Hoody's daemon next to podman's Docker-compatible API, in the same run, for
 * the same container lifecycle. Run as root: `npm run bench:api -- [rounds]` (default 15).
 *
 * Hoody:  a real daemon from test/daemon-harness.ts (own data folder, SQLite), over TCP on loopback.
 * podman: `podman system service --time=0 unix://SOCK` (bench/podman-service.ts) over its socket (API v1.41).
 * Both are called with node:http and a keep-alive agent: the same client code on both sides.
 *
 * Both run busybox `sleep 600` under catatonit (Hoody always; podman with `HostConfig.Init`), in a
 * network namespace with loopback only (podman: `NetworkMode: "none"`), on runc with conmon.
 * Every call is timed from request to the end of the answer, and every call answers when its work
 * is done. The force-stop row times podman's `kill` + `wait?condition=not-running`; podman's compat
 * `kill` with SIGKILL already waits for the exit (as Docker's does), so the `wait` adds little.
 * After each stop the bench checks that the container's init process is really gone.
 * SETTLE_MS (env, default 0) is how long a force-stopped container waits before its timed delete
 * on both sides: 0 is a delete right after the stop, 1000 that of a container stopped a while ago.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';
import { PODMAN_IMAGE, httpCall, podman, podmanCgroup, podmanFolder, podmanPid, pidsMatching, sleep, startPodman, stopPodman, vmRssKb } from './podman-service.ts';

const rounds = Number(process.argv[2] ?? 15);
const PARALLEL = 20;
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 0);
const STOP_TIMEOUT_S = 10;
const OPS = ['create', 'start', 'pause', 'resume', 'stop', 'force-stop', 'restart', 'delete'] as const;
type Op = (typeof OPS)[number];
type Side = 'hoody' | 'podman';
const BULK = ['create', 'start', 'force-stop', 'delete'] as const;
type BulkOp = (typeof BULK)[number];

const timings: Record<Side, Record<Op, number[]>> = {
  hoody: { create: [], start: [], pause: [], resume: [], stop: [], 'force-stop': [], restart: [], delete: [] },
  podman: { create: [], start: [], pause: [], resume: [], stop: [], 'force-stop': [], restart: [], delete: [] },
};
const podmanKillAnswer: number[] = [];
const bulk: Record<Side, Partial<Record<BulkOp, number>>> = { hoody: {}, podman: {} };
const exitCodes: Record<Side, { stop: Set<string>; kill: Set<string> }> = {
  hoody: { stop: new Set(), kill: new Set() },
  podman: { stop: new Set(), kill: new Set() },
};
const memory: Record<Side, { idle?: Rss; running?: Rss }> = { hoody: {}, podman: {} };
const oddities: string[] = [];

interface Rss {
  daemonKb: number;
  conmons: number;
  conmonKb: number;
}

async function timed<T>(list: number[] | undefined, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await fn();
  list?.push(performance.now() - t0);
  return result;
}

/** After a stop answered: is the container's init (host pid taken before the stop) still there, and not a zombie? */
async function checkGone(side: Side, op: string, id: string, pid: number): Promise<void> {
  if (!pid) return void oddities.push(`${side}: no pid known for ${id} before ${op}`);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (stat && state !== 'Z' && state !== 'X') oddities.push(`${side}: ${op} of ${id} answered while its init (pid ${pid}) was still in state ${state}`);
}

// ---------------------------------------------------------------- Hoody over node:http

let hoodyDaemon: DaemonHandle | undefined;
type HoodyData = Record<string, unknown> & { runtime_info?: { pid: number | null } };

/** Hoody's calls go through node:http with a keep-alive agent, as podman's do: the same client on both sides. */
const hoodyAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function hoody(method: string, path: string, body?: unknown): Promise<{ status: number; body: { data?: HoodyData } }> {
  const d = hoodyDaemon as DaemonHandle;
  const url = new URL(`${d.api}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return httpCall(
    {
      host: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      agent: hoodyAgent,
      method,
      headers: { authorization: `Bearer ${d.adminToken}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
    },
    `Hoody ${method} ${path} ${payload ?? 'null'}`,
    (req) => req.end(payload),
  ).then(({ status, text }) => ({ status, body: JSON.parse(text) as { data?: HoodyData } }));
}

const hoodyOps = {
  create: async (name: string): Promise<string> => {
    const r = await hoody('POST', '/containers', { name, container_image: 'busybox', command: ['sleep', '600'], autostart: false, stop_timeout: STOP_TIMEOUT_S });
    return r.body.data?.id as string;
  },
  op: async (id: string, op: 'start' | 'stop' | 'force-stop' | 'restart' | 'pause' | 'resume', expect: string): Promise<void> => {
    const r = await hoody('POST', `/containers/${id}/${op}`, op === 'stop' || op === 'restart' ? { timeout: STOP_TIMEOUT_S } : undefined);
    if (r.body.data?.status !== expect) oddities.push(`Hoody POST /containers/${id}/${op} answered status ${String(r.body.data?.status)}, expected ${expect}`);
  },
  exitCode: async (id: string): Promise<string> => String((await hoody('GET', `/containers/${id}`)).body.data?.exit_code),
  pid: async (id: string): Promise<number> => Number((await hoody('GET', `/containers/${id}?runtime=true`)).body.data?.runtime_info?.pid ?? 0),
  delete: async (id: string): Promise<void> => void (await hoody('DELETE', `/containers/${id}`)),
};

// ---------------------------------------------------------------- podman over its socket


const podmanOps = {
  create: async (name: string): Promise<string> => {
    const r = await podman('POST', `/containers/create?name=${name}`, {
      Image: PODMAN_IMAGE,
      Cmd: ['sleep', '600'],
      StopTimeout: STOP_TIMEOUT_S,
      HostConfig: { NetworkMode: 'none', Init: true, CgroupParent: podmanCgroup() },
    });
    return (JSON.parse(r.text) as { Id: string }).Id;
  },
  start: (id: string) => podman('POST', `/containers/${id}/start`),
  pause: (id: string) => podman('POST', `/containers/${id}/pause`),
  resume: (id: string) => podman('POST', `/containers/${id}/unpause`),
  stop: (id: string) => podman('POST', `/containers/${id}/stop?t=${STOP_TIMEOUT_S}`),
  restart: (id: string) => podman('POST', `/containers/${id}/restart?t=${STOP_TIMEOUT_S}`),
  forceStop: async (id: string, answerOnly?: number[]): Promise<void> => {
    await timed(answerOnly, () => podman('POST', `/containers/${id}/kill`));
    await podman('POST', `/containers/${id}/wait?condition=not-running`);
  },
  exitCode: async (id: string): Promise<string> => String((JSON.parse((await podman('GET', `/containers/${id}/json`)).text) as { State: { ExitCode: number } }).State.ExitCode),
  pid: async (id: string): Promise<number> => (JSON.parse((await podman('GET', `/containers/${id}/json`)).text) as { State: { Pid: number } }).State.Pid,
  delete: (id: string) => podman('DELETE', `/containers/${id}`),
};

// ---------------------------------------------------------------- memory

async function rss(daemonPid: number, folder: string): Promise<Rss> {
  const conmons = await pidsMatching(folder, 'conmon');
  let conmonKb = 0;
  for (const pid of conmons) conmonKb += await vmRssKb(pid).catch(() => 0);
  return { daemonKb: await vmRssKb(daemonPid), conmons: conmons.length, conmonKb };
}

// ---------------------------------------------------------------- the run

/** One lifecycle on one side; timings go to `t` (none for the warm-up round). */
async function hoodyRound(name: string, t?: Record<Op, number[]>): Promise<void> {
  const id = await timed(t?.create, () => hoodyOps.create(name));
  await timed(t?.start, () => hoodyOps.op(id, 'start', 'running'));
  await timed(t?.pause, () => hoodyOps.op(id, 'pause', 'paused'));
  await timed(t?.resume, () => hoodyOps.op(id, 'resume', 'running'));
  let pid = await hoodyOps.pid(id);
  await timed(t?.stop, () => hoodyOps.op(id, 'stop', 'stopped'));
  await checkGone('hoody', 'stop', id, pid);
  exitCodes.hoody.stop.add(await hoodyOps.exitCode(id));
  await hoodyOps.op(id, 'start', 'running');
  pid = await hoodyOps.pid(id);
  await timed(t?.['force-stop'], () => hoodyOps.op(id, 'force-stop', 'stopped'));
  await checkGone('hoody', 'force-stop', id, pid);
  exitCodes.hoody.kill.add(await hoodyOps.exitCode(id));
  await hoodyOps.op(id, 'start', 'running');
  await timed(t?.restart, () => hoodyOps.op(id, 'restart', 'running'));
  await hoodyOps.op(id, 'force-stop', 'stopped');
  if (SETTLE_MS > 0) await sleep(SETTLE_MS);
  await timed(t?.delete, () => hoodyOps.delete(id));
}

async function podmanRound(name: string, t?: Record<Op, number[]>): Promise<void> {
  const id = await timed(t?.create, () => podmanOps.create(name));
  await timed(t?.start, () => podmanOps.start(id));
  await timed(t?.pause, () => podmanOps.pause(id));
  await timed(t?.resume, () => podmanOps.resume(id));
  let pid = await podmanOps.pid(id);
  await timed(t?.stop, () => podmanOps.stop(id));
  await checkGone('podman', 'stop', id, pid);
  exitCodes.podman.stop.add(await podmanOps.exitCode(id));
  await podmanOps.start(id);
  pid = await podmanOps.pid(id);
  await timed(t?.['force-stop'], () => podmanOps.forceStop(id, t ? podmanKillAnswer : undefined));
  await checkGone('podman', 'force-stop', id, pid);
  exitCodes.podman.kill.add(await podmanOps.exitCode(id));
  await podmanOps.start(id);
  await timed(t?.restart, () => podmanOps.restart(id));
  await podmanOps.forceStop(id);
  if (SETTLE_MS > 0) await sleep(SETTLE_MS);
  await timed(t?.delete, () => podmanOps.delete(id));
}

async function parallel(side: Side): Promise<void> {
  const ops = side === 'hoody' ? hoodyOps : undefined;
  const names = Array.from({ length: PARALLEL }, (_, i) => `par-${i}`);
  const wall = async (op: BulkOp, fn: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now();
    await fn();
    bulk[side][op] = performance.now() - t0;
  };
  let ids: string[] = [];
  await wall('create', async () => (ids = await Promise.all(names.map((n) => (ops ? ops.create(n) : podmanOps.create(n))))));
  await wall('start', () => Promise.all(ids.map((id) => (ops ? ops.op(id, 'start', 'running') : podmanOps.start(id)))));
  await sleep(1000);
  memory[side].running = side === 'hoody' ? await rss(hoodyDaemon?.pid ?? 0, hoodyDaemon?.dataDir ?? '') : await rss(podmanPid(), podmanFolder());
  await wall('force-stop', () => Promise.all(ids.map((id) => (ops ? ops.op(id, 'force-stop', 'stopped') : podmanOps.forceStop(id)))));
  await wall('delete', () => Promise.all(ids.map((id) => (ops ? ops.delete(id) : podmanOps.delete(id)))));
}

try {
  hoodyDaemon = await startTestDaemon();
  await startPodman();
  await sleep(1000);
  memory.hoody.idle = await rss(hoodyDaemon.pid, hoodyDaemon.dataDir);
  memory.podman.idle = await rss(podmanPid(), podmanFolder());
  // warm-up (Hoody builds its busybox image on first use), then rounds alternating the two sides
  await hoodyRound('warmup');
  await podmanRound('warmup');
  for (let i = 0; i < rounds; i++) {
    await hoodyRound(`bench-${i}`, timings.hoody);
    await podmanRound(`bench-${i}`, timings.podman);
  }
  await parallel('hoody');
  await parallel('podman');
} finally {
  await stopPodman().catch((err: unknown) => console.error(`podman teardown: ${String(err)}`));
  hoodyAgent.destroy();
  await hoodyDaemon?.cleanup();
}

// ---------------------------------------------------------------- the table

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const median = (xs: number[]): number => {
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const p90 = (xs: number[]): number => sorted(xs)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)] as number;
const ms = (x: number | undefined): string => (x === undefined ? '–' : x.toFixed(1));
const mb = (kb: number | undefined): string => (kb === undefined ? '–' : (kb / 1024).toFixed(1));
const codes = (s: Set<string>): string => [...s].join('/');

const LABEL: Record<Op, string> = {
  create: 'create',
  start: 'start',
  pause: 'pause',
  resume: 'resume',
  stop: `stop (graceful; exit ${codes(exitCodes.hoody.stop)} vs ${codes(exitCodes.podman.stop)})`,
  'force-stop': `force-stop / kill + wait (exit ${codes(exitCodes.hoody.kill)} vs ${codes(exitCodes.podman.kill)})`,
  restart: 'restart (running: TERM, then start)',
  delete: SETTLE_MS > 0 ? `delete (stopped ${SETTLE_MS} ms before)` : 'delete (stopped)',
};

console.log(`\nHoody API vs podman 4.3 Docker-compatible API, ${rounds} rounds (+1 warm-up), ms, same run, same machine\n`);
console.log('| operation | Hoody median | Hoody p90 | podman median | podman p90 | Hoody / podman (median) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const op of OPS) {
  const h = timings.hoody[op];
  const p = timings.podman[op];
  console.log(`| ${LABEL[op]} | ${ms(median(h))} | ${ms(p90(h))} | ${ms(median(p))} | ${ms(p90(p))} | ${(median(h) / median(p)).toFixed(2)}× |`);
}
console.log(`| (podman \`kill\` alone; with SIGKILL it already waits for the exit) | | | ${ms(median(podmanKillAnswer))} | ${ms(p90(podmanKillAnswer))} | |`);
console.log(`\n${PARALLEL} containers at once (wall time of ${PARALLEL} concurrent requests, ms)\n`);
console.log('| operation | Hoody | podman | Hoody / podman |');
console.log('|---|---:|---:|---:|');
for (const op of BULK) {
  const h = bulk.hoody[op];
  const p = bulk.podman[op];
  console.log(`| ${op} ×${PARALLEL} | ${ms(h)} | ${ms(p)} | ${h !== undefined && p !== undefined ? `${(h / p).toFixed(2)}×` : '–'} |`);
}
console.log(`\nMemory (VmRSS, MB)\n`);
console.log('| | Hoody | podman |');
console.log('|---|---:|---:|');
for (const when of ['idle', 'running'] as const) {
  const h = memory.hoody[when];
  const p = memory.podman[when];
  const tag = when === 'idle' ? 'no containers' : `${PARALLEL} running`;
  console.log(`| daemon, ${tag} | ${mb(h?.daemonKb)} | ${mb(p?.daemonKb)} |`);
  if (when === 'running') {
    console.log(`| conmon processes, ${tag} | ${h?.conmons} × = ${mb(h?.conmonKb)} | ${p?.conmons} × = ${mb(p?.conmonKb)} |`);
    console.log(`| daemon + conmons, ${tag} | ${mb((h?.daemonKb ?? 0) + (h?.conmonKb ?? 0))} | ${mb((p?.daemonKb ?? 0) + (p?.conmonKb ?? 0))} |`);
  }
}
if (oddities.length) console.log(`\nOdd answers:\n${oddities.map((o) => `- ${o}`).join('\n')}`);
