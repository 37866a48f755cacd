/**
 * Terminal sessions: the time from opening to the first prompt, and keystroke echo latency, through
 * the daemon's WebSocket (what the terminal page and `exec -it` use) next to the same `runc exec -t`
 * on a pty in this process, without the daemon or a WebSocket (the floor). Run as root:
 *
 *   node --import tsx bench/terminal.ts [sessions=20] [keystrokes=300]
 *
 * - open: `sessions` times, a new session (WebSocket upgrade → pty → runc exec -t → busybox sh)
 *   until its prompt shows; closed before the next.
 * - echo: in one session, one character at a time, the time until it is echoed back; p50 and p99.
 * Both sides answer the shell's cursor-position query as a terminal would.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { apiClient, startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';
import { Pty } from '../src/runtime/pty.ts';
import { median } from './proc-util.ts';

const sessions = Number(process.argv[2] ?? 20);
const keystrokes = Number(process.argv[3] ?? 300);
const PROMPT = /[#$] (\x1b\[6n)?$/; // eslint-disable-line no-control-regex

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const ms = (n: number): string => `${n.toFixed(1)} ms`;

/** One side of the comparison: something that sends bytes and hands back what the terminal shows. */
interface Side {
  send(data: Buffer): void;
  onData(listener: (text: string) => void): void;
  close(): Promise<void>;
}

/** Waits until the text shown since the call matches. */
function shown(side: Side, pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    let text = '';
    side.onData((t) => {
      text += t;
      if (pattern.test(text)) {
        pattern = /$^/; // once
        resolve();
      }
    });
  });
}

async function viaDaemon(d: DaemonHandle, id: string): Promise<Side> {
  const ws = new WebSocket(`${d.url.replace('http', 'ws')}/api/v1/containers/${id}/terminal?command=sh`, ['hoody.terminal'], { headers: { authorization: `Bearer ${d.adminToken}` } });
  const listeners: ((t: string) => void)[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) return;
    const t = data.toString('utf8');
    if (t.includes('\x1b[6n')) ws.send(Buffer.from('\x1b[1;1R'));
    for (const l of listeners) l(t);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    send: (b) => ws.send(b),
    onData: (l) => listeners.push(l),
    close: () =>
      new Promise((resolve) => {
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}

async function direct(d: DaemonHandle, id: string): Promise<Side> {
  const pty = await Pty.open(80, 24);
  const child = spawn('/usr/sbin/runc', ['--root', join(d.dataDir, 'runtime', 'runc'), 'exec', '-t', id, 'sh'], { stdio: [pty.slave, pty.slave, pty.slave], detached: true });
  child.once('exit', () => pty.finishOutput());
  const listeners: ((t: string) => void)[] = [];
  pty.output.on('data', (b: Buffer) => {
    const t = b.toString('utf8');
    if (t.includes('\x1b[6n')) void pty.write(Buffer.from('\x1b[1;1R'));
    for (const l of listeners) l(t);
  });
  return {
    send: (b) => void pty.write(b),
    onData: (l) => listeners.push(l),
    close: async () => {
      await pty.write(Buffer.from('exit\r'));
      await new Promise((resolve) => child.once('exit', resolve));
      pty.close();
    },
  };
}

async function measure(name: string, open: () => Promise<Side>): Promise<{ name: string; open: number[]; echo: number[] }> {
  const opens: number[] = [];
  for (let i = 0; i < sessions; i++) {
    const t0 = performance.now();
    const side = await open();
    await shown(side, PROMPT);
    opens.push(performance.now() - t0);
    await side.close();
  }
  const side = await open();
  await shown(side, PROMPT);
  const echo: number[] = [];
  for (let i = 0; i < keystrokes; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const t0 = performance.now();
    const seen = shown(side, new RegExp(key));
    side.send(Buffer.from(key));
    await seen;
    echo.push(performance.now() - t0);
    // a fresh line now and then: the shell's line editor slows down on a very long line
    if (i % 50 === 49) {
      const cleared = shown(side, PROMPT);
      side.send(Buffer.from('\x15\r'));
      await cleared;
    }
  }
  await side.close();
  return { name, open: opens, echo };
}

const d = await startTestDaemon('sqlite');
try {
  const created = await apiClient(d.api, d.adminToken)('POST', '/containers', { name: 'bench', container_image: 'busybox' });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const id = created.body.data.id as string;
  const results = [];
  // interleaved: the daemon's path, the floor, then each again
  for (const round of [1, 2]) {
    results.push({ round, ...(await measure('hoody WebSocket', () => viaDaemon(d, id))) });
    results.push({ round, ...(await measure('runc exec -t on a local pty', () => direct(d, id))) });
  }
  console.log(`terminal sessions: ${sessions} opens, ${keystrokes} keystrokes per side and round`);
  console.log('| round | path | open → prompt (median, max) | echo p50 | echo p99 |');
  console.log('|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.round} | ${r.name} | ${ms(median(r.open))}, ${ms(Math.max(...r.open))} | ${ms(pct(r.echo, 50))} | ${ms(pct(r.echo, 99))} |`);
} finally {
  await d.cleanup();
}
