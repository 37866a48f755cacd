/**
 * Start-up time: from the spawn of `hoody serve` to its first 200 on /healthz, with an empty data
 * folder and with one whose status log holds ROWS rows (written straight into the SQLite file), next
 * to podman's `podman system service` to its first 200 on `/_ping`; the three interleaved round by
 * round. Also the daemon's resident memory (VmRSS, daemon plus its child processes) once idle.
 *
 * The daemon runs as a user runs it: `node bin/hoody.js serve`, the built dist/ (built first when stale).
 * Run as root: `npm run bench:startup -- [rounds=10] [rows=1000000]`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { removeRuntime } from '../test/daemon-harness.ts';
import { PodmanService } from './podman-service.ts';

const rounds = Number(process.argv[2] ?? 10);
const rows = Number(process.argv[3] ?? 1_000_000);
const ROOT = new URL('..', import.meta.url).pathname;
execFileSync('bash', [join(ROOT, 'scripts/ensure-built.sh')], { stdio: 'inherit' });
const TOKEN = `hoody_bench_${randomBytes(16).toString('hex')}`;
const PORT = 20000 + (process.pid % 10000);
const hex = (): string => randomBytes(12).toString('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Answers whether a GET answered 200 (over TCP or a unix socket). */
function ok200(options: http.RequestOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ ...options, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
  });
}

/** Spawns, polls every 2 ms until the first 200, answers the time in ms and the process. */
async function timeToReady(cmd: string, args: string[], env: NodeJS.ProcessEnv, probe: http.RequestOptions): Promise<{ ms: number; child: ChildProcess; out: () => string }> {
  let out = '';
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  for (;;) {
    if (await ok200(probe)) return { ms: performance.now() - t0, child, out: () => out };
    if (child.exitCode !== null || performance.now() - t0 > 60_000) throw new Error(`${cmd} did not get ready:\n${out}`);
    await sleep(2);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** VmRSS of a process and of every process below it, in MB. */
async function treeRss(pid: number): Promise<number> {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1] ?? 0);
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean).map(Number);
  let total = kb / 1024;
  for (const c of children) total += await treeRss(c);
  return total;
}

function hoodyArgs(dataDir: string): [string, string[]] {
  const serve = ['serve', '--host', '127.0.0.1', '--port', String(PORT), '--data-dir', dataDir, '--server-name', 'bench'];
  return [process.execPath, [join(ROOT, 'bin/hoody.js'), ...serve]];
}

async function hoodyStart(dataDir: string): Promise<{ ms: number; child: ChildProcess }> {
  const [cmd, args] = hoodyArgs(dataDir);
  return timeToReady(cmd, args, { ...process.env, HOODY_ADMIN_TOKEN: TOKEN }, { host: '127.0.0.1', port: PORT, path: '/healthz' });
}

/** Inserts synthetic transition rows of one container; the daemon is stopped meanwhile. */
function insertRows(dataDir: string, n: number): void {
  const db = new BetterSqlite3(join(dataDir, 'hoody.db'));
  const insert = db.prepare('insert into status_logs (id, container_id, from_status, to_status, transition_time, duration_ms, triggered_by, metadata, project_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const at = new Date().toISOString();
  const containerId = hex();
  const projectId = hex();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const [from, to] = i % 2 === 0 ? ['stopped', 'running'] : ['running', 'stopped'];
      insert.run(hex(), containerId, from, to, at, 5, 'system', JSON.stringify({ operation: i % 2 === 0 ? 'start' : 'stop', server_name: 'bench' }), projectId);
    }
  })();
  db.close();
}

const podman = await PodmanService.prepare();
async function podmanStart(): Promise<{ ms: number; child: { pid?: number } }> {
  const ms = await podman.start();
  return { ms, child: { pid: podman.pid } };
}

// ---------------------------------------------------------------- the runs
const bigDir = await mkdtemp(join(tmpdir(), 'hoody-bench-startup-big-'));
const emptyDirs: string[] = [];
const times = { empty: [] as number[], big: [] as number[], podman: [] as number[] };
const memory = { empty: [] as number[], big: [] as number[], podman: [] as number[] };
try {
  // the schema first, then the rows; the first start after them (which may migrate) is not counted
  await stop((await hoodyStart(bigDir)).child);
  const t = performance.now();
  insertRows(bigDir, rows);
  console.log(`${rows} status-log rows inserted in ${((performance.now() - t) / 1000).toFixed(1)} s; daemon: node bin/hoody.js (dist/)`);
  await stop((await hoodyStart(bigDir)).child);
  await podmanStart();
  await podman.stop();

  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['empty', 'big', 'podman'] as const) : (['podman', 'big', 'empty'] as const);
    for (const kind of order) {
      let dir = bigDir;
      if (kind === 'empty') emptyDirs.push((dir = await mkdtemp(join(tmpdir(), 'hoody-bench-startup-empty-'))));
      const started = kind === 'podman' ? await podmanStart() : await hoodyStart(dir);
      const end = (): Promise<void> => (kind === 'podman' ? podman.stop() : stop(started.child as ChildProcess));
      times[kind].push(started.ms);
      // memory once settled (a second), the first three rounds only: it does not change
      if (round < 3) {
        await sleep(1000);
        if (started.child.pid) memory[kind].push(await treeRss(started.child.pid));
      }
      await end();
    }
  }
} finally {
  await removeRuntime(bigDir).catch(() => undefined);
  await rm(bigDir, { recursive: true, force: true });
  for (const d of emptyDirs) {
    await removeRuntime(d).catch(() => undefined);
    await rm(d, { recursive: true, force: true });
  }
  await podman.cleanup();
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const f = (x: number): string => x.toFixed(0);
console.log(`\n${rounds} rounds, interleaved; ms from spawn to the first 200 (median, min–max); RSS MB after 1 s idle (median of 3)\n`);
console.log('| | to first 200, median | min–max | RSS idle |');
console.log('|---|---:|---:|---:|');
for (const [kind, label] of [['empty', 'Hoody, empty data folder'], ['big', `Hoody, status log of ${rows} rows`], ['podman', 'podman system service (_ping)']] as const) {
  const xs = times[kind];
  console.log(`| ${label} | ${f(median(xs))} | ${f(Math.min(...xs))}–${f(Math.max(...xs))} | ${median(memory[kind]).toFixed(1)} |`);
}
