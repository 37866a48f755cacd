/**
 * What Node flags of the daemon cost and save: two daemons side by side (test/daemon-harness.ts),
 * one with Node's defaults and one with FLAGS, each with one running busybox container. Per round,
 * in alternating order: `GET /api/v1/containers/{id}` with autocannon (10 and 50 connections), with
 * the daemon's CPU time per request (utime + stime from /proc, steadier than req/s on a busy machine);
 * then resident memory (VmRSS) idle, and once more after a burst of BURST containers created and
 * started 10 at a time, 5 s later. Run as root:
 * `npm run bench:node-flags -- "--max-semi-space-size=2" [rounds=3] [seconds=8] [burst=100]`.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';

const flags = (process.argv[2] ?? '').split(' ').filter(Boolean);
const rounds = Number(process.argv[3] ?? 3);
const seconds = Number(process.argv[4] ?? 8);
const burst = Number(process.argv[5] ?? 100);
const AUTOCANNON = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));
const SIDES = ['defaults', 'flags'] as const;
type Side = (typeof SIDES)[number];

/** The CPU time a process has used (user + system), in ms. */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux)
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One autocannon run: requests per second, and the daemon's CPU µs per request. */
async function measure(d: DaemonHandle, url: string, connections: number): Promise<{ rps: number; cpuUs: number }> {
  const cpu0 = await cpuMs(d.pid);
  const { average, total } = await reqPerSec(url, d.adminToken, connections);
  return { rps: average, cpuUs: ((await cpuMs(d.pid)) - cpu0) * 1000 / total };
}

function reqPerSec(url: string, token: string, connections: number): Promise<{ average: number; total: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '--json', '-d', String(seconds), '-c', String(connections), '-H', `authorization=Bearer ${token}`, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}`));
      const r = JSON.parse(out) as { requests: { average: number; total: number }; errors: number; non2xx: number };
      if (r.errors || r.non2xx) return reject(new Error(`autocannon saw ${r.errors} errors and ${r.non2xx} non-2xx`));
      resolve(r.requests);
    });
  });
}

const rssMb = async (pid: number): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function call(d: DaemonHandle, method: string, path: string, body?: unknown): Promise<{ id: string }> {
  const res = await fetch(`${d.api}${path}`, { method, headers: { authorization: `Bearer ${d.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: { id: string } }).data;
}

const daemons: Partial<Record<Side, DaemonHandle>> = {};
const results: Record<Side, { rps10: number[]; rps50: number[]; cpu10: number[]; cpu50: number[]; idle: number[]; afterGets: number[]; burst: number[] }> = {
  defaults: { rps10: [], rps50: [], cpu10: [], cpu50: [], idle: [], afterGets: [], burst: [] },
  flags: { rps10: [], rps50: [], cpu10: [], cpu50: [], idle: [], afterGets: [], burst: [] },
};
try {
  daemons.defaults = await startTestDaemon();
  daemons.flags = await startTestDaemon('sqlite', {}, { nodeArgs: flags });
  const ids: Partial<Record<Side, string>> = {};
  for (const side of SIDES) ids[side] = (await call(daemons[side]!, 'POST', '/containers', { name: 'flags-bench', container_image: 'busybox', command: ['sleep', '600'], autostart: true })).id;
  for (const side of SIDES) await measure(daemons[side]!, `${daemons[side]!.api}/containers/${ids[side]}`, 10); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? ([...SIDES].reverse() as Side[]) : [...SIDES];
    for (const side of order) {
      const d = daemons[side]!;
      results[side].idle.push(await rssMb(d.pid));
      for (const c of [10, 50] as const) {
        const m = await measure(d, `${d.api}/containers/${ids[side]}`, c);
        results[side][`rps${c}`].push(m.rps);
        results[side][`cpu${c}`].push(m.cpuUs);
      }
      await sleep(2000);
      results[side].afterGets.push(await rssMb(d.pid));
      console.log(`round ${round + 1}, ${side}: ${results[side].rps10.at(-1)?.toFixed(0)} / ${results[side].rps50.at(-1)?.toFixed(0)} req/s, ${results[side].cpu10.at(-1)?.toFixed(0)} / ${results[side].cpu50.at(-1)?.toFixed(0)} µs CPU a request, RSS ${results[side].idle.at(-1)?.toFixed(1)} → ${results[side].afterGets.at(-1)?.toFixed(1)} MB`);
    }
  }
  if (burst > 0) {
    for (const side of SIDES) {
      const d = daemons[side]!;
      const made: string[] = [];
      for (let i = 0; i < burst; i += 10) {
        const batch = await Promise.all(Array.from({ length: Math.min(10, burst - i) }, (_, j) => call(d, 'POST', '/containers', { name: `burst-${i + j}`, container_image: 'busybox', command: ['sleep', '600'], autostart: true })));
        made.push(...batch.map((c) => c.id));
      }
      await sleep(5000);
      results[side].burst.push(await rssMb(d.pid));
      console.log(`${side}: ${burst} more containers running, RSS ${results[side].burst.at(-1)?.toFixed(1)} MB`);
      for (let i = 0; i < made.length; i += 10) await Promise.all(made.slice(i, i + 10).map(async (id) => { await call(d, 'POST', `/containers/${id}/force-stop`); await call(d, 'DELETE', `/containers/${id}`); }));
    }
  }
} finally {
  for (const side of SIDES) await daemons[side]?.cleanup();
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
console.log(`\nNode defaults next to "${flags.join(' ')}", ${rounds} rounds of ${seconds} s, medians\n`);
console.log('| | defaults | flags | flags/defaults |');
console.log('|---|---:|---:|---:|');
const row = (label: string, pick: (s: Side) => number[], digits: number): void => {
  const a = median(pick('defaults'));
  const b = median(pick('flags'));
  console.log(`| ${label} | ${a.toFixed(digits)} | ${b.toFixed(digits)} | ${(b / a).toFixed(2)}x |`);
};
row('GET /containers/{id}, 10 connections, req/s', (s) => results[s].rps10, 0);
row('GET /containers/{id}, 50 connections, req/s', (s) => results[s].rps50, 0);
row('daemon CPU per request, 10 connections (µs)', (s) => results[s].cpu10, 0);
row('daemon CPU per request, 50 connections (µs)', (s) => results[s].cpu50, 0);
row('RSS idle, one container (MB)', (s) => results[s].idle, 1);
row('RSS 2 s after the GET runs (MB)', (s) => results[s].afterGets, 1);
if (burst > 0) row(`RSS with ${burst} more containers running, 5 s after the burst (MB)`, (s) => results[s].burst, 1);
