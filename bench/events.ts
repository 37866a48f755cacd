/**
 * Do 1,000 connected event subscribers slow lifecycle operations? One daemon, K containers
 * (busybox, autostart false), rounds of start → pause → resume → stop on each, one HTTP
 * operation at a time, in three phases: 0 subscribers; 1,000 SSE subscribers (admin token; half
 * follow one container with ?container_id=, half follow everything); and a control, 0
 * subscribers and one process that does nothing but spin, at the lowest priority (what any busy
 * CPU costs the operations on this machine). The R rounds of each phase run in B blocks, the
 * phases taking turns in mirrored order (0, subs, spin | spin, subs, 0 | ...), so that the
 * machine getting faster or slower during the run does not fall on one phase.
 * Run as root: `npm run bench:events -- [containers=10] [rounds=10] [subscribers=1000]`.
 * HOODY_BENCH_BLOCKS (default 10, even, at most the rounds): the number of blocks.
 * Each block ends with one more round that is not timed: the fan-out paces its writing, so the
 * events of a block's last operations go out a while after their answers; the extra round keeps
 * that writing inside the block, overlapping operations as it does in steady use. The CPU
 * figures count every operation of the block, the extra round included, and the fan-out's work
 * until it has written all of them (the block waits out the longest pacing window, 1 s).
 * HOODY_BENCH_SUBSCRIBERS=quiet: every subscriber follows a container no operation touches
 * (connected, sent nothing but the heartbeat).
 * HOODY_BENCH_SUBSCRIBERS=deferred: the subscribers stop reading once connected and read what
 * they were sent after the block's operations, as clients on other machines would cost this
 * one nothing: what is left is the daemon's own work. Keep blocks small enough for a stream's
 * events to fit the client's socket buffers (one timed round per block, and the untimed one:
 * `HOODY_BENCH_BLOCKS` = rounds, an even number);
 * the report says whether any stream's bytes were held back on the daemon's side.
 *
 * The subscribers live in a child process (this file, HOODY_BENCH_ROLE=subscribers) on plain
 * TCP connections that read into one shared buffer (the cheapest client Node allows), so reading 1,000 streams does not stall the event loop that times the
 * operations; they connect anew for each block. Times are absolute (performance.timeOrigin +
 * performance.now()) so that both processes can be compared: delivery lag = the last
 * subscriber's arrival of a transition minus the moment the operation's HTTP answer was read.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setPriority } from 'node:os';
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
  /** every subscriber follows containerIds[0] (none follows everything) */
  quiet: boolean;
  /** stop reading once connected, until collect */
  deferred: boolean;
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
  | { type: 'report'; subscribers: SubscriberReport[]; lastArrival: Record<string, number>; receivers: Record<string, number>; waitedMs: number; maxBytes: number; held: Held | null }
  | { type: 'closed' };

// ---------------------------------------------------------------------------------------------
// the subscriber process

interface Sub {
  filter: string | null;
  socket: net.Socket;
  connected: boolean;
  /** bytes of the body received since the stream opened */
  bytes: number;
  logIds: Set<string>;
  transitions: number;
  operations: number;
}

/** Server-side connections (local port `port`) with bytes their peer has not taken in. */
interface Held {
  streams: number;
  maxBytes: number;
}
async function heldBack(port: number): Promise<Held> {
  const held: Held = { streams: 0, maxBytes: 0 };
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      // sl local_address rem_address st tx_queue:rx_queue ...
      const [, local, , st, queues] = line.trim().split(/\s+/);
      if (!local || st !== '01' || parseInt(local.split(':')[1] ?? '', 16) !== port) continue;
      const tx = parseInt(queues?.split(':')[0] ?? '0', 16);
      if (tx > 0) {
        held.streams++;
        held.maxBytes = Math.max(held.maxBytes, tx);
      }
    }
  }
  return held;
}

async function subscriberProcess(): Promise<void> {
  const send = (m: FromChild): void => void process.send?.(m);
  const subs: Sub[] = [];
  let deferred = false;
  let apiPort = 0;
  const lastArrival = new Map<string, number>();
  const receivers = new Map<string, number>();
  const LOG_ID = /"log":\{"id":"([^"]+)"/;

  // one read buffer for every stream: each read is turned into a string at once, in the callback
  const readBuffer = Buffer.allocUnsafe(64 * 1024);
  const open = (api: string, token: string, filter: string | null, deferred: boolean): Promise<Sub> =>
    new Promise((resolve, reject) => {
      const url = new URL(`${api}/events${filter ? `?container_id=${filter}` : ''}`);
      let buffer = '';
      const onText = (text: string): void => {
        const at = now();
        sub.bytes += text.length;
        buffer += text;
        if (!sub.connected && buffer.length >= 12 && !buffer.startsWith('HTTP/1.1 200')) {
          socket.destroy();
          reject(new Error(`GET /events answered ${buffer.slice(0, buffer.indexOf('\r'))}`));
          return;
        }
        // SSE blocks end with a blank line; the chunked framing between writes ("\r\n<size>\r\n")
        // ends up at the start of the next block, hence includes() rather than startsWith()
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!sub.connected) {
            if (!block.includes(': connected')) continue;
            sub.connected = true;
            resolve(sub);
            // leave what comes in the kernel's socket buffers until collect (with onread, pause stops reading at once)
            if (deferred) socket.pause();
          } else if (block.includes('event: transition\n')) {
            const id = LOG_ID.exec(block)?.[1];
            if (!id) continue;
            sub.transitions++;
            sub.logIds.add(id);
            receivers.set(id, (receivers.get(id) ?? 0) + 1);
            if (at > (lastArrival.get(id) ?? 0)) lastArrival.set(id, at);
          } else if (block.includes('event: operation\n')) {
            sub.operations++;
          }
        }
      };
      // a plain TCP connection read into a shared buffer: the least a client can do per read
      const socket = net.connect({
        host: url.hostname,
        port: Number(url.port),
        onread: {
          buffer: readBuffer,
          callback: (n: number, buf: Uint8Array): boolean => {
            onText(Buffer.from(buf.buffer, buf.byteOffset, n).toString('latin1'));
            return true;
          },
        },
      });
      const sub: Sub = { filter, socket, connected: false, bytes: 0, logIds: new Set(), transitions: 0, operations: 0 };
      socket.on('error', (err) => (sub.connected ? undefined : reject(err)));
      socket.on('close', () => (sub.connected ? undefined : reject(new Error('the connection closed before the stream opened'))));
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
    });

  process.on('message', (raw: unknown) => {
    const m = raw as ToChild;
    if (m.cmd === 'open') {
      deferred = m.deferred;
      apiPort = Number(new URL(m.api).port);
      void (async () => {
        const t0 = now();
        const filters: (string | null)[] = [];
        // half follow one container each (spread evenly), half follow everything
        for (let i = 0; i < m.count; i++) filters.push(i % 2 === 0 && !m.quiet ? null : (m.containerIds[Math.floor(i / 2) % m.containerIds.length] as string));
        let failed = 0;
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < filters.length) {
            const f = filters[next++] as string | null;
            try {
              subs.push(await open(m.api, m.token, f, m.deferred));
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
        // nothing was read yet: whatever the daemon could not hand to the kernel is still waiting (the
        // block waited out the longest pacing window, so no write pass is still due)
        const held = deferred ? await heldBack(apiPort) : null;
        for (const s of subs) s.socket.resume();
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
        const maxBytes = Math.max(0, ...subs.map((s) => s.bytes));
        send({ type: 'report', subscribers, lastArrival: Object.fromEntries(lastArrival), receivers: Object.fromEntries(receivers), waitedMs, maxBytes, held });
      })();
    } else {
      for (const s of subs) s.socket.destroy();
      subs.length = 0;
      lastArrival.clear();
      receivers.clear();
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
  latency: Record<Op, number[]>;
  /** daemon VmRSS before and after each block */
  rssKb: number[];
  /** CPU time (user + system) used during the phase's blocks, ms; other: the subscriber process or the busy loop */
  cpuMs: { daemon: number; fanout: number; other: number; bench: number };
  /** operations run during the phase's blocks, timed or not (what cpuMs is divided by) */
  cpuOps: number;
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

function wholeNumber(value: string | undefined, fallback: number, what: string): number {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive whole number, not "${value ?? fallback}"`);
  return n;
}

/** The longest a paced write pass of the fan-out can be put off (SseFanout's maxWindowMs), plus a margin. */
const PACING_MAX_MS = 1_100;

async function bench(): Promise<void> {
  const K = wholeNumber(process.argv[2], 10, 'containers');
  const R = wholeNumber(process.argv[3], 10, 'rounds');
  const N = wholeNumber(process.argv[4], 1000, 'subscribers');
  if (R < 2) throw new Error('rounds must be at least 2 (the phases take turns in pairs of blocks)');
  const B = wholeNumber(process.env.HOODY_BENCH_BLOCKS, Math.min(10, R - (R % 2)), 'HOODY_BENCH_BLOCKS');
  // mirrored order balances only over pairs of blocks
  if (B % 2 !== 0 || B > R) throw new Error(`HOODY_BENCH_BLOCKS must be even and at most the rounds (${R}), not ${B}`);
  // quiet: every subscriber follows a container no operation touches (connected, sent nothing)
  const quiet = process.env.HOODY_BENCH_SUBSCRIBERS === 'quiet';
  const deferred = process.env.HOODY_BENCH_SUBSCRIBERS === 'deferred';

  // one user holds every subscriber here: lift the per-user cap on open streams
  const d = await startTestDaemon('sqlite', { HOODY_MAX_EVENT_STREAMS_PER_USER: String(N + 10) });
  let child: ChildProcess | undefined;
  let spinner: ChildProcess | undefined;
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
    let followed = ids;
    if (quiet) {
      const r = await call<{ data: { id: string } }>('POST', '/containers', { name: 'evbench-quiet', container_image: 'busybox', command: ['true'], autostart: false });
      followed = [r.body.data.id];
    }

    // the subscriber process, started once; it opens the N streams for each block and closes them after
    child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, HOODY_BENCH_ROLE: 'subscribers' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const c = child;
    const ask = <T extends FromChild['type']>(m: ToChild, type: T): Promise<Extract<FromChild, { type: T }>> =>
      new Promise((resolve, reject) => {
        const onExit = (code: number | null): void => reject(new Error(`subscriber process exited ${code}`));
        const onMsg = (raw: unknown): void => {
          const msg = raw as FromChild;
          if (msg.type !== type) return;
          c.off('message', onMsg);
          c.off('exit', onExit);
          resolve(msg as Extract<FromChild, { type: T }>);
        };
        c.on('message', onMsg);
        c.once('exit', onExit);
        c.send(m);
      });

    /**
     * Runs `rounds` timed rounds and, for a phase, one more untimed (see the top of the file);
     * adds latencies and CPU to the phase; answers per container, in order.
     */
    const runRounds = async (phase: Phase | undefined, rounds: number, other?: { pid: number; untilWritten: boolean }): Promise<Record<string, { op: Op; at: number }[]>> => {
      const answers: Record<string, { op: Op; at: number }[]> = {};
      const fanout = await fanoutPid(d.pid);
      if (phase) phase.rssKb.push(await rssKb(d.pid));
      const cpu0 = { daemon: await cpuMs(d.pid), fanout: await cpuMs(fanout), other: await cpuMs(other?.pid), bench: process.cpuUsage() };
      const total = phase ? rounds + 1 : rounds;
      for (let round = 0; round < total; round++) {
        for (const id of ids) {
          for (const op of OPS) {
            const t0 = performance.now();
            const r = await call<{ data: { status: string } }>('POST', `/containers/${id}/${op}`);
            const t1 = performance.now();
            if (r.status !== 200 || r.body.data.status !== RESULT[op]) throw new Error(`${op} ${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
            if (round < rounds) phase?.latency[op].push(t1 - t0);
            (answers[id] ??= []).push({ op, at: performance.timeOrigin + t1 });
          }
        }
      }
      if (phase) {
        // a busy loop's CPU counts while operations run; the subscribers' until they have read what is written
        if (other && !other.untilWritten) phase.cpuMs.other += (await cpuMs(other.pid)) - cpu0.other;
        // the fan-out's last paced pass of the block comes at most PACING_MAX_MS after the last event;
        // then its CPU time stops growing (clock ticks of 10 ms: read until two readings agree)
        await new Promise((r) => setTimeout(r, PACING_MAX_MS));
        let fanoutCpu = await cpuMs(fanout);
        for (let i = 0; i < 20; i++) {
          await new Promise((r) => setTimeout(r, 100));
          const again = await cpuMs(fanout);
          if (again === fanoutCpu) break;
          fanoutCpu = again;
        }
        phase.cpuOps += total * ids.length * OPS.length;
        const bench = process.cpuUsage(cpu0.bench);
        phase.cpuMs.daemon += (await cpuMs(d.pid)) - cpu0.daemon;
        phase.cpuMs.fanout += fanoutCpu - cpu0.fanout;
        if (other?.untilWritten) phase.cpuMs.other += (await cpuMs(other.pid)) - cpu0.other;
        phase.cpuMs.bench += (bench.user + bench.system) / 1000;
        phase.rssKb.push(await rssKb(d.pid));
      }
      return answers;
    };
    const logIds = async (id: string): Promise<{ id: string; to_status: string }[]> => {
      const out: { id: string; to_status: string }[] = [];
      for (let page = 1; ; page++) {
        const r = await call<{ data: { logs: { id: string; to_status: string }[]; pagination: { totalPages: number } } }>('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc&page=${page}`);
        out.push(...r.body.data.logs);
        if (page >= r.body.data.pagination.totalPages) return out;
      }
    };
    const newPhase = (name: string): Phase => ({ name, latency: { start: [], pause: [], resume: [], stop: [] }, rssKb: [], cpuMs: { daemon: 0, fanout: 0, other: 0, bench: 0 }, cpuOps: 0 });
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 500));

    const none = newPhase('0 subscribers');
    const subs = newPhase(`${N} subscribers`);
    const spin = newPhase('busy loop (control)');
    const delivery: SubscriberReport[] = [];
    const lag: number[] = [];
    const receivers: number[] = [];
    const connectMs: number[] = [];
    let maxBytes = 0;
    const held: Held = { streams: 0, maxBytes: 0 };
    let unmatched = 0;
    let failed = 0;

    /** One block with the subscribers connected: open, run, check what each received, close. */
    const subscribed = async (rounds: number): Promise<void> => {
      const ready = await ask({ cmd: 'open', api: d.api, token: d.adminToken, containerIds: followed, count: N, quiet, deferred }, 'ready');
      connectMs.push(ready.openMs);
      failed += ready.failed;
      const before = new Map<string, Set<string>>();
      for (const id of ids) before.set(id, new Set((await logIds(id)).map((l) => l.id)));
      await settle();
      const answers = await runRounds(subs, rounds, child?.pid === undefined ? undefined : { pid: child.pid, untilWritten: true });
      // what each subscriber should have seen: the block's new status log rows
      const expected: Record<string, string[]> = {};
      const rowsOf: Record<string, { id: string; to_status: string }[]> = {};
      for (const id of ids) {
        const seen = before.get(id) as Set<string>;
        rowsOf[id] = (await logIds(id)).filter((l) => !seen.has(l.id));
        expected[id] = rowsOf[id].map((l) => l.id);
      }
      const opsPerContainer = Object.fromEntries(ids.map((id) => [id, answers[id]?.length ?? 0]));
      const report = await ask({ cmd: 'collect', expected, opsPerContainer, timeoutMs: 30_000 }, 'report');
      await ask({ cmd: 'close' }, 'closed');
      delivery.push(...report.subscribers);
      maxBytes = Math.max(maxBytes, report.maxBytes);
      held.streams += report.held?.streams ?? 0;
      held.maxBytes = Math.max(held.maxBytes, report.held?.maxBytes ?? 0);
      receivers.push(...Object.values(report.receivers));
      // delivery lag: the i-th new row of a container is the i-th operation's transition
      for (const id of ids) {
        const rows = rowsOf[id] ?? [];
        const answered = answers[id] ?? [];
        if (rows.length !== answered.length) unmatched += Math.abs(rows.length - answered.length);
        for (let i = 0; i < Math.min(rows.length, answered.length); i++) {
          const row = rows[i] as { id: string; to_status: string };
          const a = answered[i] as { op: Op; at: number };
          const last = report.lastArrival[row.id];
          if (row.to_status !== RESULT[a.op] || last === undefined) {
            unmatched++;
            continue;
          }
          lag.push(last - a.at);
        }
      }
    };
    /** One block of the control: a process that only spins, at the lowest priority. */
    const spinning = async (rounds: number): Promise<void> => {
      spinner = spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' });
      const pid = spinner.pid as number;
      setPriority(pid, 19);
      try {
        await settle();
        await runRounds(spin, rounds, { pid, untilWritten: false });
      } finally {
        spinner.kill('SIGKILL');
        spinner = undefined;
      }
    };

    console.log(`daemon pid ${d.pid}; ${K} containers; ${R} rounds of ${OPS.join('→')} per phase in ${B} blocks; ${N} subscribers${quiet ? ', all following a container no operation touches' : deferred ? ', reading only after each block' : ''}`);
    await runRounds(undefined, 1); // warm-up, not measured
    for (let b = 0; b < B; b++) {
      // the phases take turns in blocks, in mirrored order, so that a drift of the machine's speed during the run weighs on each alike
      const rounds = Math.floor(((b + 1) * R) / B) - Math.floor((b * R) / B);
      const order = b % 2 === 0 ? (['none', 'subs', 'spin'] as const) : (['spin', 'subs', 'none'] as const);
      for (const phase of order) {
        if (phase === 'subs') await subscribed(rounds);
        else if (phase === 'spin') await spinning(rounds);
        else {
          await settle();
          await runRounds(none, rounds);
        }
      }
    }

    // ------------------------------------------------------------------- the report
    const f = (x: number): string => x.toFixed(1);
    const all = (p: Phase): number[] => OPS.flatMap((op) => p.latency[op]);
    const rows: [string, number[], number[], number[]][] = [...OPS.map((op): [string, number[], number[], number[]] => [op, none.latency[op], subs.latency[op], spin.latency[op]]), ['all', all(none), all(subs), all(spin)]];
    console.log(`\nHTTP latency per lifecycle operation, ms (${K} containers × ${R} rounds = ${K * R} samples per operation and phase)`);
    console.log(`| op | median 0 | median ${N} | Δ median | p90 0 | p90 ${N} | Δ p90 | median busy loop | Δ median |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const [name, a, b, sp] of rows) {
      console.log(`| ${name} | ${f(median(a))} | ${f(median(b))} | ${diff(median(a), median(b))} | ${f(pct(a, 90))} | ${f(pct(b, 90))} | ${diff(pct(a, 90), pct(b, 90))} | ${f(median(sp))} | ${diff(median(a), median(sp))} |`);
    }
    console.log('(Δ: against 0 subscribers; busy loop: 0 subscribers and one process spinning at niceness 19)');

    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const filtered = delivery.filter((s) => s.filter);
    const unfiltered = delivery.filter((s) => !s.filter);
    const line = (label: string, ss: SubscriberReport[]): string =>
      `| ${label} | ${ss.length} | ${sum(ss.map((s) => s.transitions))} / ${sum(ss.map((s) => s.expectedTransitions))} | ${sum(ss.map((s) => s.missingTransitions))} (${ss.filter((s) => s.missingTransitions > 0).length} streams) | ${sum(ss.map((s) => s.extraTransitions))} | ${sum(ss.map((s) => s.operations))} / ${sum(ss.map((s) => s.expectedOperations))} |`;
    console.log(`\nDelivery: ${B} times ${N} streams (connected in ${connectMs.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s; ${failed} failed)`);
    console.log('| streams | n | transitions received / expected | missing | unexpected | operation events received / expected |');
    console.log('|---|---:|---:|---:|---:|---:|');
    console.log(line('?container_id=<one>', filtered));
    console.log(line('no filter', unfiltered));
    console.log(`most bytes one stream received in a block: ${(maxBytes / 1024).toFixed(1)} KiB`);
    if (deferred) console.log(`streams whose bytes the kernel still held on the daemon's side when the subscribers began to read: ${held.streams} (most ${held.maxBytes} bytes; 0: the fan-out wrote everything as it came)`);
    if (quiet) console.log(`transitions received by the quiet subscribers: ${receivers.length} (should be 0)`);
    else if (deferred) console.log(`receivers per transition: min ${Math.min(...receivers)}, max ${Math.max(...receivers)} (should be ${N / 2 + N / 2 / K} each); delivery lag not measured (the subscribers read after each block)`);
    else {
      console.log(`receivers per transition: min ${Math.min(...receivers)}, max ${Math.max(...receivers)} (should be ${N / 2 + N / 2 / K} each)`);
      console.log(`\nDelivery lag, HTTP answer → transition at the last subscriber, ms: median ${f(median(lag))}, p90 ${f(pct(lag, 90))}, max ${f(Math.max(...lag))} (${lag.length} transitions${unmatched ? `, ${unmatched} unmatched` : ''})`);
    }
    const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
    console.log('\nDaemon RSS (VmRSS, before and after each block): min, max');
    for (const p of [none, subs, spin]) console.log(`  ${p.name.padEnd(22)} ${mb(Math.min(...p.rssKb))}, ${mb(Math.max(...p.rssKb))}`);
    console.log("\nCPU time per lifecycle operation, ms (user + system, during the phase's blocks, untimed rounds included)");
    for (const p of [none, subs, spin]) {
      const n = p.cpuOps;
      const other = p === subs ? `, subscriber process ${f(p.cpuMs.other / n)}` : p === spin ? `, busy loop ${f(p.cpuMs.other / n)}` : '';
      console.log(`  ${p.name.padEnd(22)} daemon ${f(p.cpuMs.daemon / n)}, its fan-out process ${f(p.cpuMs.fanout / n)}${other}, bench client ${f(p.cpuMs.bench / n)}`);
    }
    const slow = (op: Op | 'all'): number => {
      const [a, b] = op === 'all' ? [all(none), all(subs)] : [none.latency[op], subs.latency[op]];
      return ((median(b) - median(a)) / median(a)) * 100;
    };
    const worst = Math.max(...OPS.map(slow));
    console.log(`\nTarget: ${N} subscribers slow lifecycle operations by ≤ 10% (median): all operations ${slow('all').toFixed(0)}% → ${slow('all') <= 10 ? 'met' : 'MISSED'}; each operation ${OPS.map((op) => `${op} ${slow(op).toFixed(0)}%`).join(', ')} → ${worst <= 10 ? 'met' : 'MISSED'}`);
  } finally {
    spinner?.kill('SIGKILL');
    child?.kill();
    await d.cleanup();
  }
}

if (process.env.HOODY_BENCH_ROLE === 'subscribers') await subscriberProcess();
else await bench();
