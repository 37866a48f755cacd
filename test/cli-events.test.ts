/**
 * The CLI's way of knowing when operations complete, as a user runs it (`node bin/hoody.js …` in a
 * child process) against a real daemon: `hoody events` streaming until interrupted, `containers
 * wait`, `containers manage --all` over the bulk endpoint, `manage --no-wait` with `operations get`,
 * and the exit codes of their failures.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { untilProcess, type DaemonHandle } from './daemon-harness.ts';
import { closedPort, daemonWithClient, removeContainers } from './sdk-fixture.ts';
import { eventually } from './eventually.ts';
import type { HoodyClient } from '../src/sdk/index.ts';

const BIN = new URL('../bin/hoody.js', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A `hoody events …` running in the background: its output so far, and a way to interrupt it. */
interface Follower {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  lines: () => string[];
  /** Sends SIGINT (Ctrl-C) to its pid and answers its exit code. */
  interrupt: () => Promise<number | null>;
}

/** A TCP port nothing listens on. */
describe('the hoody CLI: events, wait, bulk and background operations against a real daemon', () => {
  let d: DaemonHandle;
  let client: HoodyClient;
  const made: string[] = [];
  const followers = new Set<ChildProcess>();

  const envFor = (env: Record<string, string | undefined>): Record<string, string> => {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken, ...env })) if (v !== undefined) merged[k] = v;
    return merged;
  };

  function hoody(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: envFor(env), timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  async function ok(args: string[]): Promise<string> {
    const r = await hoody(args);
    assert.equal(r.code, 0, `hoody ${args.join(' ')} failed: ${r.stderr}`);
    assert.equal(r.stderr, '', 'nothing on stderr when all is well');
    return r.stdout;
  }

  async function fails(args: string[], code: number, env: Record<string, string | undefined> = {}): Promise<string> {
    const r = await hoody(args, env);
    assert.equal(r.code, code, `hoody ${args.join(' ')}: expected exit ${code}, got ${r.code}\n${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing on stdout when it fails');
    return r.stderr;
  }

  function follow(args: string[]): Follower {
    const child = spawn(process.execPath, [BIN, 'events', ...args], { env: envFor({}), stdio: ['ignore', 'pipe', 'pipe'] });
    followers.add(child);
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        followers.delete(child);
        resolve(code);
      }),
    );
    return {
      child,
      stdout: () => out,
      stderr: () => err,
      lines: () => out.split('\n').filter(Boolean),
      interrupt: async () => {
        if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGINT');
        return exited;
      },
    };
  }

  async function container(name: string, opts: { autostart?: boolean; command?: string[]; project_id?: string } = {}): Promise<string> {
    const c = await client.api.containers.create({ name, container_image: 'busybox', autostart: opts.autostart ?? false, ...(opts.command ? { command: opts.command } : {}), ...(opts.project_id ? { project_id: opts.project_id } : {}) });
    made.push(c.data.id);
    if (opts.autostart) await client.api.containers.wait(c.data.id, 'running', { timeout: 10 });
    return c.data.id;
  }
  const statusOf = async (id: string): Promise<string> => (await client.api.containers.get(id)).data.status;

  daemonWithClient((daemon, c) => {
    d = daemon;
    client = c;
  });
  afterEach(async () => {
    for (const child of followers) if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await removeContainers(client, made);
  });

  it('hoody events --container ID --json prints one JSON object per line for each transition and operation done meanwhile, and exits 0 on Ctrl-C', async () => {
    const id = await container('cli-ev');
    const other = await container('cli-ev-other');
    // --since 0 first replays this container's log (its create row), which shows the stream is open
    const json = follow(['--container', id, '--json', '--since', '0']);
    const human = follow(['--container', 'cli-ev', '--since', '0']);
    await eventually('both to replay the create row', async () => [json.lines().length, human.lines().length], ([a, b]) => a === 1 && b === 1, 15_000);

    for (const op of ['start', 'pause', 'resume', 'stop'] as const) await client.api.containers.manage(id, op);
    await client.api.containers.manage(other, 'start');
    const events = () => json.lines().map((l) => JSON.parse(l));
    await eventually('4 transitions and 8 operation events', async () => events().length, (k) => k >= 13, 10_000);
    await eventually('the human lines too', async () => human.lines().length, (k) => k >= 13, 10_000);
    assert.equal(await json.interrupt(), 0, 'Ctrl-C ends it cleanly');
    assert.equal(await human.interrupt(), 0);
    assert.equal(json.stderr(), '');
    assert.equal(human.stderr(), '');

    const all = events();
    assert.ok(all.every((e) => e.container_id === id), 'only the container asked for');
    const transitions = all.filter((e) => e.type === 'transition');
    assert.deepEqual(
      transitions.map((e) => `${e.log.from_status}>${e.log.to_status}`),
      ['creating>stopped', 'stopped>running', 'running>paused', 'paused>running', 'running>stopped'],
    );
    const logs = (await client.api.containers.statusLogs(id, { limit: 100, sort_order: 'asc' })).data.logs;
    assert.deepEqual(transitions.map((e) => e.log.id), logs.map((l) => l.id), 'exactly the status log, once each');
    assert.deepEqual(transitions.map((e) => e.cursor), [...transitions.map((e) => e.cursor)].sort((a, b) => a - b));
    const operations = all.filter((e) => e.type === 'operation').map((e) => `${e.operation}:${e.phase}`);
    assert.deepEqual(operations, ['start:accepted', 'start:succeeded', 'pause:accepted', 'pause:succeeded', 'resume:accepted', 'resume:succeeded', 'stop:accepted', 'stop:succeeded']);

    const who = logs[1]?.triggered_by ?? '';
    const lines = human.lines();
    const pause = transitions[2];
    assert.ok(lines.includes(`${pause.log.transition_time} cli-ev running → paused (pause by ${who}) #${pause.cursor}`), lines.join('\n'));
    const stopped = lines.find((l) => / cli-ev running → stopped \(stop by user_\w+(, exit \d+)?\) #\d+$/.test(l));
    assert.ok(stopped, lines.join('\n'));
    assert.ok(lines.some((l) => new RegExp(`^\\S+Z cli-ev pause succeeded → paused \\(by ${who}\\) op [0-9a-f]{24}$`).test(l)), lines.join('\n'));
    assert.ok(lines.every((l) => !l.includes('cli-ev-other')));
  });

  it('containers wait exits 0 when the status is reached and 1 with the server\'s message on timeout', async () => {
    const id = await container('cli-wait', { autostart: true, command: ['sh', '-c', 'sleep 0.5; exit 3'] });
    assert.equal(await ok(['containers', 'wait', 'cli-wait', 'stopped', '--timeout', '10']), 'cli-wait is stopped (exit code 3)\n');
    assert.equal(await statusOf(id), 'stopped');
    const json = JSON.parse(await ok(['containers', 'wait', id, 'stopped', '--json']));
    assert.equal(json.id, id);
    assert.equal(json.exit_code, 3);

    const started = Date.now();
    const stderr = await fails(['containers', 'wait', id, 'running', '--timeout', '0.3'], 1);
    assert.equal(stderr, 'error: container "cli-wait" did not become running within 0.3 s: it is stopped (WAIT_TIMEOUT)\n');
    assert.ok(Date.now() - started >= 300);
    assert.match(await fails(['containers', 'wait', id, 'running', '--timeout', '301'], 2), /expected a number from 0 to 300/);
    assert.match(await fails(['containers', 'wait', id, 'asleep'], 2), /Allowed choices are creating, running, stopped, paused, failed, copying/);
    assert.match(await fails(['containers', 'wait', 'no-such-container', 'running'], 1), /container "no-such-container" not found \(NOT_FOUND\)/);
  });

  it('containers manage --all --status paused stop stops the two paused containers, one line each plus a summary, and leaves the rest', async () => {
    const project = (await client.api.projects.create({ name: 'cli-bulk' })).data;
    const a = await container('cli-bulk-a', { autostart: true, project_id: project.id });
    const b = await container('cli-bulk-b', { autostart: true, project_id: project.id });
    const running = await container('cli-bulk-c', { autostart: true, project_id: project.id });
    for (const id of [a, b]) await client.api.containers.manage(id, 'pause');

    const lines = (await ok(['containers', 'manage', '--all', '--status', 'paused', 'stop', '--reason', 'bulk from cli'])).trimEnd().split('\n');
    assert.deepEqual(lines[0]?.split(/\s{2,}/), ['ID', 'NAME', 'RESULT']);
    assert.deepEqual(lines.slice(1, 3).map((l) => l.split(/\s{2,}/)).sort(), [[a, 'cli-bulk-a', 'stopped'], [b, 'cli-bulk-b', 'stopped']].sort());
    assert.equal(lines[3], 'stop: 2 of 2 containers succeeded, 0 failed');
    assert.equal(lines.length, 4);
    assert.equal(await statusOf(a), 'stopped');
    assert.equal(await statusOf(b), 'stopped');
    assert.equal(await statusOf(running), 'running', 'the filter left the running one alone');
    const last = (await client.api.containers.statusLogs(a, { limit: 1 })).data.logs[0];
    assert.equal(last?.metadata.reason, 'bulk from cli');

    // pausing stopped containers fails for each: the lines and summary still print, and the exit code is 1
    const failed = await hoody(['containers', 'manage', '--all', '--project', 'cli-bulk', '--status', 'stopped', 'pause']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, new RegExp(`^${a}\\s+cli-bulk-a\\s+failed: cannot pause container "cli-bulk-a": it is stopped \\(INVALID_TRANSITION\\)$`, 'm'));
    assert.match(failed.stdout, /^pause: 0 of 2 containers succeeded, 2 failed$/m);
    assert.equal(failed.stderr, 'error: pause failed on 2 of 2 containers\n');

    const json = await hoody(['containers', 'manage', '--all', '--project', project.id, '--name', 'cli-bulk-c', 'force-stop', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { operation: 'force-stop', results: [{ container_id: running, ok: true, status: 'stopped' }], summary: { total: 1, succeeded: 1, failed: 0 } });
    assert.equal(await ok(['containers', 'manage', '--all', '--name', 'nothing-is-called-this', 'start']), 'start: no container matched\n');
  });

  it('containers manage --no-wait prints the operation id, and operations get follows it to its end', async () => {
    const id = await container('cli-async', { autostart: true, command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'] });
    await untilProcess(d, id, 'sleep 0.05');
    const out = await ok(['containers', 'manage', 'cli-async', 'stop', '--timeout', '1', '--no-wait']);
    assert.match(out, /^[0-9a-f]{24}\n$/);
    const opId = out.trim();
    const shown = await ok(['operations', 'get', opId]);
    assert.match(shown, new RegExp(`^id:\\s+${opId}$`, 'm'));
    assert.match(shown, new RegExp(`^container:\\s+${id}$`, 'm'));
    assert.match(shown, /^operation:\s+stop$/m);
    const done = await eventually('the operation to finish', async () => JSON.parse(await ok(['operations', 'get', opId, '--json'])), (o) => o.status !== 'running', 15_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result_status, 'stopped');
    assert.match(await ok(['operations', 'get', opId]), /^result status:\s+stopped$/m);
    const accepted = JSON.parse(await ok(['containers', 'manage', id, 'start', '--no-wait', '--json']));
    assert.equal(accepted.operation, 'start');
    assert.equal(accepted.container_id, id);
    assert.match(await fails(['operations', 'get', 'ffffffffffffffffffffffff'], 1), /\(NOT_FOUND\)$/m);
  });

  it('exit codes: 1 when the API refuses or cannot be reached, 2 for usage errors', async () => {
    const id = await container('cli-codes');
    // the API refuses
    assert.match(await fails(['events', '--container', 'ffffffffffffffffffffffff'], 1), /^error: .*not found \(NOT_FOUND\)$/m);
    assert.match(await fails(['events'], 1, { HOODY_TOKEN: 'hoody_wrong' }), /\(UNAUTHORIZED\)$/m);
    assert.match(await fails(['events', '--container', 'no-such-name'], 1), /container "no-such-name" not found \(NOT_FOUND\)/);
    assert.match(await fails(['containers', 'manage', id, 'pause', '--no-wait'], 1), /\(INVALID_TRANSITION\)$/m);
    // nothing listens: the first connection fails, so it does not retry forever
    const port = await closedPort();
    const unreachable = await fails(['events'], 1, { HOODY_API_URL: `http://127.0.0.1:${port}` });
    assert.match(unreachable, /\(NETWORK_ERROR\)/);
    // usage
    const usage: [string[], RegExp][] = [
      [['events', '--types', 'transition,gossip'], /expected a comma-separated list of transition, operation/],
      [['events', '--since', 'yesterday'], /expected a whole number/],
      [['containers', 'manage', '--all'], /missing required argument 'operation'/],
      [['containers', 'manage', '--all', 'explode'], /'explode' is invalid for argument 'operation'/],
      [['containers', 'manage', '--all', id, 'stop'], /with --all, give only the operation/],
      [['containers', 'manage', '--all', 'stop', '--no-wait'], /--no-wait cannot be used with --all/],
      [['containers', 'manage', id, 'stop', '--status', 'running'], /without --all, name one container/],
      [['containers', 'manage', id], /missing required argument 'operation'/],
      [['containers', 'wait', id], /missing required argument 'status'/],
      [['operations', 'get'], /missing required argument 'id'/],
    ];
    for (const [args, message] of usage) assert.match(await fails(args, 2), message, args.join(' '));
    assert.equal(await statusOf(id), 'stopped', 'no usage error touched the container');
  });
});
