/**
 * A graceful stop sent the moment a start answers: does its TERM reach the app, or is it lost
 * and the stop waits out its whole timeout? The daemon built from this checkout next to one built
 * from another (the before-state), in the same run, round by round in alternating order. Run as root:
 *
 *   node --import tsx bench/stop-after-start.ts BEFORE_ROOT [rounds=3] [pairs=20]
 *
 * BEFORE_ROOT is a copy of the code to compare with (`git archive <commit> | tar -x -C DIR`, and
 * a node_modules link). Each side is its built daemon (test/daemon-harness.ts of that tree, which
 * builds dist/ when stale) with its own data folder, SQLite database and cgroup prefix, and one
 * container running `sleep 600` under catatonit; each pair is `start` then at once `stop
 * {timeout: 2}`. Prints per side the start and stop medians and the stops that did not end with
 * TERM's exit status (143).
 */
import http from 'node:http';
import { join, resolve } from 'node:path';
import { httpCall } from './podman-service.ts';

interface Daemon {
  api: string;
  adminToken: string;
  cleanup(): Promise<void>;
}

interface Side {
  name: string;
  daemon: Daemon;
  agent: http.Agent;
  id: string;
  startMs: number[];
  stopMs: number[];
  /** Stops whose exit status was not TERM's, with their time: a TERM that was lost. */
  lost: string[];
}

const [beforeRoot, roundsArg, pairsArg] = process.argv.slice(2);
if (!beforeRoot) throw new Error('usage: bench/stop-after-start.ts BEFORE_ROOT [rounds] [pairs]');
const rounds = Number(roundsArg ?? 3);
const pairs = Number(pairsArg ?? 20);
const AFTER_ROOT = new URL('..', import.meta.url).pathname;
const STOP_TIMEOUT_S = 2;

/** One API call on a side's keep-alive agent; resolves with the answer's `data`. */
async function call(side: Pick<Side, 'daemon' | 'agent'>, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const url = new URL(`${side.daemon.api}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${side.daemon.adminToken}` };
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  const { status, text } = await httpCall({ host: url.hostname, port: url.port, path: url.pathname, agent: side.agent, method, headers }, path, (req) => req.end(payload));
  if (status >= 300) throw new Error(`${method} ${path} answered ${status}: ${text}`);
  return (JSON.parse(text) as { data: Record<string, unknown> }).data;
}

async function startSide(name: string, root: string): Promise<Side> {
  const harness = (await import(join(root, 'test/daemon-harness.ts'))) as { startTestDaemon(backend: 'sqlite'): Promise<Daemon> };
  const daemon = await harness.startTestDaemon('sqlite');
  const agent = new http.Agent({ keepAlive: true });
  const created = await call({ daemon, agent }, 'POST', '/containers', { name: `race-${name}`, container_image: 'busybox', command: ['sleep', '600'], autostart: false });
  return { name, daemon, agent, id: String(created.id), startMs: [], stopMs: [], lost: [] };
}

async function pairsOn(side: Side): Promise<void> {
  for (let i = 0; i < pairs; i++) {
    let t0 = performance.now();
    await call(side, 'POST', `/containers/${side.id}/start`);
    side.startMs.push(performance.now() - t0);
    t0 = performance.now();
    await call(side, 'POST', `/containers/${side.id}/stop`, { timeout: STOP_TIMEOUT_S });
    const ms = performance.now() - t0;
    side.stopMs.push(ms);
    // the stop's answer carries the status only; the exit status is the container's
    const stopped = await call(side, 'GET', `/containers/${side.id}`);
    if (stopped.exit_code !== 143) side.lost.push(`${Math.round(ms)} ms, exit ${String(stopped.exit_code)}`);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

const sides: Side[] = [];
try {
  sides.push(await startSide('before', resolve(beforeRoot)), await startSide('after', AFTER_ROOT));
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? sides : [...sides].reverse()) await pairsOn(side);
  }
  console.log(`${rounds} rounds of ${pairs} start + stop {timeout: ${STOP_TIMEOUT_S}} pairs per side, alternating`);
  console.log('| side | start median ms | stop median ms | stops that lost their TERM |');
  console.log('|---|---|---|---|');
  for (const s of sides) {
    console.log(`| ${s.name} | ${median(s.startMs).toFixed(1)} | ${median(s.stopMs).toFixed(1)} | ${s.lost.length} of ${s.stopMs.length}${s.lost.length ? ` (${s.lost.join('; ')})` : ''} |`);
  }
} finally {
  for (const s of sides) {
    s.agent.destroy();
    await s.daemon.cleanup();
  }
}
