/**
 * Terminal sessions over WebSocket against the real daemon and a real busybox container, driven by
 * a test client (which answers the shell's cursor-position queries as a terminal would): a prompt,
 * a command and its output, a resize seen by `stty size`, the exit code, output paced by a slow
 * client, nothing left in the container after a session is closed, sessions in
 * runtime_info.terminals, and refusals (another user's container, another site's Origin, no token,
 * a container that does not run).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { apiClient, HOODY_BIN, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { Client, PROMPT } from './terminal-client.ts';

/** Terminal sessions one user may hold open on the test's daemon. */
const MAX_TERMINALS = 3;

describe('terminal sessions', () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let id = '';
  let wsUrl = '';
  let auth: Record<string, string> = {};

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_MAX_TERMINALS_PER_USER: String(MAX_TERMINALS) });
    call = apiClient(d.api, d.adminToken);
    const res = await call('POST', '/containers', { name: 'shell', container_image: 'busybox' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    id = res.body.data.id;
    wsUrl = `${d.url.replace('http', 'ws')}/api/v1/containers/${id}/terminal`;
    auth = { authorization: `Bearer ${d.adminToken}` };
  });
  after(async () => {
    if (process.env.HOODY_TEST_SHOW_DAEMON) process.stdout.write(d.output());
    await d?.cleanup();
  });

  const processes = async (): Promise<string[]> => {
    try {
      return ((await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info.processes as { command: string }[]).map((p) => p.command);
    } catch (err) {
      throw new Error(`reading processes: ${String(err)} ${String((err as { cause?: unknown }).cause)}`);
    }
  };

  it('gives a prompt, runs a command, follows a resize and ends with the shell\'s exit code', async () => {
    const c = await Client.open(`${wsUrl}?cols=80&rows=24`, auth);
    await c.until(PROMPT);
    assert.equal(c.control[0]?.type, 'session');
    const terminals = (await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info.terminals;
    assert.equal(terminals.length, 1);
    assert.deepEqual([terminals[0].id, terminals[0].cols, terminals[0].rows], [c.control[0].id, 80, 24]);
    let mark = c.text.length;
    c.type('echo hello-$((6*7))\r');
    await c.until(/hello-42/, mark);
    mark = c.text.length;
    c.type('stty size\r');
    assert.equal(await c.until(/\d+ \d+/, mark), '24 80');
    c.ws.send(JSON.stringify({ type: 'resize', cols: 132, rows: 43 }));
    await eventually('the resize reaching the container', async () => {
      const at = c.text.length;
      c.type('stty size\r');
      return c.until(/\d+ \d+\r?\n/, at).catch(() => '');
    }, (size) => size.startsWith('43 132'), 15_000);
    c.type('exit 5\r');
    await eventually('the exit message', async () => c.control.find((m) => m.type === 'exit'), (m) => m !== undefined, 15_000);
    assert.equal(c.control.find((m) => m.type === 'exit').code, 5);
    await eventually('the socket closed', async () => c.closed, (x) => x !== undefined, 10_000);
    await eventually('no session listed', async () => (await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info.terminals.length, (n) => n === 0, 10_000);
  });

  it('runs a given command, and closing the socket ends what the session started in the container', async () => {
    const c = await Client.open(`${wsUrl}?command=sh`, auth);
    await c.until(PROMPT);
    c.type('sleep 4711 & sleep 4712\r');
    await eventually('both sleeps running', processes, (ps) => ps.some((p) => p.includes('4711')) && ps.some((p) => p.includes('4712')), 15_000);
    c.ws.close();
    await eventually('the session\'s processes gone', processes, (ps) => !ps.some((p) => p.includes('4711') || p.includes('4712')), 15_000);
  });

  it('paces a fast producer to the client: the output arrives whole', async () => {
    const c = await Client.open(`${wsUrl}?command=sh&command=-c&command=${encodeURIComponent('head -c 6000000 /dev/zero | tr "\\0" x; echo; echo done-$((1+1))')}`, auth);
    c.keep = false;
    // a client that reads slowly: the session's output waits for it instead of piling up in the daemon
    c.ws.pause();
    await new Promise((r) => setTimeout(r, 1500));
    c.ws.resume();
    // the last value names how much arrived and whether the session ended without the rest
    await eventually('the whole output', async () => ({ xs: c.xs, closed: c.closed, control: c.control, tail: c.tail.slice(-20) }), (v) => v.tail.includes('done-2'), 60_000);
    assert.equal(c.xs, 6_000_000, 'every byte arrived');
  });

  it('attaches the CLI\'s terminal with exec -it: the command sees a terminal of its window\'s size, and its exit code is hoody\'s', async () => {
    // script(1) gives the CLI a terminal of 30 rows and 100 columns
    const cli = `stty rows 30 cols 100; "${process.execPath}" "${HOODY_BIN}" containers exec -it ${id} -- sh -c 'tty >/dev/null && echo on-a-tty; stty size; exit 3'`;
    const run = spawnSync('script', ['-qec', cli, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken } });
    assert.equal(run.status, 3, `${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /on-a-tty/);
    assert.match(run.stdout, /30 100/);
  });

  it('exec -it refuses piped input as docker does (-i alone takes it); -t alone reads nothing', async () => {
    const env = { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken };
    const piped = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', '-it', id, '--', 'cat'], { input: 'one\n', encoding: 'utf8', timeout: 60_000, env });
    assert.equal(piped.status, 2, `${piped.stdout}${piped.stderr}`);
    assert.match(piped.stderr, /the input device is not a TTY: to send piped input, use -i without -t/);
    const plain = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', '-i', id, '--', 'wc', '-l'], { input: 'one\ntwo\n', encoding: 'utf8', timeout: 60_000, env });
    assert.deepEqual([plain.status, plain.stdout.trim()], [0, '2'], plain.stderr);
    // -t alone: the command's terminal gets nothing from this process's stdin
    const alone = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', '-t', id, '--', 'sh', '-c', 'read -t 2 line && echo "got $line" || echo nothing-read'], { input: 'secret\n', encoding: 'utf8', timeout: 60_000, env });
    assert.equal(alone.status, 0, `${alone.stdout}${alone.stderr}`);
    assert.match(alone.stdout, /nothing-read/);
    assert.doesNotMatch(alone.stdout, /got secret/);
  });

  it('caps the sessions a user holds, and ends a deleted token\'s sessions', async () => {
    const token = (await call('POST', '/tokens', { name: `terminals-${process.pid}` })).body.data;
    const headers = { authorization: `Bearer ${token.token}` };
    const held = await Promise.all(Array.from({ length: MAX_TERMINALS }, () => Client.open(wsUrl, headers)));
    await Promise.all(held.map((c) => c.until(PROMPT)));
    const over = await Client.open(wsUrl, headers).then(
      () => ({ status: 101, body: '' }),
      (err: { status?: number; body?: string }) => ({ status: err.status, body: err.body ?? '' }),
    );
    assert.equal(over.status, 429, over.body);
    assert.deepEqual([JSON.parse(over.body).code, JSON.parse(over.body).details?.kind], ['TOO_MANY_REQUESTS', 'terminal']);
    assert.equal((await call('DELETE', `/tokens/${token.id}`)).status, 200);
    await eventually('the sessions ended', async () => held.map((c) => c.closed !== undefined), (closed) => closed.every(Boolean), 15_000);
    await eventually('no session listed', async () => (await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info.terminals.length, (n) => n === 0, 10_000);
    // their places are free again
    const again = await Client.open(wsUrl, auth);
    await again.until(PROMPT);
    again.ws.close();
  });

  it('refuses another user, another site, no token, and a container that does not run', async () => {
    const user = (await call('POST', '/users', { name: 'trudy' })).body.data;
    const token = (await call('POST', '/tokens', { name: 'trudy', user_id: user.id })).body.data;
    const status = async (headers: Record<string, string>, url = wsUrl): Promise<number> => Client.open(url, headers).then(() => 101, (err: { status?: number }) => err.status ?? 0);
    assert.equal(await status({ authorization: `Bearer ${token.secret ?? token.token}` }), 404);
    assert.equal(await status({ ...auth, origin: 'https://evil.example' }), 403);
    assert.equal(await status({ ...auth, origin: d.url }), 101);
    assert.equal(await status({}), 401);
    assert.equal((await call('POST', `/containers/${id}/stop`)).status, 200);
    assert.equal(await status(auth), 400);
  });
});
