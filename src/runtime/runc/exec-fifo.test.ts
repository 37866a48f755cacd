import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { access, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { releaseInit } from './exec-fifo.ts';
import { eventually } from '../../../test/eventually.ts';

// a shell stands in for runc's init: it opens the fifo for writing, writes one byte, then "execs"
const children: ChildProcess[] = [];
const dirs: string[] = [];

async function fifoIn(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-fifo-'));
  dirs.push(dir);
  const fifo = join(dir, 'exec.fifo');
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

function run(script: string, ...args: string[]): ChildProcess {
  const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: 'ignore' });
  children.push(child);
  return child;
}

const readlinkOr = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
};

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('releaseInit (runc start through the exec fifo)', () => {
  it('reads the byte, waits until init closes its end, then removes the fifo', async () => {
    const fifo = await fifoIn();
    // holds the fifo open for 150 ms after the byte, as init does until its exec
    const init = run('exec 3>"$1"; printf 0 >&3; sleep 0.15; exec 3>&-; exec sleep 30', fifo);
    const t0 = Date.now();
    assert.equal(await releaseInit(fifo, init.pid as number, { timeoutMs: 5000 }), true);
    assert.ok(Date.now() - t0 >= 140, `returned after end of file, not at the first byte (${Date.now() - t0} ms)`);
    assert.equal(await exists(fifo), false, 'the fifo is gone, so the container counts as running');
  });

  it('fails when init dies before it writes, and leaves the fifo as runc does', async () => {
    const fifo = await fifoIn();
    const init = run('exec sleep 30');
    const releasing = releaseInit(fifo, init.pid as number, { timeoutMs: 5000 });
    // init dies once the fifo is open for reading, that is after the check that it runs (however loaded the machine)
    await eventually('the fifo to be open for reading', async () => (await readdir('/proc/self/fd')).some((fd) => readlinkOr(`/proc/self/fd/${fd}`) === fifo), Boolean, 10_000);
    init.kill('SIGKILL');
    const t0 = Date.now();
    await assert.rejects(releasing, { name: 'RuntimeError', kind: 'failed', message: 'container process is already dead' });
    assert.ok(Date.now() - t0 < 1000, 'noticed within the liveness check period');
    assert.equal(await exists(fifo), true);
  });

  it('refuses an init that has already ended, as runc start refuses a stopped container', async () => {
    const fifo = await fifoIn();
    const init = run('exit 0');
    await new Promise((r) => init.on('exit', r));
    await assert.rejects(releaseInit(fifo, init.pid as number, { timeoutMs: 5000 }), { kind: 'failed', message: 'cannot start a container that has stopped' });
  });

  it('fails like runc when another reader took the byte and removed the fifo', async () => {
    const fifo = await fifoIn();
    const init = run('exec sleep 30');
    const started = releaseInit(fifo, init.pid as number, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    await unlink(fifo);
    await assert.rejects(started, { kind: 'failed', message: 'cannot start an already running container' });
  });

  it('gives up at the timeout or on abort while init lives and never writes', async () => {
    const fifo = await fifoIn();
    const init = run('exec sleep 30');
    await assert.rejects(releaseInit(fifo, init.pid as number, { timeoutMs: 150 }), /did not start within 150 ms/);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(releaseInit(fifo, init.pid as number, { timeoutMs: 5000, signal: abort.signal }), /aborted/);
  });

  it('leaves a missing fifo or a plain file to runc (returns false)', async () => {
    const fifo = await fifoIn();
    const init = run('exec sleep 30');
    assert.equal(await releaseInit(join(fifo, '..', 'absent'), init.pid as number, { timeoutMs: 5000 }), false);
    const plain = join(fifo, '..', 'plain');
    await writeFile(plain, '0');
    assert.equal(await releaseInit(plain, init.pid as number, { timeoutMs: 5000 }), false);
    assert.equal(await exists(plain), true, 'a file that is not a fifo is not removed');
  });
});
