import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execProcess, type OciProcess } from './exec-process.ts';

const container: OciProcess = {
  terminal: false,
  user: { uid: 0, gid: 0, additionalGids: [10] },
  args: ['/bin/sh', '-c', 'sleep 1d'],
  env: ['PATH=/usr/bin:/bin', 'MODE=prod', 'HOME=/root'],
  cwd: '/srv',
  capabilities: { bounding: ['CAP_CHOWN'] },
  noNewPrivileges: true,
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
};

describe('execProcess', () => {
  it('keeps the container\'s limits and privileges and sets the command, its variables over the container\'s', () => {
    const p = execProcess(container, { argv: ['env'], env: { MODE: 'debug', EXTRA: 'a=b' } });
    assert.deepEqual(p.args, ['env']);
    assert.deepEqual(p.env, ['PATH=/usr/bin:/bin', 'HOME=/root', 'MODE=debug', 'EXTRA=a=b']);
    assert.equal(p.cwd, '/srv');
    assert.deepEqual(p.user, container.user);
    assert.equal(p.terminal, false);
    assert.equal(p.consoleSize, undefined);
    assert.deepEqual([p.capabilities, p.noNewPrivileges, p.rlimits], [container.capabilities, true, container.rlimits]);
    assert.deepEqual(container.args, ['/bin/sh', '-c', 'sleep 1d'], 'the container\'s own process is not changed');
  });

  it('sets the user, the folder and a terminal of the given size', () => {
    const p = execProcess(container, { argv: ['sh'], env: {}, cwd: '/tmp', user: { uid: 1000, gid: 100, additionalGids: [5] }, tty: { fd: 3, cols: 132, rows: 43 } });
    assert.deepEqual(p.user, { uid: 1000, gid: 100, additionalGids: [5] });
    assert.equal(p.cwd, '/tmp');
    assert.equal(p.terminal, true);
    assert.deepEqual(p.consoleSize, { height: 43, width: 132 });
  });
});
