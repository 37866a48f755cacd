import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCommand } from './run-command.ts';

describe('runCommand', () => {
  const saved = process.env.HOODY_ADMIN_TOKEN;
  after(() => {
    if (saved === undefined) delete process.env.HOODY_ADMIN_TOKEN;
    else process.env.HOODY_ADMIN_TOKEN = saved;
  });

  it('runs the program without the daemon\'s secrets in its environment', async () => {
    process.env.HOODY_ADMIN_TOKEN = 'hoody_run_command_test_secret_0123456789';
    const { stdout } = await runCommand('/usr/bin/env', []);
    assert.match(stdout, /^PATH=/m, 'the program still finds others');
    assert.doesNotMatch(stdout, /HOODY_|hoody_run_command_test_secret/);
  });
});
