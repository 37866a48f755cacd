/** `hoody snapshots …` and `hoody containers copy`: their arguments, and how snapshots are printed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import type { Snapshot } from '../sdk/index.ts';
import { snapshotAlias } from './args.ts';
import { buildProgram } from './program.ts';
import { frozenText, SNAPSHOT_COLUMNS, snapshotSummary, snapshotView } from './snapshots.ts';
import { renderTable } from './output.ts';

const snapshot: Snapshot = {
  id: '6b0ad0cc4effcdc34f8e2801',
  container_id: '6b0ad0cc4effcdc34f8e270f',
  server_id: 'srv_local',
  replicas: [{ server_id: 'srv_b', created_at: '2025-11-09T14:30:01.000Z' }],
  alias: 'pre-deploy-2025-11-09',
  image_id: 'builtin:busybox',
  container_image: 'busybox',
  files: 1030,
  content_bytes: 3 * 1024 * 1024,
  size_bytes: 2 * 1024 * 1024,
  frozen_ms: 75.4,
  created_by: 'user_ab12',
  created_at: '2025-11-09T14:30:00.000Z',
  config: {
    container_image: 'busybox',
    image_id: 'builtin:busybox',
    command: ['sh', '-c', 'exec httpd -f -p 8080'],
    environment_vars: { VERSION: '1' },
    autostart: true,
    hoody_kit: false,
    resources: { cpu: 1, memory_mb: 512, pids: 1024 },
    stop_timeout: 10,
    restart_policy: 'no',
    programs: [
      { name: 'web', port: 8080, index: 1, public: false },
      { name: 'api', port: 9000, index: 2, public: true },
    ],
  },
};

/** The program, with usage errors thrown (not printed) and nothing sent anywhere. */
function quietProgram(): Command {
  const program = buildProgram();
  const silence = (c: Command): void => {
    c.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    for (const sub of c.commands) silence(sub);
  };
  silence(program);
  return program;
}

async function usageError(args: string[]): Promise<CommanderError> {
  try {
    await quietProgram().parseAsync(args, { from: 'user' });
  } catch (err) {
    assert.ok(err instanceof CommanderError, `hoody ${args.join(' ')}: ${String(err)}`);
    return err;
  }
  assert.fail(`hoody ${args.join(' ')} was accepted`);
}

describe('snapshot aliases (--alias)', () => {
  it('take what the API takes', () => {
    for (const good of ['pre-deploy-2025-11-09', 'v2', 'A.b_c-d', '0', 'x'.repeat(128)]) assert.equal(snapshotAlias(good), good);
  });

  it('refuse what the API would refuse', () => {
    for (const bad of ['', '-lead', '.hidden', '_x', 'has space', 'a/b', 'é', 'x'.repeat(129)]) {
      assert.throws(() => snapshotAlias(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
});

describe('hoody snapshots and containers copy: the command line', () => {
  it('has create, list, get, delete and restore under snapshots, and copy under containers', () => {
    const program = buildProgram();
    const snapshots = program.commands.find((c) => c.name() === 'snapshots');
    assert.ok(snapshots, 'a snapshots command');
    assert.deepEqual(snapshots.aliases(), ['snapshot']);
    assert.deepEqual(snapshots.commands.map((c) => c.name()), ['create', 'list', 'get', 'delete', 'restore']);
    const containers = program.commands.find((c) => c.name() === 'containers');
    assert.ok(containers?.commands.some((c) => c.name() === 'copy'), 'containers copy');
  });

  it('refuses a missing container, snapshot or name, and a bad alias, as usage errors', async () => {
    for (const [args, code] of [
      [['snapshots', 'create'], 'commander.missingMandatoryOptionValue'],
      [['snapshots', 'list'], 'commander.missingMandatoryOptionValue'],
      [['snapshots', 'get', '--container', 'web'], 'commander.missingArgument'],
      [['snapshots', 'delete', '--container', 'web'], 'commander.missingArgument'],
      [['snapshots', 'restore', '--container', 'web'], 'commander.missingArgument'],
      [['snapshots', 'create', '--container', 'web', '--alias', 'no spaces'], 'commander.invalidArgument'],
      [['snapshots', 'explode'], 'commander.unknownCommand'],
      [['containers', 'copy', 'web'], 'commander.missingMandatoryOptionValue'],
      [['containers', 'copy', '--name', 'web-2'], 'commander.missingArgument'],
    ] as const) {
      const err = await usageError([...args]);
      assert.equal(err.code, code, args.join(' '));
      assert.notEqual(err.exitCode, 0);
    }
  });
});

describe('how snapshots are printed', () => {
  it('as a table: ID, ALIAS, FILES, SIZE, CREATED, BY', () => {
    const lines = renderTable([snapshot, { ...snapshot, id: '6b0ad0cc4effcdc34f8e2802', alias: null, created_by: 'system' }], SNAPSHOT_COLUMNS).trimEnd().split('\n');
    assert.deepEqual(lines[0]?.split(/\s+/), ['ID', 'ALIAS', 'FILES', 'SIZE', 'CREATED', 'BY']);
    assert.deepEqual(lines[1]?.split(/\s+/), ['6b0ad0cc4effcdc34f8e2801', 'pre-deploy-2025-11-09', '1030', '2.0', 'MiB', '2025-11-09T14:30:00.000Z', 'user_ab12']);
    assert.deepEqual(lines[2]?.split(/\s+/), ['6b0ad0cc4effcdc34f8e2802', '-', '1030', '2.0', 'MiB', '2025-11-09T14:30:00.000Z', 'system']);
  });

  it('after create: id, alias, files, size and how long the container was frozen', () => {
    assert.equal(
      snapshotSummary(snapshot),
      ['id:      6b0ad0cc4effcdc34f8e2801', 'alias:   pre-deploy-2025-11-09', 'files:   1030 (3.0 MiB)', 'size:    2.0 MiB added to the store', 'frozen:  75 ms', ''].join('\n'),
    );
    assert.equal(frozenText(null), '- (it was not running)');
    assert.equal(frozenText(3.25), '3.3 ms');
    assert.equal(frozenText(0), '0 ms');
  });

  it('one snapshot with the configuration a restore puts back', () => {
    const view = snapshotView(snapshot);
    assert.match(view, /^command: +sh -c 'exec httpd -f -p 8080'$/m);
    assert.match(view, /^environment: +VERSION=1$/m);
    assert.match(view, /^programs: +web:8080, api\/2:9000:public$/m);
    assert.match(view, /^created by: +user_ab12$/m);
    assert.match(view, /^server: +srv_local$/m);
    assert.match(view, /^replicas: +srv_b$/m);
    assert.match(snapshotView({ ...snapshot, replicas: [] }), /^replicas: +-$/m);
  });
});
