/**
 * The kit: a `hoody_kit` container's display (Xvnc, relayed by the service router) and its shared
 * terminals, against a real daemon, runc and Xvnc, each next to its floor in the same run. Run as
 * root:
 *
 *   node --import tsx bench/kit.ts [seconds=10]
 *
 * The daemon runs with its router (`HOODY_PROXY_PORT=0`, domain apps.localhost); a busybox kit
 * container gets `ico` and `xsetroot` and their libraries copied from this machine into /opt/x, run
 * through the copied dynamic loader. The display's clients here are a minimal RFB 3.8 client of this file
 * (security None, shared, 32 bpp true colour, Raw encoding only: no cursor pseudo-encoding, so
 * Xvnc draws the pointer into the framebuffer), one incremental whole-screen request outstanding
 * at a time, every FramebufferUpdate parsed to its end.
 *
 * 1. Frame rate: `ico` animating; updates and bytes per second per viewer over `seconds`, through
 *    the router's WebSocket (what the display page uses), directly on Xvnc's unix socket (the
 *    floor: no daemon in between), and with 3 viewers through the router; CPU of the daemon, of
 *    Xvnc (its cgroup), of the container (ico) and of this process (the clients).
 * 2. Input latency: no animation; a PointerEvent to one of two positions in turn, timed until the
 *    first FramebufferUpdate whose rectangles cover the new position (Xvnc redraws the pointer
 *    there); router vs direct. Xvnc's root window starts with an empty cursor, which it does not
 *    draw: `xsetroot -cursor_name left_ptr` gives it one first.
 * 3. Memory per display: 5 new kit containers, each display's cgroup memory (runtime_info) and its
 *    Xvnc's RSS and Private_Dirty (smaps_rollup), idle, with one viewer that has read a whole
 *    frame, and after it left.
 * 4. Terminal fan-out: a command in terminal-1 (shared, through the router) with 1 and with 10
 *    clients, next to a session of one client (the API's terminal WebSocket) and to `runc exec -t`
 *    on a pty in this process (the floor); from typing Enter until the command's last line has
 *    reached every client, the shell's own time (read from /proc/uptime around the command inside
 *    the container), MB/s per client and CPU. Clients answer the shell's cursor-position query
 *    where the daemon does not (in a shared session it answers it itself).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFile, rmdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import WebSocket from 'ws';
import { apiClient, startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';
import { Pty } from '../src/runtime/pty.ts';
import { cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';
import { CgroupPaths, detectCgroupLayout, removeCgroupDirs, type CgroupLayout } from '../src/runtime/cgroups.ts';
import { DisplayServers } from '../src/runtime/display.ts';
import { median } from './proc-util.ts';
import { xProgramsTarball } from '../test/x-programs.ts';

const seconds = Number(process.argv[2] ?? 10);
const MOVES = 200;
const DISPLAYS = 5;
const FAN_OUT = 10;
const COLS = 120;
const ROWS = 40;
const ANIMATION = 'ico -faces -sleep 0.016';
const COMMANDS = [
  // seq writes line by line; base64 in blocks. Bytes the terminal shows (ONLCR: \r\n per line).
  { name: 'seq 1 300000', cmd: 'seq 1 300000', bytes: seqBytes(300_000) },
  { name: 'head -c 20000000 /dev/zero | base64 -w 120', cmd: 'head -c 20000000 /dev/zero | base64 -w 120', bytes: base64Bytes(20_000_000, 120) },
];
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const tag = randomBytes(3).toString('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** busybox ash's prompt: with the cursor-position query it sends after it, or redrawn once the answer came. */
const PROMPT = /[#$] (\x1b\[6n|\x1b\[J)?$/; // eslint-disable-line no-control-regex

function seqBytes(n: number): number {
  let total = 0;
  for (let digits = 1, from = 1; from <= n; digits++, from *= 10) total += (Math.min(n, from * 10 - 1) - from + 1) * (digits + 2);
  return total;
}
function base64Bytes(input: number, width: number): number {
  const chars = Math.ceil(input / 3) * 4;
  return chars + Math.ceil(chars / width) * 2;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);

// ---------------------------------------------------------------- CPU and memory of processes

/** utime + stime of a process (every thread), in ms. */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** RSS and Private_Dirty of a process, in MB. */
async function smaps(pid: number): Promise<{ rss: number; dirty: number }> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('Rss') / 1024, dirty: kb('Private_Dirty') / 1024 };
}

/** CPU time the whole machine spent busy (every core, idle and iowait left out), in ms. */
async function machineBusyMs(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = t.reduce((a, b) => a + b, 0) - (t[3] ?? 0) - (t[4] ?? 0);
  return (busy * 1000) / CLK_TCK;
}

type Meter = Record<string, () => Promise<number>>;

/** CPU of each metered thing over `work`, in % of one core. */
async function cpuOver<T>(meter: Meter, work: () => Promise<T>): Promise<{ result: T; cpu: Record<string, number>; wallMs: number }> {
  const names = Object.keys(meter);
  const before = await Promise.all(names.map((n) => (meter[n] as () => Promise<number>)()));
  const t0 = performance.now();
  const result = await work();
  const wallMs = performance.now() - t0;
  const after = await Promise.all(names.map((n) => (meter[n] as () => Promise<number>)()));
  const cpu: Record<string, number> = {};
  names.forEach((n, i) => (cpu[n] = (((after[i] as number) - (before[i] as number)) / wallMs) * 100));
  return { result, cpu, wallMs };
}

const selfCpuMs = async (): Promise<number> => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---------------------------------------------------------------- a minimal RFB 3.8 client

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

type RfbState = 'version' | 'nsec' | 'sec' | 'secres' | 'init' | 'name' | 'msg' | 'fbu' | 'rect' | 'cmap' | 'cut';

/**
 * Speaks RFB 3.8 over whatever carries its bytes: security None, ClientInit shared, 32 bpp true
 * colour, Raw only. Counts bytes and FramebufferUpdates; `auto` asks for the next incremental
 * update as soon as one has been read to its end.
 */
class Rfb {
  width = 0;
  height = 0;
  updates = 0;
  bytes = 0;
  auto = false;
  error: Error | undefined;
  readonly ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (err: Error) => void;
  private readonly listeners = new Set<(rects: Rect[]) => void>();
  private state: RfbState = 'version';
  private need = 12;
  private have = 0;
  private head = Buffer.alloc(64);
  private skip = 0;
  private afterSkip: () => void = () => undefined;
  private rectsLeft = 0;
  private rects: Rect[] = [];

  constructor(
    private readonly write: (b: Buffer) => void,
    readonly close: () => void,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
  }

  push(chunk: Buffer): void {
    if (this.error) return;
    this.bytes += chunk.length;
    try {
      let off = 0;
      while (off < chunk.length) {
        if (this.skip > 0) {
          const n = Math.min(this.skip, chunk.length - off);
          this.skip -= n;
          off += n;
          if (this.skip === 0) this.afterSkip();
          continue;
        }
        const n = Math.min(this.need - this.have, chunk.length - off);
        chunk.copy(this.head, this.have, off, off + n);
        this.have += n;
        off += n;
        if (this.have === this.need) {
          this.have = 0;
          this.handle(this.head.subarray(0, this.need));
        }
      }
    } catch (err) {
      this.fail(err as Error);
    }
  }

  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.readyReject(err);
    this.close();
  }

  /** Waits for the next update that satisfies `test` (any update when absent). */
  next(test: (rects: Rect[]) => boolean = () => true, timeoutMs = 10_000): Promise<{ rects: Rect[]; at: number } | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.listeners.delete(l);
        resolve(undefined);
      }, timeoutMs);
      const l = (rects: Rect[]): void => {
        if (!test(rects)) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve({ rects, at: performance.now() });
      };
      this.listeners.add(l);
    });
  }

  /** Calls `l` on every update until the returned function is called. */
  onUpdate(l: (rects: Rect[]) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  request(incremental: boolean): void {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b[1] = incremental ? 1 : 0;
    b.writeUInt16BE(this.width, 6);
    b.writeUInt16BE(this.height, 8);
    this.write(b);
  }

  pointer(x: number, y: number, mask = 0): void {
    const b = Buffer.alloc(6);
    b[0] = 5;
    b[1] = mask;
    b.writeUInt16BE(x, 2);
    b.writeUInt16BE(y, 4);
    this.write(b);
  }

  private expect(n: number, state: RfbState): void {
    this.state = state;
    this.need = n;
    this.have = 0;
    if (n > this.head.length) this.head = Buffer.alloc(n);
    if (n === 0) this.handle(Buffer.alloc(0));
  }

  private skipThen(n: number, then: () => void): void {
    if (n === 0) return then();
    this.skip = n;
    this.afterSkip = then;
  }

  private handle(h: Buffer): void {
    switch (this.state) {
      case 'version':
        if (h.toString('latin1') !== 'RFB 003.008\n') throw new Error(`not RFB 3.8: ${JSON.stringify(h.toString('latin1'))}`);
        this.write(Buffer.from('RFB 003.008\n', 'latin1'));
        return this.expect(1, 'nsec');
      case 'nsec':
        if (h[0] === 0) throw new Error('the server refused the connection');
        return this.expect(h[0] as number, 'sec');
      case 'sec':
        if (!h.includes(1)) throw new Error(`no security type None among ${[...h].join(',')}`);
        this.write(Buffer.from([1]));
        return this.expect(4, 'secres');
      case 'secres':
        if (h.readUInt32BE(0) !== 0) throw new Error('security handshake failed');
        this.write(Buffer.from([1])); // ClientInit: shared
        return this.expect(24, 'init');
      case 'init':
        this.width = h.readUInt16BE(0);
        this.height = h.readUInt16BE(2);
        return this.expect(h.readUInt32BE(20), 'name');
      case 'name': {
        // SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits per channel
        const pf = Buffer.alloc(20);
        pf[0] = 0;
        pf[4] = 32;
        pf[5] = 24;
        pf[6] = 0;
        pf[7] = 1;
        pf.writeUInt16BE(255, 8);
        pf.writeUInt16BE(255, 10);
        pf.writeUInt16BE(255, 12);
        pf[14] = 16;
        pf[15] = 8;
        pf[16] = 0;
        // SetEncodings: Raw only
        const enc = Buffer.alloc(8);
        enc[0] = 2;
        enc.writeUInt16BE(1, 2);
        enc.writeInt32BE(0, 4);
        this.write(Buffer.concat([pf, enc]));
        this.expect(1, 'msg');
        this.readyResolve();
        this.request(false);
        return;
      }
      case 'msg':
        switch (h[0]) {
          case 0:
            return this.expect(3, 'fbu');
          case 1:
            return this.expect(5, 'cmap');
          case 2:
            return this.expect(1, 'msg'); // Bell
          case 3:
            return this.expect(7, 'cut');
          default:
            throw new Error(`unexpected server message type ${h[0]}`);
        }
      case 'fbu':
        this.rectsLeft = h.readUInt16BE(1);
        this.rects = [];
        if (this.rectsLeft === 0) return this.updated();
        return this.expect(12, 'rect');
      case 'rect': {
        const r = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6) };
        const encoding = h.readInt32BE(8);
        if (encoding !== 0) throw new Error(`unexpected encoding ${encoding} (only Raw was asked for)`);
        this.rects.push(r);
        this.state = 'rect';
        this.need = 12;
        return this.skipThen(r.w * r.h * 4, () => {
          if (--this.rectsLeft === 0) this.updated();
          else this.expect(12, 'rect');
        });
      }
      case 'cmap':
        return this.skipThen(h.readUInt16BE(3) * 6, () => this.expect(1, 'msg'));
      case 'cut':
        return this.skipThen(h.readUInt32BE(3), () => this.expect(1, 'msg'));
    }
  }

  private updated(): void {
    this.updates++;
    this.expect(1, 'msg');
    if (this.auto) this.request(true);
    for (const l of [...this.listeners]) l(this.rects);
  }
}

/** A viewer through the router's display WebSocket, as the display page connects. */
async function viaRouter(router: string, host: string, cookie: string): Promise<Rfb> {
  const ws = new WebSocket(`${router.replace('http', 'ws')}/__hoody/display`, ['binary'], { headers: { host, cookie }, perMessageDeflate: false });
  const rfb = new Rfb(
    (b) => ws.send(b),
    () => ws.terminate(),
  );
  ws.on('message', (data: Buffer) => rfb.push(data));
  ws.on('error', (err) => rfb.fail(err));
  ws.on('close', () => rfb.fail(new Error('the WebSocket closed')));
  ws.on('unexpected-response', (_req, res) => rfb.fail(new Error(`upgrade refused: ${res.statusCode}`)));
  await rfb.ready;
  return rfb;
}

/** A viewer on Xvnc's unix socket itself: no daemon in between. */
async function direct(socketPath: string): Promise<Rfb> {
  const s = connect(socketPath);
  const rfb = new Rfb(
    (b) => void s.write(b),
    () => s.destroy(),
  );
  s.on('data', (b: Buffer) => rfb.push(b));
  s.on('error', (err) => rfb.fail(err));
  s.on('close', () => rfb.fail(new Error('the socket closed')));
  await rfb.ready;
  return rfb;
}

/** Each viewer asks for updates as they come; after the first whole frame and a second's warm-up, updates and bytes over `seconds`. */
async function frameRate(viewers: Rfb[]): Promise<{ ups: number; mbps: number }[]> {
  for (const v of viewers) {
    v.auto = true;
    v.request(true);
  }
  await sleep(1000);
  const before = viewers.map((v) => ({ u: v.updates, b: v.bytes }));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  const out = viewers.map((v, i) => ({ ups: (v.updates - (before[i] as { u: number }).u) / s, mbps: (v.bytes - (before[i] as { b: number }).b) / s / 1e6 }));
  for (const v of viewers) if (v.error) throw new Error(`a viewer failed: ${v.error.message}`);
  return out;
}

const covers = (r: Rect, x: number, y: number): boolean => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;

/** PointerEvents to two positions in turn; the time until an update covering the new position arrives. */
async function pointerLatency(rfb: Rfb, moves: number): Promise<{ ms: number[]; missed: number }> {
  rfb.auto = false;
  const positions = [
    [240, 200],
    [880, 560],
  ] as const;
  const ms: number[] = [];
  let missed = 0;
  // the whole first frame, then quiet
  await rfb.next(() => true, 5000);
  for (let i = 0; i < moves + 5; i++) {
    // one incremental request outstanding, and nothing else changing on the screen
    for (let tries = 0; tries < 5; tries++) {
      rfb.request(true);
      const stray = await rfb.next(() => true, 25 + Math.random() * 10);
      if (!stray) break;
    }
    const [x, y] = positions[i % 2] as readonly [number, number];
    const t0 = performance.now();
    const seen = rfb.next((rects) => rects.some((r) => covers(r, x, y)), 1000);
    rfb.pointer(x, y);
    // an update that does not cover the new position (the old pointer's area alone) asks again
    const off = rfb.onUpdate((rects) => {
      if (!rects.some((r) => covers(r, x, y))) rfb.request(true);
    });
    const got = await seen;
    off();
    if (i < 5) continue; // warm-up
    if (got) ms.push(got.at - t0);
    else if (++missed >= 10) break; // the pointer is not drawn: no use waiting for the rest
  }
  if (rfb.error) throw rfb.error;
  return { ms, missed };
}

// ---------------------------------------------------------------- terminal clients

/** A terminal client: its bytes, the command's end marker, and the shell's own time it carries. */
class Term {
  bytes = 0;
  found: { at: number; shellMs: number; bytes: number } | undefined;
  private marker: Buffer | undefined;
  private tail = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  /** The last bytes shown, as text. */
  recent = '';
  private prompted = false;
  private promptSeen: (() => void) | undefined;

  constructor(
    readonly send: (b: Buffer) => void,
    readonly close: () => Promise<void>,
    /** Answers the shell's cursor-position query itself (a shared session's daemon answers it). */
    private readonly answersCpr: boolean,
  ) {}

  data(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.answersCpr && chunk.includes('\x1b[6n')) this.send(Buffer.from('\x1b[1;1R'));
    this.recent = (this.recent + chunk.subarray(-200).toString('latin1')).slice(-200);
    if (!this.prompted) {
      if (PROMPT.test(this.recent)) {
        this.prompted = true;
        this.promptSeen?.();
      }
    }
    if (!this.marker || this.found) return;
    const hay = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    for (let at = hay.indexOf(this.marker); at >= 0; at = hay.indexOf(this.marker, at + 1)) {
      const text = hay.subarray(at, at + 64).toString('latin1');
      const line = /^[A-Z]\d+Z:(\d+\.\d+):(\d+\.\d+)\r?\n/.exec(text);
      if (line) {
        this.found = { at: performance.now(), shellMs: (Number(line[2]) - Number(line[1])) * 1000, bytes: this.bytes };
        this.wake?.();
        return;
      }
      // not complete yet: kept in the tail for the next chunk (else it is the echoed command, `$a` where the numbers will be)
      if (!text.includes('\n') && at + 64 > hay.length) break;
    }
    this.tail = Buffer.from(hay.subarray(Math.max(0, hay.length - 64)));
  }

  /** Waits for the shell's prompt: what is typed before it may be read as the answer to its cursor query. */
  prompt(timeoutMs = 30_000): Promise<void> {
    if (this.prompted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no prompt within ${timeoutMs} ms: ${JSON.stringify(this.recent)}`)), timeoutMs);
      this.promptSeen = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Starts looking for `<marker>:<uptime>:<uptime>` and counting bytes anew. */
  watch(marker: string): void {
    this.marker = Buffer.from(`${marker}:`);
    this.found = undefined;
    this.tail = Buffer.alloc(0);
    this.bytes = 0;
  }

  /** Whether the marker has been seen. */
  get seen(): boolean {
    return this.found !== undefined;
  }

  async until(timeoutMs: number): Promise<void> {
    if (this.found) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${this.marker?.toString()} within ${timeoutMs} ms (${this.bytes} bytes seen, ending ${JSON.stringify(this.recent)})`)), timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function termOverWebSocket(url: string, headers: Record<string, string>, answersCpr: boolean): Promise<Term> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['hoody.terminal'], { headers, perMessageDeflate: false });
    const t = new Term(
      (b) => ws.send(b),
      () =>
        new Promise((done) => {
          if (ws.readyState === WebSocket.CLOSED) return done();
          ws.once('close', () => done());
          ws.close();
        }),
      answersCpr,
    );
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) t.data(data);
    });
    ws.once('open', () => resolve(t));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

/** `runc exec -t` on a pty in this process: the floor, without the daemon or a WebSocket. */
async function termFloor(d: DaemonHandle, id: string): Promise<Term> {
  const pty = await Pty.open(COLS, ROWS);
  const child = spawn('/usr/sbin/runc', ['--root', join(d.dataDir, 'runtime', 'runc'), 'exec', '-t', '--env', 'TERM=xterm-256color', id, 'sh'], { stdio: [pty.slave, pty.slave, pty.slave], detached: true });
  child.once('exit', () => pty.finishOutput());
  const t = new Term(
    (b) => void pty.write(b).catch(() => undefined),
    async () => {
      await pty.write(Buffer.from('exit\r')).catch(() => undefined);
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      pty.close();
    },
    true,
  );
  pty.output.on('data', (b: Buffer) => t.data(b));
  return t;
}

let runNo = 0;

/** The shell answers a marker: every client has seen it (the session is ready, earlier output drained). */
async function settle(typist: Term, clients: Term[]): Promise<void> {
  const m = `R${++runNo}Z`;
  for (const c of clients) c.watch(m);
  // typed again when unanswered: a shell just started may still take what is typed for its terminal's answer
  for (let tries = 0; tries < 6 && !clients.every((c) => c.seen); tries++) {
    if (tries > 0) console.error(`(no answer to the ready marker in 5 s, typed again; the terminal shows ${JSON.stringify(typist.recent.slice(-80))})`);
    typist.send(Buffer.from(`echo ${m}:$((1)).0:$((1)).0\r`));
    for (const deadline = performance.now() + 5000; performance.now() < deadline && !clients.every((c) => c.seen); ) await sleep(20);
  }
  await Promise.all(clients.map((c) => c.until(1000)));
  await sleep(300);
}

interface TermResult {
  shellMs: number;
  lastMs: number;
  mbps: number[];
  minBytes: number;
  cpu: Record<string, number>;
}

/** Types the command in the typist's terminal and waits until every client has its last line. */
async function timedCommand(typist: Term, clients: Term[], cmd: string, meter: Meter): Promise<TermResult> {
  await settle(typist, clients);
  const m = `E${++runNo}Z`;
  for (const c of clients) c.watch(m);
  let t0 = 0;
  const { cpu } = await cpuOver(meter, async () => {
    t0 = performance.now();
    typist.send(Buffer.from(`read a b </proc/uptime; ${cmd}; read c d </proc/uptime; echo ${m}:$a:$c\r`));
    await Promise.all(clients.map((c) => c.until(180_000)));
  });
  const found = clients.map((c) => c.found as NonNullable<Term['found']>);
  return {
    shellMs: (found[0] as { shellMs: number }).shellMs,
    lastMs: Math.max(...found.map((f) => f.at - t0)),
    mbps: found.map((f) => f.bytes / ((f.at - t0) / 1000) / 1e6),
    minBytes: Math.min(...found.map((f) => f.bytes)),
    cpu,
  };
}

// ---------------------------------------------------------------- the kit container's set-up


// ---------------------------------------------------------------- the run

if (process.getuid?.() !== 0) throw new Error('run as root (runc, cgroups, the display socket)');
const started = performance.now();
const load0 = loadavg()[0] as number;
console.log(`kit bench: ${seconds} s windows, ${MOVES} pointer moves, ${DISPLAYS} displays, ${FAN_OUT} terminal clients; load average ${f2(load0)}; ${new Date().toISOString()}`);

const d = await startTestDaemon('sqlite', { HOODY_PROXY_PORT: '0', HOODY_PROXY_DOMAIN: 'apps.localhost' });
const call = apiClient(d.api, d.adminToken);
const prefix = cgroupPrefixFor(d.dataDir);
const layout: CgroupLayout = await detectCgroupLayout();
const displayRoot = join('/run/hoody', prefix, 'displays');
const created: string[] = [];
let cleaned: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaned ??= (async () => {
    // the kit containers stop first: their displays with them
    await Promise.allSettled(created.map((id) => call('POST', `/containers/${id}/force-stop`)));
    await d.cleanup();
    // a display the daemon did not stop (it runs in a session of its own): ended through its own cgroup, by pid
    const displays = new DisplayServers({ root: displayRoot, cgroupPrefix: prefix, layout });
    for (const id of await displays.ids()) await displays.remove(id).catch((err: Error) => console.error(`cleanup: display ${id}: ${err.message}`));
    await removeCgroupDirs(`/${prefix}`);
    for (const dir of [displayRoot, join('/run/hoody', prefix)]) await rmdir(dir).catch(() => undefined);
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
try {
  const router = /service URLs \S+ on (http:\/\/[0-9.]+:\d+)/.exec(d.output())?.[1];
  if (!router) throw new Error(`the daemon names no router:\n${d.output()}`);
  const project = (await call('POST', '/projects', { name: `kitbench${tag}` })).body.data.id as string;

  const makeKit = async (name: string): Promise<string> => {
    const res = await call('POST', '/containers', { container_image: 'busybox', project_id: project, name, hoody_kit: true, command: ['sleep', '3600'] });
    if (res.status !== 201) throw new Error(JSON.stringify(res.body));
    created.push(res.body.data.id);
    return res.body.data.id as string;
  };
  const runtime = async (id: string): Promise<{ displays: { active: boolean; memory_bytes: number } }> => (await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info;
  const untilActive = async (id: string): Promise<void> => {
    for (const deadline = Date.now() + 60_000; !(await runtime(id)).displays.active; await sleep(50)) {
      if (Date.now() > deadline) throw new Error(`the display of ${id} never became active`);
    }
  };
  /** The program's host and a cookie for it: its open link traded at the router. */
  const service = async (id: string, program: string, index: number): Promise<{ host: string; cookie: string }> => {
    const services = (await call('GET', `/containers/${id}/services`)).body.data.services as { program: string; index: number; host: string; open_url: string }[];
    const s = services.find((x) => x.program === program && x.index === index);
    if (!s) throw new Error(`no ${program}-${index}: ${JSON.stringify(services)}`);
    const res = await request(s.open_url.replace(`http://${s.host}:`, 'http://127.0.0.1:'), { headers: { host: s.host } });
    await res.body.dump();
    if (res.statusCode !== 303) throw new Error(`open_url answered ${res.statusCode}`);
    return { host: s.host, cookie: String(res.headers['set-cookie']).split(';')[0] as string };
  };
  const xvncPid = async (id: string): Promise<number> => {
    for (const pid of await new CgroupPaths(layout, `/${prefix}/${id}-display`).pids()) {
      if ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'Xvnc') return pid;
    }
    throw new Error(`no Xvnc in the display cgroup of ${id}`);
  };
  const exec = async (id: string, script: string, stdin?: Buffer): Promise<string> => {
    const res = await call('POST', `/containers/${id}/exec`, { command: ['sh', '-c', script], ...(stdin ? { encoding: 'base64', stdin: stdin.toString('base64') } : {}) });
    if (res.body.data?.exit_code !== 0) throw new Error(`exec ${script}: ${JSON.stringify(res.body)}`);
    return res.body.data.stdout as string;
  };

  // ------------------------------------------------ the kit container, its display, ico
  const kit = await makeKit('desk');
  await untilActive(kit);
  const tarball = xProgramsTarball(['/usr/bin/ico', '/usr/bin/xsetroot']);
  for (let at = 0; at < tarball.length; at += 700_000) await exec(kit, 'cat >> /tmp/x.tgz', tarball.subarray(at, at + 700_000));
  await exec(kit, 'mkdir -p /opt/x && tar xzf /tmp/x.tgz -C /opt/x && rm /tmp/x.tgz');
  // a pointer to draw: this Xvnc's root window starts with an empty cursor (0x0), which it would not draw
  await exec(kit, 'X=/opt/x; $X/ld.so --library-path $X/lib $X/bin/xsetroot -cursor_name left_ptr');
  const display = await service(kit, 'display', 1);
  const socket = join(displayRoot, kit, 'vnc.sock');
  const kitCg = new CgroupPaths(layout, `/${prefix}/${kit}`);
  const displayCg = new CgroupPaths(layout, `/${prefix}/${kit}-display`);
  const displayMeter: Meter = {
    daemon: () => processCpuMs(d.pid),
    xvnc: async () => (await displayCg.cpuUsageNs()) / 1e6,
    container: async () => (await kitCg.cpuUsageNs()) / 1e6,
    clients: selfCpuMs,
    machine: machineBusyMs,
  };

  // ------------------------------------------------ 1. frame rate
  await exec(kit, `X=/opt/x; ($X/ld.so --library-path $X/lib $X/bin/${ANIMATION} >/tmp/ico.log 2>&1 </dev/null & echo $! > /tmp/ico.pid); sleep 0.5; kill -0 $(cat /tmp/ico.pid)`);
  const fps: { path: string; viewers: number; per: { ups: number; mbps: number }[]; cpu: Record<string, number> }[] = [];
  {
    const { cpu } = await cpuOver(displayMeter, () => sleep(seconds * 1000));
    fps.push({ path: 'no viewer (ico alone)', viewers: 0, per: [], cpu });
  }
  const fpsRun = async (path: string, open: () => Promise<Rfb>, n: number): Promise<void> => {
    const viewers = await Promise.all(Array.from({ length: n }, open));
    // the first, whole frame read before the window
    await Promise.all(viewers.map((v) => v.next(() => true, 10_000)));
    const { result, cpu } = await cpuOver(displayMeter, () => frameRate(viewers));
    for (const v of viewers) v.close();
    fps.push({ path, viewers: n, per: result, cpu });
    await sleep(500);
  };
  await fpsRun('router WebSocket', () => viaRouter(router, display.host, display.cookie), 1);
  await fpsRun('Xvnc socket, direct', () => direct(socket), 1);
  await fpsRun('router WebSocket', () => viaRouter(router, display.host, display.cookie), 3);
  await exec(kit, 'kill $(cat /tmp/ico.pid)');
  const icoLog = (await exec(kit, 'cat /tmp/ico.log')).trim();

  // ------------------------------------------------ 2. input latency
  await sleep(500);
  const latency: { path: string; ms: number[]; missed: number }[] = [];
  for (const [path, open] of [
    ['router WebSocket', () => viaRouter(router, display.host, display.cookie)],
    ['Xvnc socket, direct', () => direct(socket)],
  ] as const) {
    const rfb = await open();
    latency.push({ path, ...(await pointerLatency(rfb, MOVES)) });
    rfb.close();
    await sleep(300);
  }

  // ------------------------------------------------ 3. memory per display
  const kits = await Promise.all(Array.from({ length: DISPLAYS }, (_, i) => makeKit(`mem${i + 1}`)));
  await Promise.all(kits.map(untilActive));
  await sleep(1000);
  const memory: { id: string; idle: number[]; viewer: number[]; after: number[] }[] = [];
  const memoryOf = async (id: string): Promise<number[]> => {
    const s = await smaps(await xvncPid(id));
    return [(await runtime(id)).displays.memory_bytes / 1024 / 1024, s.rss, s.dirty];
  };
  for (const id of kits) memory.push({ id, idle: await memoryOf(id), viewer: [], after: [] });
  for (const m of memory) {
    const svc = await service(m.id, 'display', 1);
    const v = await viaRouter(router, svc.host, svc.cookie);
    await v.next(() => true, 10_000);
    v.auto = true;
    v.request(true);
    await sleep(1000);
    m.viewer = await memoryOf(m.id);
    v.close();
  }
  await sleep(1000);
  for (const m of memory) m.after = await memoryOf(m.id);
  await Promise.all(kits.map((id) => call('POST', `/containers/${id}/force-stop`)));

  // ------------------------------------------------ 4. terminal fan-out
  const terminal = await service(kit, 'terminal', 1);
  const sharedUrl = `${router.replace('http', 'ws')}/__hoody/terminal?cols=${COLS}&rows=${ROWS}`;
  const openShared = (): Promise<Term> => termOverWebSocket(sharedUrl, { host: terminal.host, cookie: terminal.cookie }, false);
  const termMeter: Meter = { daemon: () => processCpuMs(d.pid), clients: selfCpuMs, machine: machineBusyMs };
  const term: { command: string; path: string; clients: number; r: TermResult }[] = [];
  for (const c of COMMANDS) {
    {
      const t = await termFloor(d, kit);
      await t.prompt();
      term.push({ command: c.name, path: 'runc exec -t on a local pty (floor)', clients: 1, r: await timedCommand(t, [t], c.cmd, termMeter) });
      await t.close();
    }
    {
      const t = await termOverWebSocket(`${d.url.replace('http', 'ws')}/api/v1/containers/${kit}/terminal?cols=${COLS}&rows=${ROWS}`, { authorization: `Bearer ${d.adminToken}` }, true);
      await t.prompt();
      term.push({ command: c.name, path: 'session of one client (API WebSocket)', clients: 1, r: await timedCommand(t, [t], c.cmd, termMeter) });
      await t.close();
    }
    const shared = [await openShared()];
    // the first attach starts the shell; later ones find it at its prompt (and get the screen)
    if (c === COMMANDS[0]) await (shared[0] as Term).prompt();
    term.push({ command: c.name, path: 'terminal-1 through the router', clients: 1, r: await timedCommand(shared[0] as Term, shared, c.cmd, termMeter) });
    while (shared.length < FAN_OUT) shared.push(await openShared());
    term.push({ command: c.name, path: 'terminal-1 through the router', clients: FAN_OUT, r: await timedCommand(shared[0] as Term, shared, c.cmd, termMeter) });
    await Promise.all(shared.map((t) => t.close()));
  }

  // ------------------------------------------------ the tables
  const cpuCells = (cpu: Record<string, number>): string => ['daemon', 'xvnc', 'container', 'clients', 'machine'].map((k) => `${f1(cpu[k] ?? NaN)}%`).join(' | ');
  console.log(`\n1. Display frame rate: \`${ANIMATION}\` in the container, display 1280x800x24 (Xvnc -FrameRate 30), ${seconds} s per row after the first whole frame and 1 s of warm-up`);
  console.log('method: RFB 3.8 client, Raw only, one incremental whole-screen FramebufferUpdateRequest outstanding, each update parsed to its end; CPU in % of one core over the window');
  console.log(`| path | viewers | updates/s per viewer | MB/s per viewer | daemon CPU | Xvnc CPU | container (ico) CPU | clients (this process) CPU | whole machine (of ${cpus().length * 100}%) |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of fps) console.log(`| ${r.path} | ${r.viewers} | ${r.per.map((p) => f1(p.ups)).join(' / ') || '–'} | ${r.per.map((p) => f2(p.mbps)).join(' / ') || '–'} | ${cpuCells(r.cpu)} |`);
  const viaR = fps[1]?.per[0];
  const viaD = fps[2]?.per[0];
  if (icoLog) console.log(`(ico said: ${icoLog.slice(0, 200)})`);
  if (viaR && viaD) {
    const capped = viaR.ups >= 29 && viaD.ups >= 29 ? " (both at Xvnc's cap, -FrameRate 30: the relay kept up, and this does not find its limit)" : '';
    console.log(
      `what this shows: through the router a viewer got ${f1(viaR.ups)} updates/s against ${f1(viaD.ups)} on the socket itself, ${f1((viaR.ups / viaD.ups) * 100)}%${capped}; ` +
        `an update was ${f1((viaR.mbps * 1e6) / viaR.ups / 1024)} KB on average; the daemon's relay cost ${f1((fps[1]?.cpu.daemon ?? NaN) - (fps[0]?.cpu.daemon ?? NaN))} points of a core over its idle for 1 viewer ` +
        `and ${f1((fps[3]?.cpu.daemon ?? NaN) - (fps[0]?.cpu.daemon ?? NaN))} for 3; Xvnc ${f1(fps[0]?.cpu.xvnc ?? NaN)}% with no viewer, ${f1(fps[1]?.cpu.xvnc ?? NaN)}% with 1, ${f1(fps[3]?.cpu.xvnc ?? NaN)}% with 3.`,
    );
  }

  console.log(`\n2. Input latency: ${MOVES} PointerEvents (after 5 warm-up), alternating (240,200) and (880,560), no animation`);
  console.log('method: root cursor set with `xsetroot -cursor_name left_ptr`; one incremental request outstanding and the screen quiet, then PointerEvent; timed until the first FramebufferUpdate with a rectangle covering the new position (the pointer Xvnc draws)');
  console.log('| path | p50 | p90 | p99 | max | no update within 1 s |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of latency) console.log(`| ${r.path} | ${f1(pct(r.ms, 50))} ms | ${f1(pct(r.ms, 90))} ms | ${f1(pct(r.ms, 99))} ms | ${f1(Math.max(...r.ms))} ms | ${r.missed} |`);
  const [lr, ld] = latency;
  if (lr && ld) console.log(`what this shows: the router adds ${f1(pct(lr.ms, 50) - pct(ld.ms, 50))} ms at the median and ${f1(pct(lr.ms, 99) - pct(ld.ms, 99))} ms at p99 to a pointer move's round trip; direct on the socket is Xvnc's own time to move and draw the pointer and send the update.`);

  console.log(`\n3. Memory per display: ${DISPLAYS} new kit containers (busybox, sleep), each display active; MB`);
  console.log("method: display cgroup = runtime_info.displays.memory_bytes (the display cgroup's memory.usage, page cache included); Xvnc RSS / Private_Dirty from /proc/<pid>/smaps_rollup; a viewer through the router that read a whole frame and 1 s of incremental updates");
  console.log('| display | idle: cgroup | RSS | Private_Dirty | 1 viewer: cgroup | RSS | Private_Dirty | viewer gone: cgroup | RSS | Private_Dirty |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const cells = (xs: number[]): string => xs.map(f1).join(' | ');
  memory.forEach((m, i) => console.log(`| ${i + 1} | ${cells(m.idle)} | ${cells(m.viewer)} | ${cells(m.after)} |`));
  const col = (k: 'idle' | 'viewer' | 'after', j: number): number => median(memory.map((m) => m[k][j] as number));
  console.log(`| median | ${cells([0, 1, 2].map((j) => col('idle', j)))} | ${cells([0, 1, 2].map((j) => col('viewer', j)))} | ${cells([0, 1, 2].map((j) => col('after', j)))} |`);
  console.log(`what this shows: an idle display costs ${f1(col('idle', 2))} MB of private memory (Xvnc Private_Dirty, median) and its cgroup holds ${f1(col('idle', 0))} MB; a viewer adds ${f1(col('viewer', 2) - col('idle', 2))} MB private while connected, ${f1(col('after', 2) - col('idle', 2))} MB still held after it left.`);

  console.log(`\n4. Terminal fan-out, ${COLS}x${ROWS}: from Enter until the command's last line reached every client`);
  console.log("method: `read a b </proc/uptime; CMD; read c d </proc/uptime; echo MARK:$a:$c` typed into the shell; the shell's own time is c - a (10 ms steps); clients are WebSockets in this process reading as fast as they can; CPU in % of one core over the run");
  console.log(`| command | path | clients | shell's own time | Enter → last client has the last line | MB/s per client (median / min) | daemon CPU | clients (this process) CPU | whole machine (of ${cpus().length * 100}%) | every byte to every client |`);
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const t of term) {
    const expected = (COMMANDS.find((c) => c.name === t.command) as { bytes: number }).bytes;
    console.log(
      `| \`${t.command.replaceAll('|', '\\|')}\` | ${t.path} | ${t.clients} | ${Math.round(t.r.shellMs)} ms | ${Math.round(t.r.lastMs)} ms | ${f1(median(t.r.mbps))} / ${f1(Math.min(...t.r.mbps))} | ${f1(t.r.cpu.daemon ?? NaN)}% | ${f1(t.r.cpu.clients ?? NaN)}% | ${f1(t.r.cpu.machine ?? NaN)}% | ${t.r.minBytes >= expected ? 'yes' : `no: least ${f2(t.r.minBytes / 1e6)} of ${f2(expected / 1e6)} MB (a client left behind gets the screen instead)`} |`,
    );
  }
  for (const c of COMMANDS) {
    const rows = term.filter((t) => t.command === c.name);
    const [floor, , one, ten] = rows;
    if (floor && one && ten) {
      console.log(
        `what this shows (\`${c.name}\`): in terminal-1 the shell took ${Math.round(one.r.shellMs)} ms with 1 client and ${Math.round(ten.r.shellMs)} ms with ${FAN_OUT} ` +
          `(${ten.r.shellMs >= one.r.shellMs ? '+' : ''}${f1((ten.r.shellMs / one.r.shellMs) * 100 - 100)}%; the floor ${Math.round(floor.r.shellMs)} ms); its output is read as fast as the slowest part of the path lets it, so this is also when the last client had the last line; ` +
          `daemon CPU ${f1(one.r.cpu.daemon ?? NaN)}% → ${f1(ten.r.cpu.daemon ?? NaN)}% of a core.`,
      );
    }
  }
  console.log(`\ntotal ${f1((performance.now() - started) / 1000)} s; load average ${f2(load0)} at the start, ${f2(loadavg()[0] as number)} at the end`);
} finally {
  await cleanup();
}
