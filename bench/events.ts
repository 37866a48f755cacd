/**
 * Do 1,000 connected event subscribers slow lifecycle operations? One daemon, K containers
 * (busybox, autostart false), R rounds of start → pause → resume → stop on each, one HTTP
 * operation at a time, in three phases: 0 subscribers, 1,000 SSE subscribers (admin token; half
 * follow one container with ?container_id=, half follow everything), 0 subscribers again.
 * Run as root: `npm run bench:events -- [containers=10] [rounds=10] [subscribers=1000]`.
 *
 * The subscribers live in a child process (this file, HOODY_BENCH_ROLE=subscribers) on plain
 * `http` requests, so reading 1,000 streams does not stall the event loop that times the
 * operations. Times are absolute (performance.timeOrigin + performance.now()) so that both
 * processes can be compared: delivery lag = the last subscriber's arrival of a transition minus
 * the moment the operation's HTTP answer was read.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startTestDaemon, apiClient } from '../test/daemon-harness.ts';

const now = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// messages between the bench and its subscriber process

interface OpenMsg {
  cmd: 'open';
  api: string;
  token: string;
  containerIds: string[];
  count: number;
}
interface CollectMsg {
  cmd: 'collect';
  /** log ids of the phase's transitions, per container */
  expected: Record<string, string[]>;
  /** operations run per container in the phase (each should give accepted + succeeded) */
  opsPerContainer: Record<string, number>;
  timeoutMs: number;
}
interface CloseMsg {
  cmd: 'close';
}
type ToChild = OpenMsg | CollectMsg | CloseMsg;

interface SubscriberReport {
  filter: string | null;
  transitions: number;
  expectedTransitions: number;
  missingTransitions: number;
  extraTransitions: number;
  operations: number;
  expectedOperations: number;
}
type FromChild =
  | { type: 'ready'; connected: number; failed: number; openMs: number }
  | { type: 'report'; subscribers: SubscriberReport[]; lastArrival: Record<string, number>; receivers: Record<string, number>; waitedMs: number }
  | { type: 'closed' };

// ---------------------------------------------------------------------------------------------
// the subscriber process

interface Sub {
  filter: string | null;
  req: http.ClientRequest;
  connected: boolean;
  logIds: Set<string>;
  transitions: number;
  operations: number;
}

async function subscriberProcess(): Promise<void> {
  const send = (m: FromChild): void => void process.send?.(m);
  const subs: Sub[] = [];
  const lastArrival = new Map<string, number>();
  const receivers = new Map<string, number>();
  const LOG_ID = /"log":\{"id":"([^"]+)"/;

  const open = (api: string, token: string, filter: string | null): Promise<Sub> =>
    new Promise((resolve, reject) => {
      const url = new URL(`${api}/events${filter ? `?container_id=${filter}` : ''}`);
      const req = http.get(url, { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
      const sub: Sub = { filter, req, connected: false, logIds: new Set(), transitions: 0, operations: 0 };
      req.on('error', (err) => (sub.connected ? undefined : reject(err)));
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET /events answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          const at = now();
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (block.startsWith(': connected')) {
              sub.connected = true;
              resolve(sub);
            } else if (block.includes('\nevent: transition\n')) {
              const id = LOG_ID.exec(block)?.[1];
              if (!id) continue;
              sub.transitions++;
              sub.logIds.add(id);
              receivers.set(id, (receivers.get(id) ?? 0) + 1);
              if (at > (lastArrival.get(id) ?? 0)) lastArrival.set(id, at);
            } else if (block.startsWith('event: operation\n')) {
              sub.operations++;
            }
          }
        });
        res.on('error', () => undefined);
      });
    });

  process.on('message', (raw: unknown) => {
    const m = raw as ToChild;
    if (m.cmd === 'open') {
      void (async () => {
        const t0 = now();
        const filters: (string | null)[] = [];
        // half follow one container each (spread evenly), half follow everything
        for (let i = 0; i < m.count; i++) filters.push(i % 2 === 0 ? null : (m.containerIds[Math.floor(i / 2) % m.containerIds.length] as string));
        let failed = 0;
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < filters.length) {
            const f = filters[next++] as string | null;
            try {
              subs.push(await open(m.api, m.token, f));
            } catch (err) {
              failed++;
              if (failed <= 3) console.error('subscriber failed to connect:', (err as Error).message);
            }
          }
        };
        await Promise.all(Array.from({ length: 50 }, worker));
        send({ type: 'ready', connected: subs.length, failed, openMs: now() - t0 });
      })();
    } else if (m.cmd === 'collect') {
      void (async () => {
        const all = Object.values(m.expected).flat();
        const expectedFor = (s: Sub): string[] => (s.filter ? (m.expected[s.filter] ?? []) : all);
        const t0 = now();
        // wait until every subscriber has every transition it may see, or the timeout
        while (now() - t0 < m.timeoutMs && !subs.every((s) => expectedFor(s).every((id) => s.logIds.has(id)))) await new Promise((r) => setTimeout(r, 20));
        const waitedMs = now() - t0;
        await new Promise((r) => setTimeout(r, 300)); // the operation "succeeded" events and any late extras
        const totalOps = Object.values(m.opsPerContainer).reduce((a, b) => a + b, 0);
        const subscribers = subs.map((s): SubscriberReport => {
          const exp = expectedFor(s);
          const expSet = new Set(exp);
          return {
            filter: s.filter,
            transitions: s.transitions,
            expectedTransitions: exp.length,
            missingTransitions: exp.filter((id) => !s.logIds.has(id)).length,
            extraTransitions: [...s.logIds].filter((id) => !expSet.has(id)).length,
            operations: s.operations,
            expectedOperations: 2 * (s.filter ? (m.opsPerContainer[s.filter] ?? 0) : totalOps),
          };
        });
        send({ type: 'report', subscribers, lastArrival: Object.fromEntries(lastArrival), receivers: Object.fromEntries(receivers), waitedMs });
      })();
    } else {
      for (const s of subs) s.req.destroy();
      subs.length = 0;
      send({ type: 'closed' });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// the bench

const OPS = ['start', 'pause', 'resume', 'stop'] as const;
type Op = (typeof OPS)[number];
const RESULT: Record<Op, string> = { start: 'running', pause: 'paused', resume: 'running', stop: 'stopped' };

interface Phase {
  name: string;
  subscribers: number;
  latency: Record<Op, number[]>;
  /** per container, in order: the operation and the moment its answer was read */
  answers: Record<string, { op: Op; at: number }[]>;
  rssKb: { before: number; after: number };
  /** CPU time (user + system) used during the phase's operations, ms */
  cpuMs: { daemon: number; fanout: number; subscribers: number; bench: number };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
/** nearest-rank percentile */
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number);
};
const diff = (base: number, v: number): string => `${v >= base ? '+' : ''}${(((v - base) / base) * 100).toFixed(0)}%`;

/** user + system CPU time of a process so far, ms (from /proc/<pid>/stat, clock ticks of 10 ms) */
async function cpuMs(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The daemon's event fan-out process (a child running fanout-process.ts), when it has one. */
async function fanoutPid(daemonPid: number): Promise<number | undefined> {
  const children = (await readFile(`/proc/${daemonPid}/task/${daemonPid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean);
  for (const pid of children) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('fanout-process')) return Number(pid);
  }
  return undefined;
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
}

async function bench(): Promise<void> {
  const K = Number(process.argv[2] ?? 10);
  const R = Number(process.argv[3] ?? 10);
  const N = Number(process.argv[4] ?? 1000);

  const d = await startTestDaemon('sqlite');
  let child: ChildProcess | undefined;
  try {
    const call = apiClient(d.api, d.adminToken);
    const ids: string[] = [];
    for (let i = 0; i < K; i++) {
      // sh as PID 1 leaves on SIGTERM at once (a bare `sleep` would ignore it and wait out stop_timeout)
      const r = await call<{ data: { id: string } }>('POST', '/containers', {
        name: `evbench${i}`,
        container_image: 'busybox',
        command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
        autostart: false,
      });
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body)}`);
      ids.push(r.body.data.id);
    }

    const runRounds = async (phase: Phase | undefined, rounds: number): Promise<void> => {
      const fanout = await fanoutPid(d.pid);
      const cpu0 = { daemon: await cpuMs(d.pid), fanout: await cpuMs(fanout), subscribers: await cpuMs(child?.pid), bench: process.cpuUsage() };
      for (let round = 0; round < rounds; round++) {
        for (const id of ids) {
          for (const op of OPS) {
            const t0 = performance.now();
            const r = await call<{ data: { status: string } }>('POST', `/containers/${id}/${op}`);
            const t1 = performance.now();
            if (r.status !== 200 || r.body.data.status !== RESULT[op]) throw new Error(`${op} ${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
            if (phase) {
              phase.latency[op].push(t1 - t0);
              (phase.answers[id] ??= []).push({ op, at: performance.timeOrigin + t1 });
            }
          }
        }
      }
      if (phase) {
        const bench = process.cpuUsage(cpu0.bench);
        phase.cpuMs = { daemon: (await cpuMs(d.pid)) - cpu0.daemon, fanout: (await cpuMs(fanout)) - cpu0.fanout, subscribers: (await cpuMs(child?.pid)) - cpu0.subscribers, bench: (bench.user + bench.system) / 1000 };
      }
    };
    const logIds = async (id: string): Promise<{ id: string; to_status: string }[]> => {
      const out: { id: string; to_status: string }[] = [];
      for (let page = 1; ; page++) {
        const r = await call<{ data: { logs: { id: string; to_status: string }[]; pagination: { totalPages: number } } }>('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc&page=${page}`);
        out.push(...r.body.data.logs);
        if (page >= r.body.data.pagination.totalPages) return out;
      }
    };
    const newPhase = (name: string, subscribers: number): Phase => ({ name, subscribers, latency: { start: [], pause: [], resume: [], stop: [] }, answers: {}, rssKb: { before: 0, after: 0 }, cpuMs: { daemon: 0, fanout: 0, subscribers: 0, bench: 0 } });

    console.log(`daemon pid ${d.pid}; ${K} containers, ${R} rounds of ${OPS.join('→')} per phase, ${N} subscribers in the middle phase`);
    await runRounds(undefined, 1); // warm-up, not measured
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1000));

    // phase 1: no subscribers
    const p0 = newPhase('0 subscribers (before)', 0);
    await settle();
    p0.rssKb.before = await rssKb(d.pid);
    await runRounds(p0, R);
    p0.rssKb.after = await rssKb(d.pid);

    // phase 2: N subscribers
    child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, HOODY_BENCH_ROLE: 'subscribers' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const c = child;
    const ask = <T extends FromChild['type']>(m: ToChild, type: T): Promise<Extract<FromChild, { type: T }>> =>
      new Promise((resolve, reject) => {
        const onMsg = (raw: unknown): void => {
          const msg = raw as FromChild;
          if (msg.type !== type) return;
          c.off('message', onMsg);
          resolve(msg as Extract<FromChild, { type: T }>);
        };
        c.on('message', onMsg);
        c.once('exit', (code) => reject(new Error(`subscriber process exited ${code}`)));
        c.send(m);
      });
    const ready = await ask({ cmd: 'open', api: d.api, token: d.adminToken, containerIds: ids, count: N }, 'ready');
    console.log(`${ready.connected} subscribers connected in ${(ready.openMs / 1000).toFixed(1)} s (${ready.failed} failed)`);
    const p1 = newPhase(`${ready.connected} subscribers`, ready.connected);
    const before = new Map<string, Set<string>>();
    for (const id of ids) before.set(id, new Set((await logIds(id)).map((l) => l.id)));
    await settle();
    p1.rssKb.before = await rssKb(d.pid);
    await runRounds(p1, R);
    p1.rssKb.after = await rssKb(d.pid);

    // what each subscriber should have seen: the phase's new status log rows
    const expected: Record<string, string[]> = {};
    const rowsOf: Record<string, { id: string; to_status: string }[]> = {};
    for (const id of ids) {
      const seen = before.get(id) as Set<string>;
      rowsOf[id] = (await logIds(id)).filter((l) => !seen.has(l.id));
      expected[id] = rowsOf[id].map((l) => l.id);
    }
    const opsPerContainer = Object.fromEntries(ids.map((id) => [id, p1.answers[id]?.length ?? 0]));
    const report = await ask({ cmd: 'collect', expected, opsPerContainer, timeoutMs: 30_000 }, 'report');
    await ask({ cmd: 'close' }, 'closed');
    child.kill();
    child = undefined;

    // delivery lag: the i-th new row of a container is the i-th operation's transition
    const lag: number[] = [];
    let unmatched = 0;
    for (const id of ids) {
      const rows = rowsOf[id] ?? [];
      const answers = p1.answers[id] ?? [];
      if (rows.length !== answers.length) unmatched += Math.abs(rows.length - answers.length);
      for (let i = 0; i < Math.min(rows.length, answers.length); i++) {
        const row = rows[i] as { id: string; to_status: string };
        const a = answers[i] as { op: Op; at: number };
        const last = report.lastArrival[row.id];
        if (row.to_status !== RESULT[a.op] || last === undefined) {
          unmatched++;
          continue;
        }
        lag.push(last - a.at);
      }
    }

    // phase 3: no subscribers again
    await settle();
    const p2 = newPhase('0 subscribers (after)', 0);
    p2.rssKb.before = await rssKb(d.pid);
    await runRounds(p2, R);
    p2.rssKb.after = await rssKb(d.pid);

    // ------------------------------------------------------------------- the report
    const f = (x: number): string => x.toFixed(1);
    const base = (op: Op): number[] => [...p0.latency[op], ...p2.latency[op]];
    const all = (p: Phase): number[] => OPS.flatMap((op) => p.latency[op]);
    const rows: [string, number[], number[], number[], number[]][] = [
      ...OPS.map((op): [string, number[], number[], number[], number[]] => [op, p0.latency[op], p1.latency[op], p2.latency[op], base(op)]),
      ['all', all(p0), all(p1), all(p2), [...all(p0), ...all(p2)]],
    ];
    console.log(`\nHTTP latency per lifecycle operation, ms (${K} containers × ${R} rounds = ${K * R} samples per operation and phase)`);
    console.log(`| op | median 0 (before / after) | median ${N} | Δ median | p90 0 (before / after) | p90 ${N} | Δ p90 |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, a, b, c2, pooled] of rows) {
      console.log(
        `| ${name} | ${f(median(pooled))} (${f(median(a))} / ${f(median(c2))}) | ${f(median(b))} | ${diff(median(pooled), median(b))} | ${f(pct(pooled, 90))} (${f(pct(a, 90))} / ${f(pct(c2, 90))}) | ${f(pct(b, 90))} | ${diff(pct(pooled, 90), pct(b, 90))} |`,
      );
    }
    console.log('(Δ: the subscribers phase against the pooled 0-subscriber phases)');

    const subs = report.subscribers;
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const filtered = subs.filter((s) => s.filter);
    const unfiltered = subs.filter((s) => !s.filter);
    const line = (label: string, ss: SubscriberReport[]): string =>
      `| ${label} | ${ss.length} | ${sum(ss.map((s) => s.transitions))} / ${sum(ss.map((s) => s.expectedTransitions))} | ${sum(ss.map((s) => s.missingTransitions))} (${ss.filter((s) => s.missingTransitions > 0).length} subscribers) | ${sum(ss.map((s) => s.extraTransitions))} | ${sum(ss.map((s) => s.operations))} / ${sum(ss.map((s) => s.expectedOperations))} |`;
    console.log(`\nDelivery (all expected transitions in every subscriber after ${f(report.waitedMs)} ms of waiting)`);
    console.log('| subscribers | n | transitions received / expected | missing | unexpected | operation events received / expected |');
    console.log('|---|---:|---:|---:|---:|---:|');
    console.log(line('?container_id=<one>', filtered));
    console.log(line('no filter', unfiltered));
    const perSubExp = unfiltered[0]?.expectedTransitions ?? 0;
    console.log(`(each unfiltered subscriber expects ${perSubExp} transitions and ${unfiltered[0]?.expectedOperations ?? 0} operation events; each filtered one ${filtered[0]?.expectedTransitions ?? 0} and ${filtered[0]?.expectedOperations ?? 0})`);
    const recv = Object.values(report.receivers);
    console.log(`receivers per transition: min ${Math.min(...recv)}, max ${Math.max(...recv)} (should be ${unfiltered.length + filtered.length / K} each)`);
    console.log(
      `\nDelivery lag, HTTP answer → transition at the last subscriber, ms: median ${f(median(lag))}, p90 ${f(pct(lag, 90))}, max ${f(Math.max(...lag))} (${lag.length} transitions${unmatched ? `, ${unmatched} unmatched` : ''})`,
    );
    const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
    console.log('\nDaemon RSS (VmRSS)');
    for (const p of [p0, p1, p2]) console.log(`  ${p.name.padEnd(24)} before ops ${mb(p.rssKb.before)}, after ops ${mb(p.rssKb.after)}`);
    console.log('\nCPU time per lifecycle operation, ms (user + system, during the phase\'s operations)');
    for (const p of [p0, p1, p2]) {
      const n = all(p).length;
      console.log(`  ${p.name.padEnd(24)} daemon ${f(p.cpuMs.daemon / n)}, its fan-out process ${f(p.cpuMs.fanout / n)}, subscriber process ${f(p.cpuMs.subscribers / n)}, bench client ${f(p.cpuMs.bench / n)}`);
    }
    const b0 = median(all(p0).concat(all(p2)));
    const b1 = median(all(p1));
    const slow = ((b1 - b0) / b0) * 100;
    console.log(`\nTarget: ${N} subscribers slow lifecycle operations by ≤ 10% (median, all operations): ${slow.toFixed(0)}% → ${slow <= 10 ? 'met' : 'MISSED'}`);
  } finally {
    child?.kill();
    await d.cleanup();
  }
}

if (process.env.HOODY_BENCH_ROLE === 'subscribers') await subscriberProcess();
else await bench();
