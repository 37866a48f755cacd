/**
 * Secrets at rest and in the process table, against the real daemon: the data folder and what
 * holds secrets in it are private to the daemon's user, the generated admin secret is not
 * logged, children of the daemon do not inherit its environment, a weak admin token is refused,
 * and an Idempotency-Key cut by a crash is settled at the next start.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOODY_BIN, apiClient, ensureBuilt, postgresUrl, startTestDaemon, untilProcess, type Backend, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { openSse } from './sse-reader.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/** The permission bits of a file, e.g. 0o600. */
const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const octal = (mode: number): string => `0${mode.toString(8)}`;

/** The files under the data folder that hold secrets, when they exist. */
async function secretFiles(dataDir: string): Promise<string[]> {
  const names = await readdir(dataDir);
  return ['hoody.db', 'hoody.db-wal', 'hoody.db-shm', 'admin-token', 'server-id'].filter((n) => names.includes(n)).map((n) => join(dataDir, n));
}

/** `/proc/<pid>/environ` as NAME=value lines. */
const environOf = async (pid: number): Promise<string[]> => (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);

/** The pid of the daemon's event fan-out child (a list: empty until it runs). */
async function fanoutOf(daemon: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // the parent pid is the second field after the command, which is in parentheses
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent !== daemon) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('fanout-process')) pids.push(Number(entry));
  }
  return pids;
}

describe('secrets at rest', () => {
  let d: DaemonHandle;
  const env: Record<string, string> = {};
  before(async () => {
    // a folder made before the first start (`mkdir data`) is 0755; no admin token is set
    d = await startTestDaemon('sqlite', env, { adminToken: null, beforeStart: (dir) => chmod(dir, 0o755) });
  });
  after(async () => {
    await d?.cleanup();
  });

  it('a data folder made 0755 before the first start is 0700 after it, and the database and secret files are 0600', async () => {
    assert.equal(octal(await modeOf(d.dataDir)), '0700');
    const files = await secretFiles(d.dataDir);
    for (const name of ['hoody.db', 'hoody.db-wal', 'hoody.db-shm', 'admin-token', 'server-id']) assert.ok(files.includes(join(d.dataDir, name)), `${name} exists`);
    for (const file of files) assert.equal(octal(await modeOf(file)), '0600', file);
  });

  it('the generated admin secret is not in the daemon\'s output, which says where the secret is', async () => {
    assert.match(d.adminToken, /^hoody_[0-9a-f]{48}$/);
    assert.ok(!d.output().includes(d.adminToken), 'the secret is not printed');
    assert.ok(d.output().includes(join(d.dataDir, 'admin-token')), `the output names the file:\n${d.output()}`);
    const admin = apiClient(d.api, d.adminToken);
    assert.equal((await admin('GET', '/users')).status, 200, 'the secret in the file works');
  });

  it('modes loosened while the daemon was stopped are tightened again at the next start', async () => {
    await d.stop();
    await chmod(d.dataDir, 0o755);
    for (const file of await secretFiles(d.dataDir)) await chmod(file, 0o644);
    await d.restart();
    assert.equal(octal(await modeOf(d.dataDir)), '0700');
    for (const file of await secretFiles(d.dataDir)) assert.equal(octal(await modeOf(file)), '0600', file);
  });

  it('HOODY_ADMIN_TOKEN set on a later start retires the generated admin token and removes its file', async () => {
    const generated = apiClient(d.api, d.adminToken);
    assert.equal((await generated('GET', '/tokens')).status, 200);
    env.HOODY_ADMIN_TOKEN = `hoody_chosen_${'fedcba9876543210'.repeat(2)}`;
    try {
      await d.restart();
      assert.equal((await generated('GET', '/tokens')).status, 401, 'the generated token no longer works');
      const chosen = apiClient(d.api, env.HOODY_ADMIN_TOKEN);
      const tokens = (await chosen('GET', '/tokens')).body.data.tokens as { name: string }[];
      assert.deepEqual(tokens.map((t) => t.name), ['admin'], 'one admin token: the chosen one');
      assert.ok(!(await readdir(d.dataDir)).includes('admin-token'), 'the file of the retired secret is gone');
      assert.match(d.output(), /the generated admin token of .*admin-token no longer works/);
    } finally {
      delete env.HOODY_ADMIN_TOKEN;
    }
  });

  it('a data folder that is not the daemon\'s user\'s is refused at start, saying why', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-foreign-'));
    try {
      await chmod(dir, 0o755);
      await new Promise<void>((resolve, reject) =>
        execFile('chown', ['65534:65534', dir], (err) => (err ? reject(err) : resolve())),
      );
      const run = await serveOnce(dir, { HOODY_ADMIN_TOKEN: `hoody_test_${'0123456789abcdef'.repeat(2)}` });
      assert.notEqual(run.code, 0);
      assert.match(run.output, /data folder ".*hoody-foreign-.*" belongs to uid 65534/);
      assert.equal(octal(await modeOf(dir)), '0755', 'left as it was');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the daemon\'s environment stays in the daemon', () => {
  let d: DaemonHandle;
  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_CANARY_SECRET: 'canary-0123456789abcdef' });
  });
  after(async () => {
    await d?.cleanup();
  });

  it('a running container\'s conmon and the event fan-out process hold no HOODY_ variable and no secret', async () => {
    const admin = apiClient(d.api, d.adminToken);
    const created = await admin('POST', '/containers', { name: 'env-probe', container_image: 'busybox', command: ['sleep', '600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.data.id as string;
    const conmon = Number((await readFile(join(d.dataDir, 'runtime', 'containers', id, 'conmon.pid'), 'utf8')).trim());
    const daemonEnv = await environOf(d.pid);
    assert.ok(daemonEnv.some((v) => v.startsWith('HOODY_ADMIN_TOKEN=')), 'the daemon itself has the token: the probe can see it');
    // the fan-out process starts with the first event stream
    const stream = await openSse(`${d.api}/events`, d.adminToken);
    try {
      const fanout = await eventually('the fan-out process', () => fanoutOf(d.pid), (pids) => pids.length === 1, 10_000);
      for (const pid of [conmon, ...fanout]) {
        const env = await environOf(pid);
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
        const leaked = env.filter((v) => (v.startsWith('HOODY_') && !v.startsWith('HOODY_EVENTS_')) || v.includes(d.adminToken) || v.includes('canary-0123456789abcdef'));
        assert.deepEqual(leaked, [], `pid ${pid} (${cmdline})`);
      }
    } finally {
      stream.close();
    }
  });
});

describe('a weak admin token', () => {
  for (const [what, token] of [
    ['too short', 'hoody_short_0123'],
    ['one character repeated', 'a'.repeat(40)],
  ] as const) {
    it(`is refused at start with a message saying why (${what})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'hoody-weak-'));
      try {
        const run = await serveOnce(dir, { HOODY_ADMIN_TOKEN: token });
        assert.equal(run.code, 1, run.output);
        assert.match(run.output, /HOODY_ADMIN_TOKEN is too weak: .*at least 32 characters/);
        assert.ok(!run.output.includes(token), 'the message does not repeat the token');
        assert.deepEqual(await readdir(dir), [], 'nothing was written');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

/** Runs `hoody serve` on a free port and waits for it to exit (it is expected to refuse to start). */
function serveOnce(dataDir: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  ensureBuilt();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [HOODY_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir],
      { cwd: ROOT, env: { ...process.env, HOODY_DATABASE_URL: '', HOODY_NETWORK: 'none', ...env }, timeout: 30_000 },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, output: `${stdout}${stderr}` }),
    );
  });
}

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  const skip = backend === 'postgres' && !postgresUrl ? 'HOODY_TEST_POSTGRES_URL is not set' : undefined;
  describe(`an Idempotency-Key cut by a crash (${backend})`, { skip }, () => {
    let d: DaemonHandle;
    before(async () => {
      d = await startTestDaemon(backend);
    });
    after(async () => {
      await d?.cleanup();
    });

    it('is answered normally after the daemon restarts, not 409 IDEMPOTENCY_KEY_IN_PROGRESS', async () => {
      const admin = apiClient(d.api, d.adminToken);
      // a main process that ignores TERM: the stop waits out its timeout, in flight with its key
      const created = await admin('POST', '/containers', { name: 'cut-stop', container_image: 'busybox', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'] });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.data.id as string;
      await untilProcess(d, id, 'sleep');
      const key = { 'idempotency-key': `cut-${id}` };
      const body = { timeout: 3 };
      const cut = admin('POST', `/containers/${id}/stop`, body, key).catch((err: unknown) => err);
      await eventually('the stop in flight', () => admin('GET', `/containers/${id}`), (r) => r.body.data?.current_operation?.operation === 'stop');
      await d.stop('SIGKILL');
      assert.ok((await cut) instanceof Error, 'the first request got no answer');
      await d.restart();
      const retry = await admin('POST', `/containers/${id}/stop`, body, key);
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.equal(retry.body.data.status, 'stopped');
      const replay = await admin('POST', `/containers/${id}/stop`, body, key);
      assert.equal(replay.status, 200, 'the retry\'s answer is kept for the key from now on');
      assert.deepEqual(replay.body, retry.body);
    });
  });
}
