/**
 * The examples of the user-facing page /work/shared/seed/managing-containers.md, run as written
 * against a real daemon and real busybox containers, with the container states they must produce.
 *
 * What was changed, and only that:
 * - TypeScript (SDK) examples: the client is made from HOODY_API_URL and HOODY_TOKEN, and the
 *   page's free variables (DEV_ID, PROD_ID, CONTAINER_ID, GREEN_ID, BLUE_ID, critical) are
 *   containers made for the test.
 * - CLI examples: run by bash with `hoody` on PATH (bin/hoody.js) and the *_ID variables set.
 * - JavaScript fetch examples: 'https://api.hoody.icu' is replaced by the daemon's URL, the
 *   page's fixed ids by the test's containers, and where TypeScript strict asks for a parameter
 *   type, `: any` or `: string` is added. Free `token` is the admin token.
 * - For Scenario 4, blue and green serve a program `web` and an alias `prod` points at blue
 *   (ALIAS_ID) before the page's lines run; test/proxy-e2e.test.ts sends traffic through such a
 *   switch. Scenario 1's roll-back (the page says it in words only) is run in
 *   test/snapshots-api.test.ts.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { HoodyClient } from '../src/sdk/index.ts';

const BIN = new URL('../bin/hoody.js', import.meta.url).pathname;

/** The daemon's URL: what the page's 'https://api.hoody.icu' becomes. */
let HOODY_URL = '';
/** Some of the page's snippets read a free `token` variable. */
let token: string | undefined;

// ---------------------------------------------------------------------------------------------
// The page's JavaScript fetch snippets, copied (see the header for the only changes).

/** Pattern 3: Resource Optimization. */
async function pattern3ResourceOptimization() {
  // Stop non-critical containers during off-hours.
  // `/api/v1/containers` returns all your containers — filter client-side by name.
  const nonCritical = ['staging-api', 'test-db', 'dev-frontend'];

  const { data: all } = await fetch(
    `${HOODY_URL}/api/v1/containers`,
    { headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }}
  ).then(r => r.json());

  const targets = all.containers.filter(
    (c: any) => nonCritical.includes(c.name) && c.status === 'running'
  );

  for (const c of targets) {
    await fetch(
      `${HOODY_URL}/api/v1/containers/${c.id}/stop`,
      {
        method: 'POST',
        headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }
      }
    );
  }
}

/** Managing Multiple Containers: Bulk Operations (start all project containers). */
async function bulkOperations(projectId: string) {
  // Get all containers in project
  const response = await fetch(
    `${HOODY_URL}/api/v1/projects/${projectId}/containers`,
    { headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }}
  );

  const containers = await response.json();

  // Start all stopped containers
  for (const container of containers.data.containers) {
    if (container.status === 'stopped') {
      await fetch(
        `${HOODY_URL}/api/v1/containers/${container.id}/start`,
        {
          method: 'POST',
          headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }
        }
      );
      console.log(`Started: ${container.name}`);
    }
  }
}

/** Managing Multiple Containers: Conditional Operations (stop all paused containers). */
async function conditionalOperations() {
  // Stop all paused containers (free up RAM).
  // The list endpoint takes no status filter — filter client-side on the returned array.
  const { data } = await fetch(
    `${HOODY_URL}/api/v1/containers`,
    { headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }}
  ).then(r => r.json());

  const paused = data.containers.filter((c: any) => c.status === 'paused');

  for (const container of paused) {
    await fetch(
      `${HOODY_URL}/api/v1/containers/${container.id}/stop`,
      {
        method: 'POST',
        headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }
      }
    );
  }
}

/** Managing Multiple Containers: Parallel Operations (restart several at once). */
async function parallelOperations(containerIds: string[]) {
  // Restart all in parallel
  await Promise.all(
    containerIds.map(id =>
      fetch(`${HOODY_URL}/api/v1/containers/${id}/restart`, {
        method: 'POST',
        headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }
      })
    )
  );

  console.log('All containers restarted');
}

/** Useful Questions: "Can I start multiple containers simultaneously?" */
async function startInParallel(containerIds: string[]) {
  await Promise.all(
    containerIds.map(id =>
      fetch(`${HOODY_URL}/api/v1/containers/${id}/start`, {
        method: 'POST',
        headers: { 'Authorization': `Bearer ${token}` }
      })
    )
  );
}

/** Best Practices 3: Verify Operations Complete. */
async function stopContainer(id: string) {
  await fetch(`${HOODY_URL}/api/v1/containers/${id}/stop`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${token}` }
  });

  // Poll until stopped
  let attempts = 0;
  while (attempts < 30) {
    const status = await fetch(
      `${HOODY_URL}/api/v1/containers/${id}`,
      { headers: { 'Authorization': `Bearer ${token}` }}
    ).then(r => r.json());

    if (status.data.status === 'stopped') {
      return true;
    }

    await new Promise(r => setTimeout(r, 1000));
    attempts++;
  }

  throw new Error('Container did not stop in time');
}

/**
 * Scenario 2 calls a `waitForStatus(containerId, status)` the page never defines; this one is
 * written in the page's own polling style (as in "Verify Operations Complete").
 */
async function waitForStatus(id: string, wanted: string) {
  for (let attempts = 0; attempts < 30; attempts++) {
    const status = await fetch(
      `${HOODY_URL}/api/v1/containers/${id}`,
      { headers: { 'Authorization': `Bearer ${process.env.HOODY_TOKEN}` }}
    ).then(r => r.json());
    if (status.data.status === wanted) return true;
    await new Promise(r => setTimeout(r, 1000));
  }
  throw new Error(`Container did not become ${wanted} in time`);
}

/** Scenario 2: Scheduled Maintenance. */
async function performMaintenance(containerId: string) {
  const token = process.env.HOODY_TOKEN;
  const headers = { 'Authorization': `Bearer ${token}` };
  
  // 1. Stop container
  await fetch(
    `${HOODY_URL}/api/v1/containers/${containerId}/stop`,
    { method: 'POST', headers }
  );
  
  // 2. Wait for stopped
  await waitForStatus(containerId, 'stopped');
  
  // 3. Update resources
  await fetch(
    `${HOODY_URL}/api/v1/containers/${containerId}`,
    {
      method: 'PATCH',
      headers: {
        ...headers,
        'Content-Type': 'application/json'
      },
      body: JSON.stringify({
        environment_vars: {
          "UPDATED": "true"
        }
      })
    }
  );
  
  // 4. Restart
  await fetch(
    `${HOODY_URL}/api/v1/containers/${containerId}/start`,
    { method: 'POST', headers }
  );
  
  // 5. Verify running
  const status = await fetch(
    `${HOODY_URL}/api/v1/containers/${containerId}`,
    { headers }
  ).then(r => r.json());
  
  return status.data.status === 'running';
}

// ---------------------------------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the seed page "Managing Containers", its examples run against a real daemon', () => {
  let d: DaemonHandle;
  let client: HoodyClient;
  let shimDir: string;
  const savedEnv = { url: process.env.HOODY_API_URL, token: process.env.HOODY_TOKEN };

  before(async () => {
    d = await startTestDaemon();
    process.env.HOODY_API_URL = d.url;
    process.env.HOODY_TOKEN = d.adminToken;
    HOODY_URL = d.url;
    token = d.adminToken;
    // the one line the page leaves to the reader: how the client is made
    client = new HoodyClient({ baseUrl: process.env.HOODY_API_URL ?? 'http://127.0.0.1:8080', token: process.env.HOODY_TOKEN });
    shimDir = await mkdtemp(join(tmpdir(), 'hoody-cli-'));
    await writeFile(join(shimDir, 'hoody'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    await chmod(join(shimDir, 'hoody'), 0o755);
  });
  afterEach(async () => {
    // every example works on "all your containers": each test starts from none
    for (const c of (await client.api.containers.list()).data.containers) {
      if (c.status === 'running' || c.status === 'paused') await client.api.containers.manage(c.id, 'force-stop');
      await client.api.containers.delete(c.id);
    }
  });
  after(async () => {
    for (const [key, value] of [['HOODY_API_URL', savedEnv.url], ['HOODY_TOKEN', savedEnv.token]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    if (shimDir) await rm(shimDir, { recursive: true, force: true });
    await d?.cleanup();
  });

  /** A busybox container (default command `sleep infinity`) in the wanted status. */
  async function make(name: string, status: 'running' | 'stopped' | 'paused', extra: { project_id?: string; autostart?: boolean; programs?: { name: string; port: number }[] } = {}): Promise<string> {
    const c = await client.api.containers.create({ name, container_image: 'busybox', autostart: status !== 'stopped', ...extra });
    if (status !== 'stopped' && extra.autostart === false) await client.api.containers.manage(c.data.id, 'start');
    if (status === 'paused') await client.api.containers.manage(c.data.id, 'pause');
    assert.equal(await statusOf(c.data.id), status);
    return c.data.id;
  }
  const statusOf = async (id: string): Promise<string> => (await client.api.containers.get(id)).data.status;
  const pidOf = async (id: string): Promise<number | null> => (await client.api.containers.get(id, { runtime: 'true' })).data.runtime_info.pid;
  const environOf = async (id: string): Promise<string[]> => (await readFile(`/proc/${await pidOf(id)}/environ`, 'utf8')).split('\0');
  /** The operations of the container's log rows since the given count, oldest first. */
  const operationsOf = async (id: string, skip = 0): Promise<string[]> =>
    (await client.api.containers.statusLogs(id, { limit: 100, sort_order: 'asc' })).data.logs.slice(skip).map((l) => `${l.metadata.operation}:${l.to_status}`);

  /** Runs a CLI snippet with bash, `hoody` on PATH and the page's variables in the environment. */
  function bash(script: string, vars: Record<string, string>): Promise<Run> {
    const env = { ...process.env, PATH: `${shimDir}:${process.env.PATH}`, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken, ...vars };
    return new Promise((resolve) => {
      execFile('bash', ['-c', script], { env, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  /** Runs `work` and answers what it printed with console.log. */
  async function printed(work: () => Promise<unknown>): Promise<string[]> {
    const lines: string[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    try {
      await work();
    } finally {
      console.log = original;
    }
    return lines;
  }

  describe('TypeScript (SDK) examples', () => {
    it('Pattern 1, daily development workflow: the dev container runs after the morning start and is frozen after the evening pause', async () => {
      const DEV_ID = await make('dev', 'stopped');

      // Morning: Start your dev container
      await client.api.containers.manage(DEV_ID, 'start');

      // Work all day via container URLs...

      // Evening: Pause (instant resume tomorrow)
      await client.api.containers.manage(DEV_ID, 'pause');

      assert.equal(await statusOf(DEV_ID), 'paused');
      const info = (await client.api.containers.get(DEV_ID, { runtime: 'true' })).data.runtime_info;
      assert.ok(info.processes.length > 0, 'paused, not stopped: its processes are still there');
      assert.deepEqual(await operationsOf(DEV_ID, 1), ['start:running', 'pause:paused']);
    });

    it('Pattern 2, maintenance window: the new configuration reaches the restarted process', async () => {
      const PROD_ID = await make('prod', 'running');

      // 1. Stop container gracefully
      await client.api.containers.manage(PROD_ID, 'stop');

      // 2. Update configuration
      await client.api.containers.update(PROD_ID, {
        environment_vars: { CONFIG_VERSION: '2.0' }
      });

      // 3. Restart with new config
      await client.api.containers.manage(PROD_ID, 'start');

      assert.equal(await statusOf(PROD_ID), 'running');
      assert.ok((await environOf(PROD_ID)).includes('CONFIG_VERSION=2.0'));
    });

    it('Pattern 4, emergency recovery, runs as written and leaves the container running; the force-stop after a stop that worked changes nothing', async () => {
      const CONTAINER_ID = await make('stuck', 'running');

      // Try graceful stop first
      await client.api.containers.manage(CONTAINER_ID, 'stop');

      // If that hangs or fails, force it
      await client.api.containers.manage(CONTAINER_ID, 'force-stop');

      // Restart clean
      await client.api.containers.manage(CONTAINER_ID, 'start');

      assert.equal(await statusOf(CONTAINER_ID), 'running');
      assert.deepEqual(await operationsOf(CONTAINER_ID, 1), ['start:running', 'stop:stopped', 'start:running']);
    });

    it('Enable Autostart: the container ends running with autostart on', async () => {
      const CONTAINER_ID = await make('svc', 'running', { autostart: false });

      // Stop container first
      await client.api.containers.manage(CONTAINER_ID, 'stop');

      // Enable autostart
      await client.api.containers.update(CONTAINER_ID, {
        autostart: true
      });

      // Restart container
      await client.api.containers.manage(CONTAINER_ID, 'start');

      const c = (await client.api.containers.get(CONTAINER_ID)).data;
      assert.equal(c.autostart, true);
      assert.equal(c.status, 'running');
    });

    it('Scenario 1, deploy new code: a snapshot is made, a restart runs a new process and the runtime check shows it', async () => {
      const CONTAINER_ID = await make('app', 'running');
      const before = await pidOf(CONTAINER_ID);

      const lines = await printed(async () => {
        // 1. Snapshot current state (safety)
        await client.api.containers.createSnapshot(CONTAINER_ID, {
          alias: 'pre-deploy-2025-11-09'
        });

        // 2. Deploy code via terminal...

        // 3. Restart container for clean state
        await client.api.containers.manage(CONTAINER_ID, 'restart');

        // 4. Verify services are running
        const status = await client.api.containers.get(CONTAINER_ID, { runtime: 'true' });
        console.log(status.data);
      });

      assert.equal(await statusOf(CONTAINER_ID), 'running');
      assert.notEqual(await pidOf(CONTAINER_ID), before, 'a new process');
      assert.equal(lines.length, 1);
      const snapshots = (await client.api.containers.listSnapshots(CONTAINER_ID)).data.snapshots;
      assert.deepEqual(snapshots.map((s) => s.alias), ['pre-deploy-2025-11-09']);
      assert.match(snapshots[0]?.created_by ?? '', /^user_/);
      assert.equal(typeof snapshots[0]?.frozen_ms, 'number', 'the running container was frozen for the cut');
    });

    it('Scenario 3, resource conservation: non-critical containers are paused, critical ones keep running, and all come back in the morning', async () => {
      const critical = ['prod-db'];
      const db = await make('prod-db', 'running');
      const batch = await make('batch', 'running');
      const idle = await make('idle', 'stopped');

      // List running containers
      const running = await client.api.containers.list();

      // Pause non-critical containers
      for (const c of running.data.containers) {
        if (c.status === 'running' && !critical.includes(c.name)) {
          await client.api.containers.manage(c.id, 'pause');
        }
      }

      assert.deepEqual([await statusOf(db), await statusOf(batch), await statusOf(idle)], ['running', 'paused', 'stopped']);

      // Morning: Resume all paused
      const paused = await client.api.containers.list();
      for (const c of paused.data.containers) {
        if (c.status === 'paused') {
          await client.api.containers.manage(c.id, 'resume');
        }
      }

      assert.deepEqual([await statusOf(db), await statusOf(batch), await statusOf(idle)], ['running', 'running', 'stopped']);
      assert.deepEqual(await operationsOf(batch, 2), ['pause:paused', 'resume:running']);
      assert.deepEqual(await operationsOf(db, 2), [], 'the critical container was not touched');
    });

    it('Scenario 4, blue-green deployment: green runs, the alias prod serves green, blue is stopped', async () => {
      const web = [{ name: 'web', port: 8080 }];
      const GREEN_ID = await make('green', 'stopped', { programs: web });
      const BLUE_ID = await make('blue', 'running', { programs: web });
      const ALIAS_ID = (await client.api.proxyAliases.create({ container_id: BLUE_ID, alias: 'prod', program: 'web', index: 1, target_path: '/' })).data.id;

      const lines = await printed(async () => {
        // 1. Start green container
        await client.api.containers.manage(GREEN_ID, 'start');

        // 2. Verify green is healthy
        const green = await client.api.containers.get(GREEN_ID, { runtime: 'true' });
        console.log(green.data.status); // 'running'

        // 3. Re-point alias to green (delete + recreate — container_id is immutable)
        await client.api.proxyAliases.delete(ALIAS_ID);
        await client.api.proxyAliases.create({
          container_id: GREEN_ID,
          alias: 'prod',
          program: 'web',
          index: 1,
          target_path: '/'
        });

        // 4. After verification, stop blue
        await client.api.containers.manage(BLUE_ID, 'stop');
      });

      assert.deepEqual(lines, ['running']);
      assert.equal(await statusOf(GREEN_ID), 'running');
      assert.equal(await statusOf(BLUE_ID), 'stopped');
      const aliases = (await client.api.proxyAliases.list()).data.aliases;
      assert.deepEqual(aliases.map((a) => [a.alias, a.container_id]), [['prod', GREEN_ID]]);
    });
  });

  describe('CLI examples', () => {
    it('Pattern 1: the dev container is running after "start" and paused after "pause"', async () => {
      const DEV_ID = await make('dev', 'stopped');
      const r = await bash(
        String.raw`
    # Morning: Start your dev container
    hoody containers manage $DEV_ID start

    # Work all day via container URLs
    # https://{project}-{container}-terminal-1.{server}.containers.hoody.icu
    # https://{project}-{container}-display-1.{server}.containers.hoody.icu

    # Evening: Pause (instant resume tomorrow)
    hoody containers manage $DEV_ID pause
`,
        { DEV_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `Container started successfully: ${DEV_ID} is running\nContainer paused successfully: ${DEV_ID} is paused\n`);
      assert.equal(await statusOf(DEV_ID), 'paused');
    });

    it('Pattern 2: stop, update --environment-vars, start: the process sees CONFIG_VERSION=2.0', async () => {
      const PROD_ID = await make('prod', 'running');
      const r = await bash(
        String.raw`
    # 1. Stop container gracefully
    hoody containers manage $PROD_ID stop

    # 2. Update configuration
    hoody containers update $PROD_ID --environment-vars CONFIG_VERSION=2.0

    # 3. Restart with new config
    hoody containers manage $PROD_ID start
`,
        { PROD_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(await statusOf(PROD_ID), 'running');
      assert.ok((await environOf(PROD_ID)).includes('CONFIG_VERSION=2.0'));
    });

    it('Pattern 4: every line succeeds and the script ends with the container running', async () => {
      const CONTAINER_ID = await make('stuck', 'running');
      const r = await bash(
        String.raw`
    # Unresponsive container? Try graceful stop first
    hoody containers manage $CONTAINER_ID stop

    # If that hangs or fails, force it
    hoody containers manage $CONTAINER_ID force-stop

    # Restart clean
    hoody containers manage $CONTAINER_ID start
`,
        { CONTAINER_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        `Container stopped successfully: ${CONTAINER_ID} is stopped\nContainer force-stopped successfully: ${CONTAINER_ID} is stopped\nContainer started successfully: ${CONTAINER_ID} is running\n`,
      );
      assert.equal(r.stderr, '');
      assert.equal(await statusOf(CONTAINER_ID), 'running');
    });

    it('Enable Autostart: stop, update --autostart, start: running with autostart on', async () => {
      const CONTAINER_ID = await make('svc', 'running', { autostart: false });
      const r = await bash(
        String.raw`
    # Stop container first
    hoody containers manage $CONTAINER_ID stop

    # Enable autostart
    hoody containers update $CONTAINER_ID --autostart

    # Restart container
    hoody containers manage $CONTAINER_ID start
`,
        { CONTAINER_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      const c = (await client.api.containers.get(CONTAINER_ID)).data;
      assert.equal(c.autostart, true);
      assert.equal(c.status, 'running');
    });

    it('Scenario 1: a snapshot, then restart, then get --runtime true shows the new process', async () => {
      const CONTAINER_ID = await make('app', 'running');
      const before = await pidOf(CONTAINER_ID);
      const r = await bash(
        String.raw`
    # 1. Snapshot current state (safety)
    hoody snapshots create --container $CONTAINER_ID --alias "pre-deploy-2025-11-09"

    # 2. Access terminal to deploy, then deploy code

    # 3. Restart container for clean state
    hoody containers manage $CONTAINER_ID restart

    # 4. Verify services are running
    hoody containers get $CONTAINER_ID --runtime true
`,
        { CONTAINER_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      const after = await pidOf(CONTAINER_ID);
      assert.notEqual(after, before);
      assert.match(r.stdout, /^Container restarted successfully: .* is running$/m);
      assert.match(r.stdout, /^status:\s+running$/m);
      assert.match(r.stdout, new RegExp(`^\\s+pid:\\s+${after}$`, 'm'));
      assert.match(r.stdout, /^alias:\s+pre-deploy-2025-11-09$/m);
      assert.deepEqual((await client.api.containers.listSnapshots(CONTAINER_ID)).data.snapshots.map((s) => s.alias), ['pre-deploy-2025-11-09']);
    });

    it('Scenario 3: the listing shows the container running, then paused, and it ends running', async () => {
      const CONTAINER_ID = await make('batch', 'running');
      const r = await bash(
        String.raw`
    # List containers (filter by status client-side)
    hoody containers list

    # Pause each non-critical container
    hoody containers manage $CONTAINER_ID pause

    # Morning: Resume all paused
    hoody containers list
    hoody containers manage $CONTAINER_ID resume
`,
        { CONTAINER_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      const rows = r.stdout.split('\n').filter((l) => l.startsWith(CONTAINER_ID));
      assert.equal(rows.length, 2, r.stdout);
      assert.match(rows[0] ?? '', /\s+batch\s+running\s+/);
      assert.match(rows[1] ?? '', /\s+batch\s+paused\s+/);
      assert.match(r.stdout, /Container resumed successfully: .* is running\n$/);
      assert.equal(await statusOf(CONTAINER_ID), 'running');
    });

    it('Scenario 4: green runs, the alias prod serves green, blue is stopped', async () => {
      const web = [{ name: 'web', port: 8080 }];
      const GREEN_ID = await make('green', 'stopped', { programs: web });
      const BLUE_ID = await make('blue', 'running', { programs: web });
      const ALIAS_ID = (await client.api.proxyAliases.create({ container_id: BLUE_ID, alias: 'prod', program: 'web', index: 1, target_path: '/' })).data.id;
      const r = await bash(
        String.raw`
    # 1. Start green container
    hoody containers manage $GREEN_ID start

    # 2. Verify green is healthy
    hoody containers get $GREEN_ID --runtime true

    # 3. Re-point alias to green (delete + recreate — container_id is immutable)
    hoody proxy delete $ALIAS_ID
    hoody proxy create --container-id $GREEN_ID       --alias "prod" --program "web" --index 1 --target-path "/"

    # 4. Monitor green in production

    # 5. After verification, stop blue
    hoody containers manage $BLUE_ID stop
`,
        { GREEN_ID, BLUE_ID, ALIAS_ID },
      );
      assert.equal(r.code, 0, r.stderr);
      const aliases = (await client.api.proxyAliases.list()).data.aliases;
      assert.deepEqual(aliases.map((a) => [a.alias, a.container_id]), [['prod', GREEN_ID]]);
      assert.match(r.stdout, /^alias:\s+prod$/m);
      assert.match(r.stdout, /^name:\s+green$/m);
      assert.match(r.stdout, /^status:\s+running$/m);
      assert.equal(await statusOf(GREEN_ID), 'running');
      assert.equal(await statusOf(BLUE_ID), 'stopped');
    });
  });

  describe('curl examples', () => {
    it('Scenario 1 with curl: a snapshot of the running container, a restart, the runtime check', async () => {
      const id = await make('app', 'running');
      const before = await pidOf(id);
      // the page's lines, with its base URL and {id} replaced
      const page = String.raw`
    # 1. Snapshot current state (safety)
    curl -X POST "https://api.hoody.icu/api/v1/containers/{id}/snapshots" \
      -H "Authorization: Bearer $HOODY_TOKEN" \
      -H "Content-Type: application/json" \
      -d '{"alias": "pre-deploy-2025-11-09"}'

    # 2. Access terminal to deploy
    # https://{project}-{container}-terminal-1.{server}.containers.hoody.icu

    # 3. Restart container for clean state
    curl -X POST "https://api.hoody.icu/api/v1/containers/{id}/restart" \
      -H "Authorization: Bearer $HOODY_TOKEN"

    # 4. Verify services are running
    curl "https://api.hoody.icu/api/v1/containers/{id}?runtime=true" \
      -H "Authorization: Bearer $HOODY_TOKEN"
`;
      const r = await bash(page.replaceAll('https://api.hoody.icu', d.url).replaceAll('{id}', id), {});
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"message":"Snapshot created successfully"/);
      assert.match(r.stdout, /"alias":"pre-deploy-2025-11-09"/);
      assert.equal(await statusOf(id), 'running');
      assert.notEqual(await pidOf(id), before);
      assert.deepEqual((await client.api.containers.listSnapshots(id)).data.snapshots.map((s) => s.alias), ['pre-deploy-2025-11-09']);
    });

    it('Best practice 1 with curl: a snapshot before maintenance', async () => {
      const id = await make('maint', 'stopped');
      const r = await bash(
        String.raw`curl -X POST "https://api.hoody.icu/api/v1/containers/{id}/snapshots" -H "Authorization: Bearer $HOODY_TOKEN" -H "Content-Type: application/json" -d '{"alias": "before-maintenance"}'`
          .replaceAll('https://api.hoody.icu', d.url)
          .replaceAll('{id}', id),
        {},
      );
      assert.equal(r.code, 0, r.stderr);
      const snap = (await client.api.containers.getSnapshot(id, 'before-maintenance')).data.snapshot;
      assert.equal(snap.frozen_ms, null, 'a stopped container is not frozen');
      assert.equal(await statusOf(id), 'stopped');
    });

    it('Scenario 4 with curl: green runs, the alias prod serves green, blue is stopped', async () => {
      const web = [{ name: 'web', port: 8080 }];
      const green_id = await make('green', 'stopped', { programs: web });
      const blue_id = await make('blue', 'running', { programs: web });
      const alias_id = (await client.api.proxyAliases.create({ container_id: blue_id, alias: 'prod', program: 'web', index: 1, target_path: '/' })).data.id;
      // the page's lines, with its base URL and {placeholders} replaced
      const page = String.raw`
    # 1. Start green container
    curl -X POST "https://api.hoody.icu/api/v1/containers/{green_id}/start"       -H "Authorization: Bearer $HOODY_TOKEN"

    # 2. Verify green is healthy
    curl "https://api.hoody.icu/api/v1/containers/{green_id}?runtime=true"       -H "Authorization: Bearer $HOODY_TOKEN"

    # 3. Re-point alias to green (delete + recreate — container_id is immutable)
    curl -X DELETE "https://api.hoody.icu/api/v1/proxy/aliases/{alias_id}"       -H "Authorization: Bearer $HOODY_TOKEN"

    curl -X POST "https://api.hoody.icu/api/v1/proxy/aliases"       -H "Authorization: Bearer $HOODY_TOKEN"       -H "Content-Type: application/json"       -d '{
        "container_id": "{green_id}",
        "alias": "prod",
        "program": "web",
        "index": 1,
        "target_path": "/"
      }'

    # 4. After verification, stop blue
    curl -X POST "https://api.hoody.icu/api/v1/containers/{blue_id}/stop"       -H "Authorization: Bearer $HOODY_TOKEN"
`;
      const script = page.replaceAll('https://api.hoody.icu', d.url).replaceAll('{green_id}', green_id).replaceAll('{blue_id}', blue_id).replaceAll('{alias_id}', alias_id);
      const r = await bash(script, {});
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"message":"Proxy alias created successfully"/);
      assert.equal(await statusOf(green_id), 'running');
      assert.equal(await statusOf(blue_id), 'stopped');
      const aliases = (await client.api.proxyAliases.list()).data.aliases;
      assert.deepEqual(aliases.map((a) => [a.alias, a.container_id]), [['prod', green_id]]);
    });
  });

  describe('JavaScript fetch examples', () => {
    it('Pattern 3, resource optimization: the running non-critical containers are stopped, the others untouched', async () => {
      const stagingApi = await make('staging-api', 'running');
      const testDb = await make('test-db', 'running');
      const devFrontend = await make('dev-frontend', 'stopped');
      const prodApi = await make('prod-api', 'running');

      await pattern3ResourceOptimization();

      assert.deepEqual(
        [await statusOf(stagingApi), await statusOf(testDb), await statusOf(devFrontend), await statusOf(prodApi)],
        ['stopped', 'stopped', 'stopped', 'running'],
      );
      assert.deepEqual(await operationsOf(devFrontend, 1), [], 'the stopped one was not asked to stop');
    });

    it('Bulk Operations: every stopped container of the project is started, and nothing outside it', async () => {
      const project = (await client.api.projects.create({ name: 'bulk' })).data;
      const a = await make('bulk-a', 'stopped', { project_id: project.id });
      const b = await make('bulk-b', 'stopped', { project_id: project.id });
      const c = await make('bulk-c', 'running', { project_id: project.id });
      const outside = await make('outside', 'stopped');

      const lines = await printed(() => bulkOperations(project.id));

      assert.deepEqual(lines.sort(), ['Started: bulk-a', 'Started: bulk-b']);
      assert.deepEqual([await statusOf(a), await statusOf(b), await statusOf(c), await statusOf(outside)], ['running', 'running', 'running', 'stopped']);
      assert.deepEqual(await operationsOf(c, 2), [], 'the running one was not touched');
    });

    it('Conditional Operations: paused containers are stopped (the stop thaws them), running ones are untouched', async () => {
      const paused = await make('frozen', 'paused');
      const running = await make('busy', 'running');

      await conditionalOperations();

      assert.equal(await statusOf(paused), 'stopped');
      assert.deepEqual((await client.api.containers.get(paused, { runtime: 'true' })).data.runtime_info.processes, [], 'no process is left');
      assert.equal(await statusOf(running), 'running');
    });

    it('Useful Questions and Parallel Operations: three containers started, then restarted, in parallel', async () => {
      const ids = [await make('par-a', 'stopped'), await make('par-b', 'stopped'), await make('par-c', 'stopped')];

      await startInParallel(ids);
      for (const id of ids) assert.equal(await statusOf(id), 'running');
      const pids = await Promise.all(ids.map(pidOf));

      const lines = await printed(() => parallelOperations(ids));

      assert.deepEqual(lines, ['All containers restarted']);
      for (const [i, id] of ids.entries()) {
        assert.equal(await statusOf(id), 'running');
        assert.notEqual(await pidOf(id), pids[i], 'a new process');
        assert.deepEqual(await operationsOf(id, 2), ['restart:stopped', 'restart:running']);
      }
    });

    it('Verify Operations Complete: stopContainer answers true once the container is stopped', async () => {
      const id = await make('verify', 'running');
      assert.equal(await stopContainer(id), true);
      assert.equal(await statusOf(id), 'stopped');
    });

    it('Scenario 2, scheduled maintenance: performMaintenance answers true and the process sees UPDATED=true', async () => {
      const id = await make('nightly', 'running');
      const before = await pidOf(id);

      // Run at 2 AM via cron
      const result = await performMaintenance(id);

      assert.equal(result, true);
      assert.equal(await statusOf(id), 'running');
      assert.notEqual(await pidOf(id), before);
      assert.ok((await environOf(id)).includes('UPDATED=true'));
      assert.deepEqual(await operationsOf(id, 2), ['stop:stopped', 'start:running']);
    });
  });
});
