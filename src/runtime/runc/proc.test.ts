/**
 * Reading /proc stays bounded whatever a process makes of its command line or its socket table:
 * against real processes this test starts itself.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { MAX_COMMAND_BYTES, TRUNCATED_MARK, listeningPorts, processArgs, processCommand, receivesSignal } from './proc.ts';

const started: ChildProcess[] = [];
after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** The pid of a shell that sleeps with `args` after its script, so they stay in its argv; once it has exec'd. */
async function shellWith(args: string[]): Promise<number> {
  const child = spawn('sh', ['-c', 'sleep 600; :', 'x', ...args], { stdio: 'ignore' });
  started.push(child);
  const pid = child.pid as number;
  // between fork and exec the child still shows node's command line
  const deadline = Date.now() + 10_000;
  while ((await processArgs(pid, 64)).args[0] !== 'sh') {
    if (Date.now() > deadline) assert.fail('the shell did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
  return pid;
}

/** A node process in a network namespace of its own, running `script`; resolves with its first line of output. */
async function inOwnNetns(script: string): Promise<{ pid: number; line: string }> {
  const child = spawn('unshare', ['-n', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + 20_000;
  while (!out.includes('\n')) {
    if (child.exitCode !== null || Date.now() > deadline) assert.fail(`the namespaced process did not get ready: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { pid: child.pid as number, line: out.slice(0, out.indexOf('\n')) };
}

describe('processCommand', () => {
  it('shows at most MAX_COMMAND_BYTES of a megabyte command line, marked as cut', async () => {
    const pid = await shellWith(Array.from({ length: 100 }, () => 'a'.repeat(10_000)));
    const command = await processCommand(pid);
    assert.ok(command.length <= MAX_COMMAND_BYTES + TRUNCATED_MARK.length, `${command.length} characters`);
    assert.ok(command.startsWith(`sh -c sleep 600; : x ${'a'.repeat(100)}`), command.slice(0, 80));
    assert.ok(command.endsWith(TRUNCATED_MARK));
  });

  it('shows a command line of exactly MAX_COMMAND_BYTES whole and unmarked', async () => {
    const fixed = ['sh', '-c', 'sleep 600; :', 'x'].reduce((n, a) => n + a.length + 1, 0);
    const pad = 'b'.repeat(MAX_COMMAND_BYTES - fixed - 1);
    const pid = await shellWith([pad]);
    assert.equal(await processCommand(pid), `sh -c sleep 600; : x ${pad}`);
  });

  it('shows control characters as "?" and a process that is gone as ""', async () => {
    const pid = await shellWith(['tab\there', 'line\nbreak']);
    assert.equal(await processCommand(pid), 'sh -c sleep 600; : x tab?here line?break');
    assert.equal(await processCommand(2 ** 22 + 1), '');
  });
});

describe('processArgs', () => {
  it('gives a caller who asks for more the arguments whole, split where the process split them', async () => {
    const pid = await shellWith(['with space', 'c'.repeat(20_000)]);
    const { args, truncated } = await processArgs(pid, 64 * 1024);
    assert.deepEqual(args, ['sh', '-c', 'sleep 600; :', 'x', 'with space', 'c'.repeat(20_000)]);
    assert.equal(truncated, false);
  });
});

describe('listeningPorts', () => {
  it('finds the listening ports and not the local ports of connections', async () => {
    const { pid, line } = await inOwnNetns(`
      const net = require('node:net');
      require('node:child_process').execFileSync('ip', ['link', 'set', 'lo', 'up']);
      const servers = [0, 1, 2].map(() => net.createServer((s) => s.on('error', () => {})).listen(0, '127.0.0.1'));
      Promise.all(servers.map((s) => new Promise((r) => s.on('listening', r)))).then(async () => {
        const clients = [];
        for (let i = 0; i < 50; i++) clients.push(await new Promise((r) => { const c = net.connect(servers[0].address().port, '127.0.0.1', () => r(c)); }));
        console.log(JSON.stringify({ listening: servers.map((s) => s.address().port), local: clients.map((c) => c.localPort) }));
      });
      setInterval(() => {}, 1e6);
    `);
    const { listening, local } = JSON.parse(line) as { listening: number[]; local: number[] };
    const ports = await listeningPorts(pid);
    assert.deepEqual(ports, [...listening].sort((a, b) => a - b));
    for (const port of local) assert.ok(!ports.includes(port));
  });

  it('reads no more than a bounded part of a socket table of thousands of listening sockets', async () => {
    const count = 2500;
    const { pid, line } = await inOwnNetns(`
      const net = require('node:net');
      const servers = Array.from({ length: ${count} }, () => net.createServer().listen(0, '0.0.0.0'));
      Promise.all(servers.map((s) => new Promise((r) => s.on('listening', r)))).then(() => console.log('ready'));
      setInterval(() => {}, 1e6);
    `);
    assert.equal(line, 'ready');
    const ports = await listeningPorts(pid);
    // each line of the table is 150 bytes: the bounded read sees about 1,700 of the 2,500
    assert.ok(ports.length > 1000, `${ports.length} ports`);
    assert.ok(ports.length < count, `${ports.length} ports: the whole table was read`);
  });
});

describe('receivesSignal', () => {
  const TERM = 15;

  /** Polls until `pid` answers `want` (a process takes a moment after exec to set up its signals); fails after 10 s. */
  async function untilAnswers(pid: number, want: boolean | undefined): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (receivesSignal(pid, TERM) !== want) {
      if (Date.now() > deadline) assert.fail(`pid ${pid} still answers ${String(receivesSignal(pid, TERM))}, not ${String(want)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('is true for a process that blocks TERM (catatonit, reading a signalfd) or catches it (a shell trap)', async () => {
    const catatonit = spawn('/usr/bin/catatonit', ['--', 'sleep', '600'], { stdio: 'ignore' });
    started.push(catatonit);
    await untilAnswers(catatonit.pid as number, true);
    // a shell without a trap neither blocks nor catches TERM, once it is past the moment of forking
    // its child (dash blocks every signal around a fork)
    await untilAnswers(await shellWith([]), false);
    const shell = spawn('sh', ['-c', 'trap "exit 3" TERM; sleep 600 & wait'], { stdio: 'ignore' });
    started.push(shell);
    await untilAnswers(shell.pid as number, true);
  });

  it('is false for a process that ignores TERM, and undefined for one that is gone', async () => {
    const ignoring = spawn('sh', ['-c', 'trap "" TERM; sleep 600 & wait'], { stdio: 'ignore' });
    started.push(ignoring);
    // the shell runs its trap first, then starts sleep: once sleep is its child, the trap is in place
    await untilAnswers(ignoring.pid as number, false);
    const deadline = Date.now() + 10_000;
    while (!(await readFile(`/proc/${ignoring.pid}/task/${ignoring.pid}/children`, 'utf8')).trim()) {
      if (Date.now() > deadline) assert.fail('the shell did not start sleep');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(receivesSignal(ignoring.pid as number, TERM), false);
    assert.equal(receivesSignal(2 ** 22 + 1, TERM), undefined);
  });
});
