/**
 * Three servers on one PostgreSQL database, on this machine: what a forwarded operation costs
 * next to the same operation sent to the container's own daemon, and how long a full container
 * listing takes through each daemon. Run as root, with PostgreSQL reachable at
 * HOODY_TEST_POSTGRES_URL (an admin URL: the bench creates and drops a database of its own):
 *
 *   node --import tsx bench/cluster.ts [containersPerServer=100] [rounds=3]
 *
 * Three daemons (`node bin/hoody.js serve`, built dist/) each get their own data folder and port on
 * 127.0.0.1, the same database, cluster secret and admin token, and `HOODY_NETWORK=none`.
 *
 * Forwarded operations: one busybox container runs on bench-1. Each iteration pauses it, resumes
 * it, reads it with `?runtime=true` and without, and lists it (`GET /containers?name=fw`), once
 * through bench-1's daemon (the owner) and once through bench-2's, the two alternating which goes
 * first so that the machine's noise falls on both alike. bench-2 sends the first four on to
 * bench-1; the list either daemon answers from the database (never forwarded): it is the scale of
 * a small request without the hop. Every call is timed from request to the end of the answer,
 * over a keep-alive connection. Target: forwarded − owner ≤ 3 ms at the median.
 *
 * Listing: containersPerServer stopped containers are created on each server (`server_name`,
 * through its own daemon, 8 at a time), then `GET /containers` with the largest page allowed is
 * timed through each of the three daemons (paged through when the containers do not fit one page,
 * the pages' times summed), round robin, 5 warm-ups and 50 timed each per round. Target: < 50 ms.
 *
 * Files between servers (after the listing; FILE_MB, default 200, of random bytes in a container):
 * a snapshot of a stopped container on bench-1 (HOODY_SNAPSHOT_REPLICAS=1: its files are also
 * fetched by another server) next to the same snapshot on bench-2 (no replica); the move of the
 * container (and its snapshot) from bench-1 to bench-3, asked through bench-2; and, as the floor
 * of moving those bytes on this machine, `tar --create | tar --extract` of the container's files
 * into a scratch folder. Each 3 times.
 *
 * No peer is measured: podman (the peer of the other benches) has no several-server mode, so the
 * only comparison is owner against forwarded, in the same run.
 *
 * Everything made is removed at the end, also after a failure or ^C: the containers through the
 * API, the daemons by pid (SIGTERM, then SIGKILL after 20 s), their data folders, the database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import http from 'node:http';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CONTAINER_PAGE } from '../src/api/schemas.ts';
import { ensureBuilt, HOODY_BIN, removeRuntime } from '../test/daemon-harness.ts';
import { freePort } from './proc-util.ts';

const PER_SERVER = Number(process.argv[2] ?? 100);
const ROUNDS = Number(process.argv[3] ?? 3);
if (!Number.isInteger(PER_SERVER) || PER_SERVER < 0) throw new Error(`containersPerServer "${process.argv[2]}" is not a whole number`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`rounds "${process.argv[3]}" is not a positive whole number`);
const ITERATIONS = 200;
const LIST_WARMUPS = 5;
const LIST_TIMED = 50;
const CREATE_PARALLEL = 8;
const SERVERS = 3;
const ROOT = new URL('..', import.meta.url).pathname;

const adminUrl = process.env.HOODY_TEST_POSTGRES_URL;
if (!adminUrl) throw new Error('HOODY_TEST_POSTGRES_URL is not set (bash scripts/start-postgres.sh prints one)');

// ------------------------------------------------------------------ numbers

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const median = (xs: number[]): number => {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Nearest-rank percentile. */
const pct = (xs: number[], p: number): number => {
  const s = sorted(xs);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const f2 = (n: number): string => n.toFixed(2);
const signed = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;

// ------------------------------------------------------------------ HTTP

interface Daemon {
  name: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  out: string;
  agent: http.Agent;
}

/** What the bench reads of the answers: a container, a list of containers or of servers. */
interface Data {
  id?: string;
  status?: string;
  server_name?: string;
  server_status?: string;
  in_sync?: boolean;
  runtime_info?: { pid?: number | null };
  containers?: Data[];
  servers?: { name: string; status: string; advertise_url: string | null }[];
}

interface Body {
  data?: Data;
}

interface Answer {
  status: number;
  /** Parsed JSON, or the text when it was not JSON. */
  body: Body;
}

/** One call over the daemon's keep-alive agent; the answer read to its end. */
function call(d: Daemon, method: string, path: string, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: d.port,
        method,
        path: `/api/v1${path}`,
        agent: d.agent,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text) as unknown;
          } catch {
            /* not JSON: kept as text for the error message */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as Body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A call that must succeed (2xx). */
async function ok(d: Daemon, method: string, path: string, body?: unknown): Promise<Data> {
  const r = await call(d, method, path, body);
  if (r.status < 200 || r.status >= 300 || !r.body?.data) throw new Error(`${d.name}: ${method} ${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`);
  return r.body.data;
}

/** Times one call that must succeed; ms. */
async function timedOk(d: Daemon, method: string, path: string, check?: (data: Data | undefined) => boolean): Promise<number> {
  const t = performance.now();
  const r = await call(d, method, path);
  const took = performance.now() - t;
  if (r.status < 200 || r.status >= 300 || (check && !check(r.body?.data))) throw new Error(`${d.name}: ${method} ${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`);
  return took;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

// ------------------------------------------------------------------ set-up and clean-up

const adminToken = `hoody_bench_${randomBytes(16).toString('hex')}`;
const clusterSecret = randomBytes(32).toString('hex');
const dbName = `hoody_bench_cluster_${randomBytes(5).toString('hex')}`;
const daemons: Daemon[] = [];
/** Every container this run made, with the daemon of its server. */
const made = new Map<string, Daemon>();
let dbCreated = false;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function startDaemon(i: number, databaseUrl: string): Promise<Daemon> {
  const name = `bench-${i}`;
  const dataDir = await realpath(await mkdtemp(join(tmpdir(), `hoody-bench-cluster-${i}-`)));
  const port = await freePort();
  const child = spawn(process.execPath, [HOODY_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--server-name', name], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOODY_DATABASE_URL: databaseUrl,
      HOODY_CLUSTER_SECRET: clusterSecret,
      HOODY_ADMIN_TOKEN: adminToken,
      HOODY_NETWORK: 'none',
      // bench-1's snapshots are kept on one other server too; the others' are not
      HOODY_SNAPSHOT_REPLICAS: i === 1 ? '1' : '0',
      HOODY_MAX_CONTAINERS_PER_USER: '10000',
      HOODY_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d: Daemon = { name, port, dataDir, child, out: '', agent: new http.Agent({ keepAlive: true, maxSockets: 16 }) };
  daemons.push(d);
  child.stdout?.on('data', (c: Buffer) => (d.out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (d.out += c.toString()));
  // at log level warn the "hoody serving" line is not printed: /healthz answers once it listens
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${d.out}`);
    const up = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
    if (up) return d;
    if (Date.now() > deadline) throw new Error(`${name} did not answer /healthz in 60 s:\n${d.out}`);
    await sleep(50);
  }
}

async function stopDaemon(d: Daemon): Promise<void> {
  const c = d.child;
  d.agent.destroy();
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => c.kill('SIGKILL'), 20_000);
    c.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

let cleaning: Promise<void> | undefined;
/** Removes what this run made; safe to call more than once. */
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    const t = performance.now();
    const live = daemons.filter((d) => d.child.exitCode === null && d.child.signalCode === null);
    // containers through the API first, each through its own server's daemon
    await inParallel([...made].filter(([, d]) => live.includes(d)), CREATE_PARALLEL, async ([id, d]) => {
      const c = await call(d, 'GET', `/containers/${id}`).catch(() => undefined);
      if (!c || c.status === 404) return;
      if (['running', 'paused', 'restarting'].includes(c.body?.data?.status ?? '')) await call(d, 'POST', `/containers/${id}/force-stop`, {}).catch(() => undefined);
      const r = await call(d, 'DELETE', `/containers/${id}`).catch((err: Error) => ({ status: 0, body: err.message }));
      if (r.status >= 300 && r.status !== 404) console.error(`cleanup: deleting ${id} on ${d.name} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
    });
    for (const d of daemons) await stopDaemon(d);
    for (const d of daemons) {
      await removeRuntime(d.dataDir).catch((err: Error) => console.error(`cleanup: runtime of ${d.name}: ${err.message}`));
      await rm(d.dataDir, { recursive: true, force: true });
    }
    if (dbCreated) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err: Error) => console.error(`cleanup: dropping ${dbName}: ${err.message}`));
    console.error(`cleaned up in ${(performance.now() - t).toFixed(0)} ms`);
  })());
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ the run

const started = new Date();
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
console.log(`bench/cluster.ts: ${SERVERS} servers on one PostgreSQL database, ${PER_SERVER} stopped containers per server, ${ROUNDS} rounds`);
console.log(`started ${started.toISOString()}; ${cpus().length} cores, kernel ${release()}, Node ${process.version}; load at start ${load()}`);
console.log('no peer numbers: podman has no several-server mode, so the comparison is owner against forwarded, in the same run');

try {
  ensureBuilt();
  await admin(`CREATE DATABASE ${dbName}`);
  dbCreated = true;
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  for (let i = 1; i <= SERVERS; i++) await startDaemon(i, u.toString());
  const [d1, d2] = daemons as [Daemon, Daemon, Daemon];

  // every daemon sees every server ready, with the address the others reach it at
  for (const d of daemons) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const servers = (await ok(d, 'GET', '/servers')).servers ?? [];
      if (servers.length === SERVERS && servers.every((s) => s.status === 'ready' && s.advertise_url)) break;
      if (Date.now() > deadline) throw new Error(`${d.name} sees ${JSON.stringify(servers)}`);
      await sleep(100);
    }
  }
  console.log(`daemons: ${daemons.map((d) => `${d.name} pid ${d.child.pid} :${d.port}`).join(', ')}`);

  // ---------------------------------------------------------------- forwarded operations
  const fw = (await ok(d1, 'POST', '/containers', { name: 'fw', container_image: 'busybox', command: ['sleep', '3600'], server_name: 'bench-1' }));
  const fwId = fw.id!;
  made.set(fwId, d1);
  if (fw.status !== 'running' || fw.server_name !== 'bench-1') throw new Error(`fw was created ${fw.status} on ${fw.server_name}`);
  const through2 = await ok(d2, 'GET', `/containers/${fwId}?runtime=true`);
  const plain2 = await ok(d2, 'GET', `/containers/${fwId}`);
  const plain1 = await ok(d1, 'GET', `/containers/${fwId}`);
  console.log(
    `checks: GET ?runtime=true through bench-2 gives runtime_info.pid ${through2.runtime_info?.pid ?? 'none'}; ` +
      `plain GET in_sync through bench-1 ${plain1.in_sync}, through bench-2 ${plain2.in_sync} (server_status ${plain2.server_status})`,
  );

  const isStatus =
    (s: string) =>
    (data: Data | undefined): boolean =>
      data?.status === s;
  const hasRuntime = (data: Data | undefined): boolean => typeof data?.runtime_info?.pid === 'number';
  // `read` is the plain GET of the container (its owner answers it: observed status, in_sync);
  // `list` a list of that one container by name, which either daemon answers from the database
  // (never forwarded): a small request without the hop, for scale
  type Op = 'pause' | 'resume' | 'get' | 'read' | 'list';
  const OPS: Op[] = ['pause', 'resume', 'get', 'read', 'list'];
  const LABEL: Record<Op, string> = { pause: 'POST pause', resume: 'POST resume', get: 'GET ?runtime=true', read: 'GET (no runtime)', list: 'GET /containers?name=fw (database, never forwarded)' };
  const empty = (): Record<Op, number[]> => ({ pause: [], resume: [], get: [], read: [], list: [] });
  const all: Record<'owner' | 'forwarded', Record<Op, number[]>> = { owner: empty(), forwarded: empty() };
  const once = async (d: Daemon, into: Record<Op, number[]>): Promise<void> => {
    into.pause.push(await timedOk(d, 'POST', `/containers/${fwId}/pause`, isStatus('paused')));
    into.resume.push(await timedOk(d, 'POST', `/containers/${fwId}/resume`, isStatus('running')));
    into.get.push(await timedOk(d, 'GET', `/containers/${fwId}?runtime=true`, hasRuntime));
    into.read.push(await timedOk(d, 'GET', `/containers/${fwId}`, isStatus('running')));
    into.list.push(await timedOk(d, 'GET', '/containers?name=fw', (data) => data?.containers?.length === 1));
  };
  // warm both paths (connections, the token's cache, JIT)
  for (let i = 0; i < 10; i++) {
    await once(d1, empty());
    await once(d2, empty());
  }
  const rowsFw: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r: Record<'owner' | 'forwarded', Record<Op, number[]>> = { owner: empty(), forwarded: empty() };
    for (let i = 0; i < ITERATIONS; i++) {
      if (i % 2 === 0) {
        await once(d1, r.owner);
        await once(d2, r.forwarded);
      } else {
        await once(d2, r.forwarded);
        await once(d1, r.owner);
      }
    }
    for (const op of OPS) {
      all.owner[op].push(...r.owner[op]);
      all.forwarded[op].push(...r.forwarded[op]);
      rowsFw.push(`| ${round} | ${LABEL[op]} | ${f2(median(r.owner[op]))} | ${f2(pct(r.owner[op], 90))} | ${f2(median(r.forwarded[op]))} | ${f2(pct(r.forwarded[op], 90))} | ${signed(median(r.forwarded[op]) - median(r.owner[op]))} |`);
    }
    console.error(`round ${round}: forwarded operations done (load ${load()})`);
  }
  for (const op of OPS) rowsFw.push(`| all | ${LABEL[op]} | ${f2(median(all.owner[op]))} | ${f2(pct(all.owner[op], 90))} | ${f2(median(all.forwarded[op]))} | ${f2(pct(all.forwarded[op], 90))} | ${signed(median(all.forwarded[op]) - median(all.owner[op]))} |`);
  console.log(`\nForwarded operations: container on bench-1, ${ITERATIONS} iterations per round through each daemon (interleaved), ms`);
  console.log('\n| round | call | through bench-1 (owner) median | p90 | through bench-2 (forwarded) median | p90 | bench-2 − bench-1 (medians) |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const row of rowsFw) console.log(row);

  // ---------------------------------------------------------------- listing
  const tCreate = performance.now();
  for (const d of daemons) {
    const names = Array.from({ length: PER_SERVER }, (_, i) => `ls-${d.name}-${i}`);
    await inParallel(names, CREATE_PARALLEL, async (name) => {
      const c = (await ok(d, 'POST', '/containers', { name, container_image: 'busybox', command: ['sleep', '3600'], autostart: false, server_name: d.name }));
      made.set(c.id!, d);
      if (c.server_name !== d.name || c.status !== 'stopped') throw new Error(`${name} was created ${c.status} on ${c.server_name}`);
    });
  }
  const total = made.size;
  console.log(`\ncreated ${SERVERS * PER_SERVER} stopped containers (${PER_SERVER} per server, each through its own daemon, ${CREATE_PARALLEL} at a time) in ${(performance.now() - tCreate).toFixed(0)} ms; ${total} in all with fw`);

  const limit = CONTAINER_PAGE.maxLimit;
  /** One full listing through `d`: every page, times summed; checks the count. */
  const listAll = async (d: Daemon): Promise<{ ms: number; pages: number; bytes: number }> => {
    let ms = 0;
    let seen = 0;
    let bytes = 0;
    for (let page = 1; ; page++) {
      const t = performance.now();
      const r = await call(d, 'GET', `/containers?limit=${limit}&page=${page}`);
      ms += performance.now() - t;
      if (r.status !== 200) throw new Error(`${d.name}: list answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
      const got = r.body?.data?.containers?.length ?? 0;
      seen += got;
      bytes += JSON.stringify(r.body).length;
      if (got < limit) {
        if (seen !== total) throw new Error(`${d.name} listed ${seen} containers, not ${total}`);
        return { ms, pages: page, bytes };
      }
    }
  };
  const first = await listAll(d1);
  const byServer = new Map<string, number>();
  for (const c of (await ok(d2, 'GET', `/containers?limit=${limit}`)).containers ?? []) byServer.set(c.server_name ?? '?', (byServer.get(c.server_name ?? '?') ?? 0) + 1);
  console.log(`listing: GET /containers?limit=${limit} (the largest page allowed): ${first.pages} page(s), ${(first.bytes / 1024).toFixed(0)} KiB of JSON; per server through bench-2: ${[...byServer].map(([n, k]) => `${n} ${k}`).join(', ')}`);
  const listTimes = new Map<string, number[]>(daemons.map((d) => [d.name, []]));
  const rowsList: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r = new Map<string, number[]>(daemons.map((d) => [d.name, []]));
    for (let i = 0; i < LIST_WARMUPS; i++) for (const d of daemons) await listAll(d);
    for (let i = 0; i < LIST_TIMED; i++) {
      // round robin, starting at a different daemon each time
      for (let k = 0; k < SERVERS; k++) {
        const d = daemons[(i + k) % SERVERS]!;
        r.get(d.name)!.push((await listAll(d)).ms);
      }
    }
    for (const d of daemons) {
      const xs = r.get(d.name)!;
      listTimes.get(d.name)!.push(...xs);
      rowsList.push(`| ${round} | ${d.name} | ${f2(median(xs))} | ${f2(pct(xs, 90))} | ${f2(Math.max(...xs))} |`);
    }
    console.error(`round ${round}: listing done (load ${load()})`);
  }
  for (const d of daemons) {
    const xs = listTimes.get(d.name)!;
    rowsList.push(`| all | ${d.name} | ${f2(median(xs))} | ${f2(pct(xs, 90))} | ${f2(Math.max(...xs))} |`);
  }
  console.log(`\nListing ${total} containers of ${SERVERS} servers through each daemon, ${LIST_TIMED} per daemon per round after ${LIST_WARMUPS} warm-ups, ms`);
  console.log('\n| round | through | median | p90 | max |');
  console.log('|---|---|---:|---:|---:|');
  for (const row of rowsList) console.log(row);

  // ---------------------------------------------------------------- files between servers
  const FILE_MB = Number(process.env.FILE_MB ?? 200);
  const d3 = daemons[2]!;
  const rowsFiles: string[] = [];
  const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
    const t = performance.now();
    const v = await fn();
    return [performance.now() - t, v];
  };
  for (let i = 1; i <= 3; i++) {
    const withBytes = async (d: Daemon, name: string): Promise<string> => {
      const c = await ok(d, 'POST', '/containers', { name, container_image: 'busybox', command: ['sleep', '3600'], server_name: d.name });
      made.set(c.id!, d);
      await ok(d, 'POST', `/containers/${c.id}/exec`, { command: ['sh', '-c', `dd if=/dev/urandom of=/big bs=1M count=${FILE_MB} 2>/dev/null; sync`] });
      await ok(d, 'POST', `/containers/${c.id}/stop`, {});
      return c.id!;
    };
    const a = await withBytes(d1, `mv-a-${i}`);
    const b = await withBytes(d2, `mv-b-${i}`);
    const [snapReplica, snap] = await timed(async () => (await call(d1, 'POST', `/containers/${a}/snapshots`, {})).body as { data?: { snapshot?: { replicas?: unknown[] } } });
    const replicas = snap.data?.snapshot?.replicas?.length ?? 0;
    const [snapLocal] = await timed(() => ok(d2, 'POST', `/containers/${b}/snapshots`, {}));
    const [move, moved] = await timed(() => ok(d2, 'POST', `/containers/${a}/move`, { server_name: d3.name }));
    if (moved.server_name !== d3.name) throw new Error(`mv-a-${i} moved to ${moved.server_name}`);
    made.set(a, d3);
    // the floor: the same bytes through tar on this machine
    const upper = await new Promise<string>((resolve, reject) => {
      const find = spawn('find', [d2.dataDir, '-name', 'big', '-size', `+${FILE_MB - 1}M`, '-path', `*${b}*`, '-print', '-quit']);
      let out = '';
      find.stdout.on('data', (c: Buffer) => (out += c.toString()));
      find.on('close', () => (out.trim() ? resolve(out.trim().replace(/\/big$/, '')) : reject(new Error(`no files of ${b} found`))));
    });
    const scratch = await mkdtemp(join(tmpdir(), 'hoody-bench-tar-'));
    const [tarMs] = await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          const sh = spawn('sh', ['-c', `tar --create --xattrs --numeric-owner -C '${upper}' . | tar --extract --xattrs --numeric-owner -C '${scratch}'; sync`]);
          sh.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`))));
        }),
    );
    await rm(scratch, { recursive: true, force: true });
    rowsFiles.push(`| ${i} | ${f2(snapLocal)} | ${f2(snapReplica)} (${replicas} replica) | ${f2(move)} | ${f2(tarMs)} |`);
    console.error(`files ${i}: done (load ${load()})`);
  }
  console.log(`\nFiles between servers: a stopped container with ${FILE_MB} MB of random bytes, ms`);
  console.log('\n| run | snapshot, no replica (bench-2) | snapshot + replica (bench-1) | move with its snapshot, bench-1 → bench-3 via bench-2 | tar → tar (floor, same bytes) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const row of rowsFiles) console.log(row);

  const worstDiff = Math.max(...OPS.filter((op) => op !== 'list').map((op) => median(all.forwarded[op]) - median(all.owner[op])));
  const worstList = Math.max(...daemons.map((d) => median(listTimes.get(d.name)!)));
  console.log(`\ntargets: forwarded − owner ≤ 3 ms: ${worstDiff <= 3 ? 'met' : 'not met'} (largest ${signed(worstDiff)} ms); listing < 50 ms: ${worstList < 50 ? 'met' : 'not met'} (slowest median ${f2(worstList)} ms)`);
  console.log(`took ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s; load at end ${load()}`);
} finally {
  await cleanup();
}
