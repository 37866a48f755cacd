/**
 * What logs, request ids and metrics cost the API: GET /containers/{id} throughput and the idle
 * resident memory of a daemon built from this checkout next to one built from another (the
 * before-state), in the same run, round by round in alternating order. Run as root:
 *
 *   node --import tsx bench/obs-overhead.ts BEFORE_ROOT [rounds=7] [seconds=8] [connections=10]
 *
 * BEFORE_ROOT is a copy of the code to compare with (`git archive <commit> | tar -x -C DIR`, and
 * a node_modules link); both daemons run the same way (`src/cli/main.ts serve` through tsx), each
 * with its own data folder, SQLite database and cgroup prefix, and one stopped container to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeRuntime } from '../test/daemon-harness.ts';
import { servingUrl } from './proc-util.ts';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: { url: string; connections: number; duration: number; headers: Record<string, string> }) => Promise<CannonResult>;

const [beforeRoot, roundsArg, secondsArg, connectionsArg] = process.argv.slice(2);
if (!beforeRoot) throw new Error('usage: bench/obs-overhead.ts BEFORE_ROOT [rounds] [seconds] [connections]');
const rounds = Number(roundsArg ?? 7);
const seconds = Number(secondsArg ?? 8);
const connections = Number(connectionsArg ?? 10);
const AFTER_ROOT = new URL('..', import.meta.url).pathname;

interface Side {
  name: string;
  root: string;
  child: ChildProcess;
  dataDir: string;
  url: string;
  token: string;
  containerId: string;
  rps: number[];
  p50: number[];
  p99: number[];
  rssKb: number[];
  /** The daemon's CPU time per request served (user + system), microseconds: steadier than req/s on a busy machine. */
  cpuUs: number[];
}

async function startSide(name: string, root: string): Promise<Side> {
  const dataDir = await realpath(await mkdtemp(join(tmpdir(), `hoody-bench-obs-${name}-`)));
  const token = `hoody_bench_${randomBytes(16).toString('hex')}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--server-name', `bench-${name}`], {
    cwd: root,
    env: { ...process.env, HOODY_ADMIN_TOKEN: token, HOODY_DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await servingUrl(child, name);
  const res = await fetch(`${url}/api/v1/containers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'read-me', container_image: 'busybox', autostart: false }),
  });
  const body = (await res.json()) as { data: { id: string } };
  if (res.status !== 201) throw new Error(`${name}: create answered ${res.status}: ${JSON.stringify(body)}`);
  return { name, root, child, dataDir, url, token, containerId: body.data.id, rps: [], p50: [], p99: [], rssKb: [], cpuUs: [] };
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
}

/** CPU time the process has used so far (utime + stime), in clock ticks (100 per second). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
const TICK_US = 10_000;

async function load(side: Side): Promise<void> {
  const cpu0 = await cpuTicks(side.child.pid ?? 0);
  const r = await autocannon({ url: `${side.url}/api/v1/containers/${side.containerId}`, connections, duration: seconds, headers: { authorization: `Bearer ${side.token}` } });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${side.name}: ${r.non2xx} answers not 2xx, ${r.errors} errors`);
  const served = r.requests.average * seconds;
  side.cpuUs.push(((await cpuTicks(side.child.pid ?? 0)) - cpu0) * TICK_US / served);
  side.rps.push(r.requests.average);
  side.p50.push(r.latency.p50);
  side.p99.push(r.latency.p99);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const sides: Side[] = [];
try {
  sides.push(await startSide('before', resolve(beforeRoot)), await startSide('after', AFTER_ROOT));
  // both warmed up the same way: JIT, SQLite page cache, connection pools
  for (const s of sides) await autocannon({ url: `${s.url}/api/v1/containers/${s.containerId}`, connections, duration: 2, headers: { authorization: `Bearer ${s.token}` } });
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) await load(s);
    // idle memory: after the load, once the collector has had a moment
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of sides) s.rssKb.push(await rssKb(s.child.pid ?? 0));
    process.stderr.write(`round ${i + 1}/${rounds}: ${sides.map((s) => `${s.name} ${Math.round(s.rps.at(-1) ?? 0)} req/s ${Math.round(s.cpuUs.at(-1) ?? 0)} µs/req`).join(', ')}\n`);
  }
  const [before, after] = sides as [Side, Side];
  console.log(`GET /containers/{id}, ${connections} connections, ${seconds} s x ${rounds} rounds each, alternating (medians)`);
  console.log('side     req/s    p50 ms  p99 ms  CPU µs/req  RSS after load (MB)');
  for (const s of sides) console.log(`${s.name.padEnd(8)} ${String(Math.round(median(s.rps))).padStart(6)}  ${String(median(s.p50)).padStart(6)}  ${String(median(s.p99)).padStart(6)}  ${median(s.cpuUs).toFixed(0).padStart(10)}  ${(median(s.rssKb) / 1024).toFixed(1)}`);
  console.log(`after/before throughput: ${(median(after.rps) / median(before.rps)).toFixed(3)}; CPU per request: ${(median(after.cpuUs) / median(before.cpuUs)).toFixed(3)}; RSS difference: ${((median(after.rssKb) - median(before.rssKb)) / 1024).toFixed(1)} MB`);
  console.log(`per-round CPU µs/req before: ${before.cpuUs.map(Math.round).join(' ')}`);
  console.log(`per-round CPU µs/req after:  ${after.cpuUs.map(Math.round).join(' ')}`);
  console.log(`per-round req/s before: ${before.rps.map(Math.round).join(' ')}`);
  console.log(`per-round req/s after:  ${after.rps.map(Math.round).join(' ')}`);
} finally {
  for (const s of sides) {
    s.child.kill('SIGKILL');
    await removeRuntime(s.dataDir).catch((err: Error) => console.error(`cleanup of ${s.name}: ${err.message}`));
    await rm(s.dataDir, { recursive: true, force: true });
  }
}
