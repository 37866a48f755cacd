/** What the start-up and memory benches share: a free port, a process's RSS and descendants, one measured daemon start, a median. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process in kB (0 once it is gone). */
export async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Every process under pid, children before grandchildren. */
export async function descendants(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const kids: number[] = [];
  for (const t of tasks) {
    const list = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    kids.push(...list.trim().split(/\s+/).filter(Boolean).map(Number));
  }
  const all = [...kids];
  for (const k of kids) all.push(...(await descendants(k)));
  return all;
}

/** One start of a daemon: spawn to its first 200 of /healthz, and its resident memory once settled. */
export interface StartSample {
  startMs: number;
  daemonKb: number;
  childrenKb: number;
  processes: number;
}

/**
 * Runs `node ...args serve` on `dataDir` and a free port, times spawn to the first 200 of
 * GET /healthz (polled every 5 ms, 30 s at most), reads the RSS of it and every process under it
 * `settleMs` later, then stops it with SIGTERM and waits for its exit. The data folder stays.
 */
export async function startAndMeasure(opts: { node: string; args: string[]; cwd: string; dataDir: string; settleMs: number; label: string }): Promise<StartSample> {
  const port = await freePort();
  const env = { ...process.env, HOODY_ADMIN_TOKEN: `hoody_bench_${randomBytes(16).toString('hex')}`, HOODY_DATABASE_URL: '' };
  const started = performance.now();
  const child = spawn(opts.node, [...opts.args, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', opts.dataDir], { cwd: opts.cwd, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    let startMs = 0;
    for (const deadline = started + 30_000; ; ) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) {
        startMs = performance.now() - started;
        break;
      }
      if (child.exitCode !== null || performance.now() > deadline) throw new Error(`${opts.label}: the daemon did not serve /healthz`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, opts.settleMs));
    const pid = child.pid!;
    const kids = await descendants(pid);
    const childrenKb = (await Promise.all(kids.map(rssKb))).reduce((a, b) => a + b, 0);
    return { startMs, daemonKb: await rssKb(pid), childrenKb, processes: 1 + kids.length };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** The median of a list of numbers. */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The URL a starting daemon logs in its "hoody serving" line (on stdout or stderr, piped); rejects if it exits or is silent for `timeoutMs`. */
export function servingUrl(child: ChildProcess, name: string, timeoutMs = 60_000): Promise<string> {
  let out = '';
  return new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start:\n${out}`)), timeoutMs);
    const seen = (d: Buffer): void => {
      out += d.toString();
      // the line is JSON or pretty text: the URL ends at a space, a slash or a quote
      const m = /hoody serving (http:\/\/[^\s/"\\]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.once('exit', (code) => fail(new Error(`${name} exited with ${code}:\n${out}`)));
  });
}
