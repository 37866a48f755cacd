/**
 * POST /containers/{id}/exec against the real daemon and a real busybox container: output and exit
 * codes, environment, working directory, user and stdin, the output cap, streaming, the timeout
 * killing the command's whole session, refusals (not running, another user's container), and the
 * CLI.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { apiClient, HOODY_BIN, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

/** Execs one user may run at once on the test's daemon. */
const MAX_EXECS = 3;

describe('exec in a container', () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let id = '';

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_MAX_EXECS_PER_USER: String(MAX_EXECS) });
    call = apiClient(d.api, d.adminToken);
    const res = await call('POST', '/containers', { name: 'box', container_image: 'busybox', environment_vars: { FROM_CONTAINER: 'yes' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    id = res.body.data.id;
  });
  after(async () => {
    await d?.cleanup();
  });

  const exec = async (body: Record<string, unknown>) => call('POST', `/containers/${id}/exec`, body);
  const processes = async (): Promise<string[]> => ((await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info.processes as { command: string }[]).map((p) => p.command);

  it('answers the output and exit code, with the container\'s environment plus env, cwd, user and stdin', async () => {
    const r = await exec({ command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.data.exit_code, r.body.data.stdout, r.body.data.stderr, r.body.data.timed_out], [3, 'out\n', 'err\n', false]);
    const env = await exec({ command: ['sh', '-c', 'echo $FROM_CONTAINER $EXTRA; pwd; id -u; id -g; cat'], env: { EXTRA: 'given' }, cwd: '/tmp', user: '1234:567', stdin: 'from stdin' });
    assert.equal(env.body.data.stdout, 'yes given\n/tmp\n1234\n567\nfrom stdin');
    assert.equal(env.body.data.exit_code, 0);
    const root = await exec({ command: ['id', '-u'], user: 'root' });
    assert.equal(root.body.data.stdout, '0\n');
    const unknown = await exec({ command: ['true'], user: 'nobody-here' });
    assert.deepEqual([unknown.status, unknown.body.code], [400, 'INVALID_INPUT']);
    const missing = await exec({ command: ['/no/such/program'] });
    assert.equal(missing.status, 200);
    assert.notEqual(missing.body.data.exit_code, 0);
  });

  it('keeps the environment it was given off every command line on the host while the command runs', async () => {
    const secret = `hoody-exec-secret-${process.pid}-${Date.now()}`;
    const running = exec({ command: ['sh', '-c', 'sleep 3; echo ${#SECRET_VALUE}'], env: { SECRET_VALUE: secret } });
    await eventually('the command running', processes, (ps) => ps.some((p) => p.includes('sleep 3')), 15_000);
    const { readdirSync, readFileSync } = await import('node:fs');
    const seen: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      } catch {
        continue;
      }
      if (cmdline.includes(secret)) seen.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
    }
    assert.deepEqual(seen, []);
    const r = await running;
    assert.equal(r.body.data.stdout, `${secret.length}\n`, 'the command had the variable');
  });

  it('caps the execs a user runs at once, and kills a deleted token\'s execs', async () => {
    const token = (await call('POST', '/tokens', { name: `execs-${process.pid}` })).body.data;
    const streamed = (secret: string, command: string[]): Promise<Response> =>
      fetch(`${d.api}/containers/${id}/exec`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify({ command }),
        // bounded: an exec that was not ended fails the test instead of holding it
        signal: AbortSignal.timeout(60_000),
      });
    const held = await Promise.all(Array.from({ length: MAX_EXECS }, (_, i) => streamed(token.token, ['sleep', String(4800 + i)])));
    assert.deepEqual(held.map((r) => r.status), Array(MAX_EXECS).fill(200));
    await eventually('the held execs running', processes, (ps) => ps.filter((p) => /sleep 48\d\d/.test(p)).length === MAX_EXECS, 15_000);
    const over = await apiClient(d.api, token.token)('POST', `/containers/${id}/exec`, { command: ['true'] });
    assert.deepEqual([over.status, over.body.code, over.body.details?.kind, over.body.details?.limit], [429, 'TOO_MANY_REQUESTS', 'exec', MAX_EXECS]);
    // another user's execs are not held back
    const user = (await call('POST', '/users', { name: `exec-other-${process.pid}` })).body.data;
    const other = (await call('POST', '/tokens', { name: 'other', user_id: user.id })).body.data;
    assert.equal((await apiClient(d.api, other.token)('POST', `/containers/${id}/exec`, { command: ['true'] })).status, 404, 'a stranger is told it does not exist, not that it is busy');
    // deleting the token ends its execs: their commands are killed and their answers end
    assert.equal((await call('DELETE', `/tokens/${token.id}`)).status, 200);
    const ends = await Promise.all(held.map(async (r) => (await r.text()).trim().split('\n').map((l) => JSON.parse(l)).at(-1)));
    for (const end of ends) assert.ok(end.exit && end.exit.exit_code !== 0, `a killed command: ${JSON.stringify(end)}`);
    await eventually('the execs\' commands gone', processes, (ps) => !ps.some((p) => /sleep 48\d\d/.test(p)), 15_000);
    // their places are free again
    const again = await exec({ command: ['true'] });
    assert.equal(again.status, 200, JSON.stringify(again.body));
  });

  it('keeps the first MiB of a large output and counts the rest', async () => {
    const r = await exec({ command: ['head', '-c', '3000000', '/dev/zero'] });
    assert.equal(r.body.data.stdout_bytes, 3_000_000);
    assert.equal(r.body.data.stdout.length, 1024 * 1024);
  });

  it('streams the output as NDJSON as it comes, then the exit', async () => {
    const res = await fetch(`${d.api}/containers/${id}/exec`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ command: ['sh', '-c', 'echo first; sleep 1; echo second >&2; exit 4'] }),
    });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const events: { at: number; value: any }[] = [];
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines.filter(Boolean)) events.push({ at: performance.now(), value: JSON.parse(l) });
    }
    assert.deepEqual(
      events.map((e) => e.value.stream ?? 'exit'),
      ['stdout', 'stderr', 'exit'],
    );
    assert.equal(events[0]?.value.data, 'first\n');
    assert.equal(events[2]?.value.exit.exit_code, 4);
    // the first line came before the command ended, not with the rest
    assert.ok((events[1]?.at ?? 0) - (events[0]?.at ?? 0) > 500, 'streamed as it came');
  });

  it('kills the command and what it started in its session past the timeout', async () => {
    const r = await exec({ command: ['sh', '-c', 'sleep 4242 & sleep 4343'], timeout: 1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.timed_out, true);
    await eventually('its processes gone', processes, (ps) => !ps.some((p) => p.includes('4242') || p.includes('4343')), 10_000);
  });

  it('passes any bytes unchanged both ways with encoding base64, answered and streamed; refuses stdin that is not base64 or over 1 MiB', async () => {
    // every byte value, and bytes that are not UTF-8 (0xff, a cut sequence)
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(200_000), Buffer.from([0xe2, 0x82])]);
    const answered = await exec({ command: ['sh', '-c', 'cat; printf "\\377" >&2'], stdin: bytes.toString('base64'), encoding: 'base64' });
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    assert.ok(Buffer.from(answered.body.data.stdout, 'base64').equals(bytes), 'stdout is the bytes sent');
    assert.equal(answered.body.data.stdout_bytes, bytes.length);
    assert.deepEqual([...Buffer.from(answered.body.data.stderr, 'base64')], [0xff]);
    const res = await fetch(`${d.api}/containers/${id}/exec`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ command: ['cat'], stdin: bytes.toString('base64'), encoding: 'base64' }),
    });
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    const streamed = Buffer.concat(lines.filter((l) => l.stream === 'stdout').map((l) => Buffer.from(l.data, 'base64')));
    assert.ok(streamed.equals(bytes), `streamed stdout is the bytes sent (${streamed.length} of ${bytes.length})`);
    assert.equal(lines.at(-1).exit.exit_code, 0);
    // as text (the default), what is not UTF-8 is replaced: the reason for base64
    const asText = await exec({ command: ['sh', '-c', 'printf "\\377"'] });
    assert.equal(asText.body.data.stdout, '\ufffd');
    for (const stdin of ['not base64!', 'abc', 'A'.repeat(Math.ceil((1024 * 1024 + 1) / 3) * 4)]) {
      const refused = await exec({ command: ['cat'], stdin, encoding: 'base64' });
      assert.deepEqual([refused.status, refused.body.code], [400, 'INVALID_INPUT'], `stdin of ${stdin.length} characters: ${JSON.stringify(refused.body).slice(0, 200)}`);
    }
  });

  it('copies a binary file out of the container and one into it through the CLI, byte for byte', () => {
    const env = { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken };
    const out = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', 'box', '--', 'cat', '/bin/busybox'], { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(out.status, 0, String(out.stderr));
    const inside = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', 'box', '--', 'sha256sum', '/bin/busybox'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(inside.stdout.split(' ')[0], createHash('sha256').update(out.stdout).digest('hex'), 'the copy out is the file inside');
    const blob = randomBytes(300_000);
    const put = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', '-i', 'box', '--', 'sh', '-c', 'cat > /tmp/blob; sha256sum /tmp/blob'], { env, input: blob, encoding: 'utf8', timeout: 60_000 });
    assert.equal(put.status, 0, put.stderr);
    assert.equal(put.stdout.split(' ')[0], createHash('sha256').update(blob).digest('hex'), 'the copy in is the bytes sent');
  });

  it('runs from the CLI with the exit code passed through', () => {
    const run = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'exec', 'box', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 7'], {
      encoding: 'utf8',
      env: { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken },
      timeout: 30_000,
    });
    assert.deepEqual([run.status, run.stdout, run.stderr], [7, 'hi\n', 'oops\n']);
  });

  it('refuses a container that is not running, and another user\'s container', async () => {
    const user = (await call('POST', '/users', { name: 'eve' })).body.data;
    const token = (await call('POST', '/tokens', { name: 'eve', user_id: user.id })).body.data;
    const eve = apiClient(d.api, token.secret ?? token.token);
    assert.equal((await eve('POST', `/containers/${id}/exec`, { command: ['true'] })).status, 404);
    assert.equal((await call('POST', `/containers/${id}/pause`)).status, 200);
    const paused = await exec({ command: ['true'] });
    assert.deepEqual([paused.status, paused.body.code, paused.body.details.status], [400, 'INVALID_TRANSITION', 'paused']);
    assert.equal((await call('POST', `/containers/${id}/resume`)).status, 200);
    assert.equal((await call('POST', `/containers/${id}/stop`)).status, 200);
    const stopped = await exec({ command: ['true'] });
    assert.deepEqual([stopped.status, stopped.body.code], [400, 'INVALID_TRANSITION']);
  });
});
