import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InitProbes, parseProcStat } from './init-probes.ts';

const startTicksOf = (pid: number): number => parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1')).startTicks;

describe('InitProbes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoody-probe-'));
  const freezer = join(dir, 'freezer.state');
  const children: ChildProcess[] = [];
  const sleeper = (): ChildProcess & { pid: number } => {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    children.push(child);
    assert.ok(child.pid);
    return child as ChildProcess & { pid: number };
  };
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses the state, session and start time after a command name with spaces and parentheses', () => {
    const stat = '4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615';
    assert.deepEqual(parseProcStat(stat), { state: 'S', startTicks: 987654, session: 4242 });
  });

  it('reads running or paused from the freezer file each time, and nothing once the process is gone', async () => {
    const child = sleeper();
    writeFileSync(freezer, 'THAWED\n');
    const probes = new InitProbes();
    probes.open('c1', child.pid, startTicksOf(child.pid), freezer, 'v1');
    assert.equal(probes.size, 1);
    assert.equal(probes.status('c1'), 'running');
    assert.equal(probes.pid('c1'), child.pid);
    writeFileSync(freezer, 'FROZEN\n');
    assert.equal(probes.status('c1'), 'paused');
    writeFileSync(freezer, 'THAWED\n');
    assert.equal(probes.status('c1'), 'running');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.equal(probes.status('c1'), undefined, 'a dead init is never running');
    assert.equal(probes.size, 0, 'the probe is closed');
  });

  it('opens no probe on a process that is not the recorded init', () => {
    const child = sleeper();
    writeFileSync(freezer, 'THAWED\n');
    const probes = new InitProbes();
    probes.open('c2', child.pid, startTicksOf(child.pid) + 1, freezer, 'v1');
    assert.equal(probes.size, 0);
    assert.equal(probes.status('c2'), undefined);
    probes.open('c2', child.pid, startTicksOf(child.pid), join(dir, 'no-such-file'), 'v1');
    assert.equal(probes.size, 0, 'no freezer file, no probe');
  });

  it('keeps at most its limit open, closing the one opened first', () => {
    writeFileSync(freezer, '0\n');
    const probes = new InitProbes(2);
    const [a, b, c] = [sleeper(), sleeper(), sleeper()];
    probes.open('a', a.pid, startTicksOf(a.pid), freezer, 'v2');
    probes.open('b', b.pid, startTicksOf(b.pid), freezer, 'v2');
    probes.open('c', c.pid, startTicksOf(c.pid), freezer, 'v2');
    assert.equal(probes.size, 2);
    assert.equal(probes.status('a'), undefined);
    assert.equal(probes.status('c'), 'running');
    writeFileSync(freezer, '1\n');
    assert.equal(probes.status('b'), 'paused', 'v2: cgroup.freeze 1');
    probes.closeAll();
    assert.equal(probes.size, 0);
  });
});
