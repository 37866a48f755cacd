/**
 * Starts the real daemon (`hoody serve`) as a child process on a free port with its own data
 * folder (and its own PostgreSQL database when asked), and cleans up after it: by pid, never
 * by name.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DisplayServers } from '../src/runtime/display.ts';
import { detectCgroupLayout } from '../src/runtime/cgroups.ts';
import { RuncDriver, cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';

export type Backend = 'sqlite' | 'postgres';

export interface DaemonHandle {
  url: string;
  api: string;
  adminToken: string;
  dataDir: string;
  /** The daemon's own PostgreSQL database; undefined on SQLite (`<dataDir>/hoody.db`). */
  databaseUrl?: string;
  pid: number;
  output(): string;
  /** Sends a signal to the daemon and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the daemon again over the same data folder and database. */
  restart(): Promise<void>;
  /** Stops the daemon, deletes every container it made, drops its database and folder. */
  cleanup(): Promise<void>;
}

export const postgresUrl = process.env.HOODY_TEST_POSTGRES_URL;

const ROOT = new URL('..', import.meta.url).pathname;

/** The shipped entry point: the daemon under test is the built one (dist/), as users run it. */
export const HOODY_BIN = join(ROOT, 'bin/hoody.js');

/** Builds dist/ once per test process when it is missing or older than src/ (a no-op when current). */
export function ensureBuilt(): void {
  if (built) return;
  execFileSync('bash', [join(ROOT, 'scripts/ensure-built.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  built = true;
}
let built = false;

/** How a test daemon starts, beyond its backend and environment. */
export interface TestDaemonOptions {
  /** null: no HOODY_ADMIN_TOKEN, the daemon generates the admin token (read back from its file). */
  adminToken?: string | null;
  /** Runs on the new data folder before the first start (to set it up as a user might have). */
  beforeStart?: (dataDir: string) => Promise<void>;
  /** Extra options for the daemon's node (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow). */
  nodeArgs?: string[];
  /** A PostgreSQL database other daemons share (backend postgres): used as it is, never dropped. */
  sharedDatabaseUrl?: string;
  /** `--server-name` (default `test-node`). */
  serverName?: string;
  /** `--host` and `--port` (default 127.0.0.1 and a free port). */
  host?: string;
  port?: number;
  /** A command the daemon is run under, e.g. `['nsenter', '--net=/run/netns/x', '--']` (it must exec the daemon: its pid is the daemon's). */
  wrap?: string[];
}

export async function startTestDaemon(backend: Backend = 'sqlite', env: Record<string, string> = {}, options: TestDaemonOptions = {}): Promise<DaemonHandle> {
  const dataDir = await realpath(await mkdtemp(join(tmpdir(), 'hoody-e2e-')));
  let adminToken = options.adminToken === undefined ? `hoody_test_${randomBytes(16).toString('hex')}` : options.adminToken;
  let databaseUrl: string | undefined;
  let dbName: string | undefined;
  if (backend === 'postgres' && options.sharedDatabaseUrl) databaseUrl = options.sharedDatabaseUrl;
  else if (backend === 'postgres') {
    if (!postgresUrl) throw new Error('HOODY_TEST_POSTGRES_URL is not set');
    dbName = `hoody_e2e_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const u = new URL(postgresUrl);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }

  let child: ChildProcess | undefined;
  let out = '';
  let url = '';
  let port = options.port ?? 0;
  const host = options.host ?? '127.0.0.1';
  const daemonEnv = (): NodeJS.ProcessEnv => {
    // tests make hundreds of containers as one user: the cap is tested where it is set lower;
    // containers are loopback-only unless a test gives the daemon a bridge of its own
    const all: NodeJS.ProcessEnv = { ...process.env, HOODY_MAX_CONTAINERS_PER_USER: '10000', HOODY_NETWORK: 'none', ...env, HOODY_DATABASE_URL: databaseUrl ?? '' };
    // with no admin token, one in `env` (which a test may set before a restart) still counts
    if (options.adminToken === null) {
      if (env.HOODY_ADMIN_TOKEN === undefined) delete all.HOODY_ADMIN_TOKEN;
    } else all.HOODY_ADMIN_TOKEN = adminToken ?? '';
    return all;
  };
  const launch = async (): Promise<void> => {
    const argv = [process.execPath, ...(options.nodeArgs ?? []), HOODY_BIN, 'serve', '--host', host, '--port', String(port), '--data-dir', dataDir, '--server-name', options.serverName ?? 'test-node'];
    const [command, ...args] = [...(options.wrap ?? []), ...argv] as [string, ...string[]];
    child = spawn(command, args, {
      cwd: ROOT,
      env: daemonEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const c = child;
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon did not start in 30 s:\n${out}`)), 30_000);
      const onData = (d: Buffer): void => {
        out += d.toString();
        // a plain line or a JSON log line: the address ends at a space, a slash or the string's quote
        const m = /hoody serving (http:\/\/[^\s/"\\]+)/.exec(out.slice(out.lastIndexOf('hoody serving')));
        if (m?.[1] && out.lastIndexOf('hoody serving') >= 0) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      c.stdout?.on('data', onData);
      c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`daemon exited with ${code} before serving:\n${out}`));
      });
    });
    port = Number(new URL(url).port);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  ensureBuilt();
  await options.beforeStart?.(dataDir);
  try {
    await launch();
  } catch (err) {
    // a daemon that did not come up leaves nothing behind either
    await stop('SIGKILL');
    await removeRuntime(dataDir).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    throw err;
  }
  adminToken ??= (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  return {
    get url() {
      return url;
    },
    get api() {
      return `${url}/api/v1`;
    },
    adminToken,
    dataDir,
    databaseUrl,
    get pid() {
      return child?.pid ?? 0;
    },
    output: () => out,
    stop,
    restart: async () => {
      await stop();
      out = out.replaceAll('hoody serving', 'hoody served');
      await launch();
    },
    cleanup: async () => {
      await stop('SIGKILL');
      await removeRuntime(dataDir);
      await rm(dataDir, { recursive: true, force: true });
      if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    },
  };
}

/** Deletes every container under a data folder (processes, mounts, cgroups), as the daemon would. */
export async function removeRuntime(dataDir: string): Promise<void> {
  const driver = await RuncDriver.open({ stateDir: join(dataDir, 'runtime'), images: new ImageStore(join(dataDir, 'images')), cgroupPrefix: cgroupPrefixFor(dataDir) });
  // every bundle folder, also one a killed run left half made
  const ids = await readdir(join(dataDir, 'runtime', 'containers')).catch(() => [] as string[]);
  for (const id of ids) {
    await driver.delete(id).catch((err: Error) => console.error(`cleanup: deleting container ${id} failed: ${err.message}`));
  }
  await driver.close();
  // the kit's displays outlive their daemon as containers do: theirs go with them
  const displays = new DisplayServers({ root: join('/run/hoody', cgroupPrefixFor(dataDir), 'displays'), cgroupPrefix: cgroupPrefixFor(dataDir), layout: await detectCgroupLayout() });
  for (const id of await displays.ids()) await displays.remove(id).catch((err: Error) => console.error(`cleanup: removing the display of ${id} failed: ${err.message}`));
  await driver.removeCgroupPrefix();
  // a mount left behind must go before the folder is removed, or rm would delete through it
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
  for (const m of mounts.filter((p) => p.startsWith(`${dataDir}/`))) {
    console.error(`cleanup: ${m} was still mounted`);
    execFileSync('umount', ['-l', m]);
  }
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Waits until a container runs a process whose command line starts with `command`. Start answers
 * once init is released; the app's first lines (a shell's `trap`, say) run a moment later, and a
 * TERM sent before them meets the default action. A test that relies on a trap waits for the
 * process its loop starts after it.
 */
export async function untilProcess(d: DaemonHandle, id: string, command: string): Promise<void> {
  const call = apiClient(d.api, d.adminToken);
  const deadline = Date.now() + 5000;
  for (;;) {
    const info = (await call('GET', `/containers/${id}?runtime=true`)).body?.data?.runtime_info;
    if ((info?.processes ?? []).some((p: { command: string }) => p.command.startsWith(command))) return;
    if (Date.now() > deadline) throw new Error(`container ${id} never ran "${command}": ${JSON.stringify(info?.processes)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A small HTTP client for tests: JSON in, status and JSON out. */
export function apiClient(api: string, token: string | undefined) {
  return async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: keep the text so the assertion shows it */
    }
    return { status: res.status, body: parsed as T };
  };
}
