/**
 * The daemon's CPU time per `GET /api/v1/containers/{id}`, next to another build of the code (the
 * before-state), in the same run, round by round in alternating order. Run as root:
 *
 *   node --import tsx bench/api-get-cpu.ts BEFORE_ROOT [rounds=5] [seconds=8] [connections=10] [--prof DIR]
 *
 * BEFORE_ROOT is a built copy of the code to compare with (`git archive <commit> | tar -x -C DIR`,
 * a node_modules link, `npm run build` there). Both daemons run as shipped (`bin/hoody.js serve`,
 * from dist/), each with its own data folder, SQLite database and cgroup prefix, and one running
 * busybox container to read. autocannon runs as a process of its own. "CPU µs/req" is the daemon's
 * user + system CPU time during a round divided by the requests it served: on a shared machine far
 * steadier than req/s, and 1,000,000 / it is the rate one core could serve. With `--prof DIR` both
 * daemons write a V8 CPU profile into DIR/before and DIR/after at exit (see bench/profile-summary.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { removeRuntime } from '../test/daemon-harness.ts';
import { servingUrl } from './proc-util.ts';

const args = process.argv.slice(2);
const profIndex = args.indexOf('--prof');
const profDir = profIndex >= 0 ? args.splice(profIndex, 2)[1] : undefined;
const [beforeRoot, roundsArg, secondsArg, connectionsArg] = args;
if (!beforeRoot) throw new Error('usage: bench/api-get-cpu.ts BEFORE_ROOT [rounds] [seconds] [connections] [--prof DIR]');
const rounds = Number(roundsArg ?? 5);
const seconds = Number(secondsArg ?? 8);
const connections = Number(connectionsArg ?? 10);
const AFTER_ROOT = fileURLToPath(new URL('..', import.meta.url));
const AUTOCANNON = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));
const TICK_US = 10_000;

interface Side {
  name: string;
  child: ChildProcess;
  dataDir: string;
  url: string;
  token: string;
  containerId: string;
  rps: number[];
  p99: number[];
  cpuUs: number[];
}

async function startSide(name: string, root: string): Promise<Side> {
  // each side runs its own build, rebuilt when its sources are newer
  execFileSync('bash', [join(root, 'scripts/ensure-built.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const dataDir = await realpath(await mkdtemp(join(tmpdir(), `hoody-bench-get-${name}-`)));
  const token = `hoody_bench_${randomBytes(16).toString('hex')}`;
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : [];
  const child = spawn(process.execPath, [...prof, join(root, 'bin/hoody.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--server-name', `bench-${name}`], {
    cwd: root,
    env: { ...process.env, HOODY_ADMIN_TOKEN: token, HOODY_DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await servingUrl(child, name);
  const res = await fetch(`${url}/api/v1/containers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'read-me', container_image: 'busybox', command: ['sleep', '600'] }),
  });
  const body = (await res.json()) as { data: { id: string; status: string } };
  if (res.status !== 201 || body.data.status !== 'running') throw new Error(`${name}: create answered ${res.status}: ${JSON.stringify(body)}`);
  return { name, child, dataDir, url, token, containerId: body.data.id, rps: [], p99: [], cpuUs: [] };
}

/** CPU time the process has used so far (utime + stime), in clock ticks (100 per second). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** One autocannon run (its CLI, JSON out); fails on any error or answer other than 2xx. */
function autocannon(side: Side, duration: number): Promise<{ total: number; rps: number; p99: number }> {
  const argv = [AUTOCANNON, '--json', '-c', String(connections), '-d', String(duration), '-H', `authorization=Bearer ${side.token}`, `${side.url}/api/v1/containers/${side.containerId}`];
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('exit', (code) => {
      if (code !== 0) return fail(new Error(`autocannon exited ${code}: ${err}`));
      const r = JSON.parse(out) as { requests: { average: number; total: number }; latency: { p99: number }; errors: number; non2xx: number; timeouts: number };
      if (r.errors || r.non2xx || r.timeouts) return fail(new Error(`${side.name}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`));
      ok({ total: r.requests.total, rps: r.requests.average, p99: r.latency.p99 });
    });
  });
}

async function load(side: Side): Promise<void> {
  const pid = side.child.pid ?? 0;
  const cpu0 = await cpuTicks(pid);
  const r = await autocannon(side, seconds);
  side.cpuUs.push(((await cpuTicks(pid)) - cpu0) * TICK_US / r.total);
  side.rps.push(r.rps);
  side.p99.push(r.p99);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const loadavg = async (): Promise<string> => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

const sides: Side[] = [];
try {
  sides.push(await startSide('before', resolve(beforeRoot)), await startSide('after', AFTER_ROOT));
  // both warmed up the same way: JIT, SQLite page cache, the token remembered
  for (const s of sides) await autocannon(s, 2);
  const loadStart = await loadavg();
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) await load(s);
    process.stderr.write(`round ${i + 1}/${rounds} (load ${await loadavg()}): ${sides.map((s) => `${s.name} ${Math.round(s.rps.at(-1) ?? 0)} req/s ${Math.round(s.cpuUs.at(-1) ?? 0)} µs/req`).join(', ')}\n`);
  }
  const [before, after] = sides as [Side, Side];
  console.log(`GET /containers/{id} (a running container), ${connections} connections, ${seconds} s x ${rounds} rounds each, alternating; load average ${loadStart} at the start, ${await loadavg()} at the end`);
  console.log('| side | req/s (median) | p99 ms | daemon CPU µs/req (median) | one core at that cost, req/s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const s of sides) console.log(`| ${s.name} | ${Math.round(median(s.rps))} | ${median(s.p99)} | ${median(s.cpuUs).toFixed(0)} | ${Math.round(1e6 / median(s.cpuUs))} |`);
  console.log(`after/before: throughput ${(median(after.rps) / median(before.rps)).toFixed(2)}, CPU per request ${(median(after.cpuUs) / median(before.cpuUs)).toFixed(2)}`);
  for (const s of sides) console.log(`per-round ${s.name}: µs/req ${s.cpuUs.map(Math.round).join(' ')}; req/s ${s.rps.map(Math.round).join(' ')}`);
} finally {
  for (const s of sides) {
    // SIGINT: a clean exit, so a --cpu-prof profile is written
    const exited = new Promise((ok) => s.child.once('exit', ok));
    s.child.kill(profDir ? 'SIGINT' : 'SIGKILL');
    await Promise.race([exited, new Promise((ok) => setTimeout(ok, 15_000))]);
    s.child.kill('SIGKILL');
    await removeRuntime(s.dataDir).catch((err: Error) => console.error(`cleanup of ${s.name}: ${err.message}`));
    await rm(s.dataDir, { recursive: true, force: true });
  }
}
