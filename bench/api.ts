/**
 * HTTP API latency of Hoody's daemon next to podman's Docker-compatible API, in the same run, for
 * the same container lifecycle. Run as root: `npm run bench:api -- [rounds]` (default 15).
 *
 * Hoody:  a real daemon from test/daemon-harness.ts (own data folder, SQLite), talked to with fetch.
 * podman: `podman system service --time=0 unix://SOCK` with its own containers.conf, storage and
 *         cgroup parent under a temp folder, talked to with node:http over the socket (API v1.41).
 *
 * Both run busybox `sleep 600` under catatonit (Hoody always; podman with `HostConfig.Init`), in a
 * network namespace with loopback only (podman: `NetworkMode: "none"`), on runc with conmon.
 * Every call is timed from request to the end of the answer, and every call answers when its work
 * is done. The force-stop row times podman's `kill` + `wait?condition=not-running`; podman's compat
 * `kill` with SIGKILL already waits for the exit (as Docker's does), so the `wait` adds little.
 * After each stop the bench checks that the container's init process is really gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, mkdir, writeFile, readFile, readdir, access, rmdir, copyFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';

const rounds = Number(process.argv[2] ?? 15);
const PARALLEL = 20;
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

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** After a stop answered: is the container's init (host pid taken before the stop) still there, and not a zombie? */
async function checkGone(side: Side, op: string, id: string, pid: number): Promise<void> {
  if (!pid) return void oddities.push(`${side}: no pid known for ${id} before ${op}`);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (stat && state !== 'Z' && state !== 'X') oddities.push(`${side}: ${op} of ${id} answered while its init (pid ${pid}) was still in state ${state}`);
}

// ---------------------------------------------------------------- Hoody over fetch

let hoodyDaemon: DaemonHandle | undefined;
type HoodyData = Record<string, unknown> & { runtime_info?: { pid: number | null } };

async function hoody(method: string, path: string, body?: unknown): Promise<{ status: number; body: { data?: HoodyData } }> {
  const d = hoodyDaemon as DaemonHandle;
  const res = await fetch(`${d.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${d.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = JSON.parse(text) as { data?: HoodyData };
  if (res.status >= 300) throw new Error(`Hoody ${method} ${path} ${JSON.stringify(body ?? null)} answered ${res.status}: ${text}`);
  return { status: res.status, body: parsed };
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

const podmanAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let podmanSock = '';

function podman(method: string, path: string, body?: unknown, file?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath: podmanSock,
        agent: podmanAgent,
        method,
        path: `/v1.41${path}`,
        headers: file ? { 'content-type': 'application/x-tar' } : payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 300) reject(new Error(`podman ${method} ${path} answered ${status}: ${text}`));
          else resolve({ status, text });
        });
      },
    );
    req.on('error', reject);
    if (file) createReadStream(file).pipe(req);
    else req.end(payload);
  });
}

let podmanCgroupParent = '';
const PODMAN_IMAGE = 'localhost/bench-busybox:latest';

const podmanOps = {
  create: async (name: string): Promise<string> => {
    const r = await podman('POST', `/containers/create?name=${name}`, {
      Image: PODMAN_IMAGE,
      Cmd: ['sleep', '600'],
      StopTimeout: STOP_TIMEOUT_S,
      HostConfig: { NetworkMode: 'none', Init: true, CgroupParent: podmanCgroupParent },
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

async function vmRssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

/** Pids of the processes whose command line contains `needle`, by their program name. */
async function pidsMatching(needle: string, program?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = argv.split('\0');
    if (program && !(args[0] ?? '').endsWith(`/${program}`) && args[0] !== program) continue;
    if (argv.includes(needle) && Number(entry) !== process.pid) pids.push(Number(entry));
  }
  return pids;
}

async function rss(daemonPid: number, folder: string): Promise<Rss> {
  const conmons = await pidsMatching(folder, 'conmon');
  let conmonKb = 0;
  for (const pid of conmons) conmonKb += await vmRssKb(pid).catch(() => 0);
  return { daemonKb: await vmRssKb(daemonPid), conmons: conmons.length, conmonKb };
}

// ---------------------------------------------------------------- podman set-up and teardown

const podmanDir = await mkdtemp(join(tmpdir(), 'hoody-bench-podman-'));
podmanSock = join(podmanDir, 'api.sock');
podmanCgroupParent = `/hoody-bench-podman-${process.pid}`;
// podman (as root) always writes its blob-info cache and a network run folder in these places
const SHARED_PODMAN_PATHS = ['/var/lib/containers', '/run/containers'];
const sharedBefore = new Map<string, boolean>();
for (const p of SHARED_PODMAN_PATHS) sharedBefore.set(p, await exists(p));
let podmanService: ChildProcess | undefined;
let podmanOut = '';

async function startPodman(): Promise<void> {
  if (!(await exists('/usr/bin/podman'))) {
    console.log('installing podman (apt-get install -y podman)');
    await run('apt-get', ['install', '-y', 'podman']).catch(async () => {
      await run('apt-get', ['update']);
      await run('apt-get', ['install', '-y', 'podman']);
    });
  }
  const d = podmanDir;
  for (const sub of ['root', 'runroot', 'tmp', 'networks', 'rootfs/bin']) await mkdir(join(d, sub), { recursive: true });
  await writeFile(
    join(d, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${d}/events.log"`,
      'runtime = "runc"',
      `tmp_dir = "${d}/tmp"`,
      `image_copy_tmp_dir = "${d}/tmp"`,
      `volume_path = "${d}/root/volumes"`,
      `static_dir = "${d}/root/libpod"`,
      '[network]',
      `network_config_dir = "${d}/networks"`,
      '',
    ].join('\n'),
  );
  await writeFile(join(d, 'storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${d}/root"`, `runroot = "${d}/runroot"`, ''].join('\n'));
  podmanService = spawn('/usr/bin/podman', ['--root', join(d, 'root'), '--runroot', join(d, 'runroot'), 'system', 'service', '--time=0', `unix://${podmanSock}`], {
    env: { ...process.env, CONTAINERS_CONF: join(d, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(d, 'storage.conf'), TMPDIR: join(d, 'tmp') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  podmanService.stdout?.on('data', (b: Buffer) => (podmanOut += b.toString()));
  podmanService.stderr?.on('data', (b: Buffer) => (podmanOut += b.toString()));
  for (let i = 0; ; i++) {
    if (await podman('GET', '/_ping').then(
      () => true,
      () => false,
    ))
      break;
    if (i > 200 || podmanService.exitCode !== null) throw new Error(`podman service did not answer:\n${podmanOut}`);
    await sleep(50);
  }
  // busybox image from Debian's busybox-static, imported with no registry: POST /images/create?fromSrc=-
  await copyFile('/bin/busybox', join(d, 'rootfs/bin/busybox'));
  await run('chroot', [join(d, 'rootfs'), '/bin/busybox', '--install', '-s', '/bin']);
  await run('tar', ['-C', join(d, 'rootfs'), '-cf', join(d, 'busybox.tar'), '.']);
  await podman('POST', `/images/create?fromSrc=-&repo=localhost/bench-busybox&tag=latest`, undefined, join(d, 'busybox.tar'));
}

async function stopPodman(): Promise<void> {
  const svc = podmanService;
  if (svc && svc.exitCode === null && svc.signalCode === null) {
    try {
      const list = JSON.parse((await podman('GET', '/containers/json?all=true')).text) as { Id: string }[];
      for (const c of list) await podman('DELETE', `/containers/${c.Id}?force=true`).catch((err: unknown) => console.error(String(err)));
    } catch (err) {
      console.error(`listing podman's containers failed: ${String(err)}`);
    }
    podmanAgent.destroy();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => svc.kill('SIGKILL'), 10_000);
      svc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      svc.kill('SIGTERM');
    });
  }
  // what podman started on its own (conmon, `podman container cleanup`): wait for it, then end it by pid
  for (let i = 0; i < 100 && (await pidsMatching(podmanDir)).length > 0; i++) await sleep(100);
  for (const pid of await pidsMatching(podmanDir)) {
    console.error(`ending left-over podman process ${pid}`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  // containers/storage leaves its overlay home bind-mounted; deepest mounts first
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(podmanDir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch((err: unknown) => console.error(String(err)));
  await rm(podmanDir, { recursive: true, force: true });
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) await removeCgroupTree(join('/sys/fs/cgroup', hierarchy, podmanCgroupParent));
  for (const [p, existed] of sharedBefore) if (!existed) await rm(p, { recursive: true, force: true });
}

async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  await rmdir(dir).catch((err: unknown) => console.error(`cgroup ${dir}: ${String(err)}`));
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
  memory[side].running = side === 'hoody' ? await rss(hoodyDaemon?.pid ?? 0, hoodyDaemon?.dataDir ?? '') : await rss(podmanService?.pid ?? 0, podmanDir);
  await wall('force-stop', () => Promise.all(ids.map((id) => (ops ? ops.op(id, 'force-stop', 'stopped') : podmanOps.forceStop(id)))));
  await wall('delete', () => Promise.all(ids.map((id) => (ops ? ops.delete(id) : podmanOps.delete(id)))));
}

try {
  hoodyDaemon = await startTestDaemon();
  await startPodman();
  await sleep(1000);
  memory.hoody.idle = await rss(hoodyDaemon.pid, hoodyDaemon.dataDir);
  memory.podman.idle = await rss(podmanService?.pid ?? 0, podmanDir);
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
  delete: 'delete (stopped)',
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
