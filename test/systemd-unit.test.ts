/**
 * packaging/hoody.service: what matters for running the daemon under systemd (the installed bin,
 * containers surviving a stop, the state folder), and `systemd-analyze verify` finding nothing
 * wrong with it (no unknown key, no bad value) where the tool is installed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIT = new URL('../packaging/hoody.service', import.meta.url).pathname;
const INSTALLED_BIN = '/usr/local/bin/hoody';

/** `systemd-analyze` when it is on the machine. */
const analyze = await new Promise<boolean>((resolve) => execFile('systemd-analyze', ['--version'], (err) => resolve(!err)));

/** The unit's key=value lines by section, in order (a key may repeat). */
function parseUnit(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section?.[1]) {
      sections.set(section[1], (current = []));
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `a key=value line inside a section: ${line}`);
    current.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return sections;
}

describe('the systemd unit', () => {
  let text: string;
  let service: Map<string, string[]>;
  before(async () => {
    text = await readFile(UNIT, 'utf8');
    const unit = parseUnit(text);
    assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
    service = new Map();
    for (const [k, v] of unit.get('Service') ?? []) service.set(k, [...(service.get(k) ?? []), v]);
  });

  it('runs `hoody serve` from the installed bin, with the environment file optional and the data in /var/lib/hoody', () => {
    assert.deepEqual(service.get('ExecStart'), [`${INSTALLED_BIN} serve`]);
    assert.deepEqual(service.get('Type'), ['exec'], 'no sd_notify: started once executed');
    assert.deepEqual(service.get('EnvironmentFile'), ['-/etc/hoody/hoody.env']);
    assert.deepEqual(service.get('StateDirectory'), ['hoody']);
    assert.ok(service.get('Environment')?.includes('HOODY_DATA_DIR=/var/lib/hoody'), 'the data folder is the state directory');
    assert.deepEqual(service.get('Restart'), ['on-failure']);
    assert.ok(Number(service.get('LimitNOFILE')?.[0]) >= 65536);
  });

  it("caps V8's young generation through NODE_OPTIONS, a flag Node accepts there and applies", async () => {
    const options = (service.get('Environment') ?? []).find((e) => e.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length);
    assert.equal(options, '--max-semi-space-size=2');
    // garbage enough to grow the young generation to Node's default 16 MB semi-spaces, then its size
    const script = "let k = []; for (let i = 0; i < 3e6; i++) { k.push({ i, s: 'x' + i }); if (k.length > 2e5) k = []; } process.stdout.write(String(require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))";
    const run = (env: NodeJS.ProcessEnv): Promise<number> =>
      new Promise((resolve, reject) => execFile(process.execPath, ['-e', script], { env }, (err, stdout) => (err ? reject(err) : resolve(Number(stdout)))));
    const [capped, uncapped] = await Promise.all([run({ PATH: process.env.PATH, NODE_OPTIONS: options }), run({ PATH: process.env.PATH })]);
    assert.ok(capped <= 4 * 1024 * 1024, `new space ${capped} bytes with ${options}`);
    assert.ok(uncapped > capped, `without it the new space grows (${uncapped} bytes), so the check above can tell`);
  });

  it('stops only the daemon (KillMode=process), so the conmon monitors and the containers keep running', () => {
    assert.deepEqual(service.get('KillMode'), ['process']);
    assert.ok(!text.includes('KillMode=none'), 'none is deprecated');
  });

  it('waits for the graceful close longer than a default stop operation may take', () => {
    const seconds = Number(/^(\d+)s$/.exec(service.get('TimeoutStopSec')?.[0] ?? '')?.[1]);
    // an operation's deadline at the default stop_timeout of 10 s: (10 + 10) x 2 + 30 (src/core/container-service.ts)
    assert.ok(seconds >= 70, `TimeoutStopSec ${seconds} s covers a 70 s operation deadline`);
  });

  describe('systemd-analyze verify', { skip: analyze ? undefined : 'systemd-analyze is not installed here' }, () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'hoody-unit-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** Runs verify on the unit text, with the bin it starts replaced by one that exists here. */
    async function verify(unitText: string): Promise<string> {
      const bin = join(dir, 'hoody');
      await writeFile(bin, '#!/bin/sh\n');
      await chmod(bin, 0o755);
      const file = join(dir, 'hoody.service');
      await writeFile(file, unitText.replaceAll(INSTALLED_BIN, bin));
      return new Promise((resolve) => execFile('systemd-analyze', ['verify', file], (_err, stdout, stderr) => resolve(`${stdout}${stderr}`)));
    }

    it('finds nothing to say about the unit', async () => {
      assert.equal(await verify(text), '');
    });

    it('would name an unknown key (the check can fail)', async () => {
      assert.match(await verify(text.replace('KillMode=process', 'KillMode=process\nKilMode=process')), /Unknown key 'KilMode'/);
    });
  });
});
