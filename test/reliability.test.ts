/**
 * Faults injected for real, then the database checked against the runtime container by
 * container: the daemon SIGKILLed in the middle of operations, container processes killed from
 * outside, the runtime state wiped as a reboot wipes it, drift made behind the daemon's back,
 * crash loops under a restart policy, orphaned claims, retries with Idempotency-Key, stale
 * ETags, and a graceful SIGTERM of the daemon.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startTestDaemon, apiClient, untilProcess, type DaemonHandle } from './daemon-harness.ts';
import { eventually, sleep } from './eventually.ts';
import { RuncDriver, cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { observedStatus } from '../src/core/container-service.ts';
import { mountOverlay } from '../src/runtime/overlay.ts';
import { makeGateDir } from '../src/runtime/runc/bundle-files.ts';
import { openStore } from '../src/store/open-store.ts';
import { newId, nowIso } from '../src/core/ids.ts';

/** A driver over the daemon's runtime state, to read the truth the way the daemon does. */
async function runtimeOf(d: DaemonHandle): Promise<RuncDriver> {
  return RuncDriver.open({ stateDir: join(d.dataDir, 'runtime'), images: new ImageStore(join(d.dataDir, 'images')), cgroupPrefix: cgroupPrefixFor(d.dataDir) });
}

/**
 * The invariants that must hold whatever happened: every container's status is the runtime's
 * truth, no claim is left, and its log is one unbroken chain ending in its status.
 */
async function assertConsistent(d: DaemonHandle, call: ReturnType<typeof apiClient>): Promise<void> {
  const driver = await runtimeOf(d);
  try {
    const containers = (await call('GET', '/containers')).body.data.containers;
    const seen = new Set<string>();
    for (const c of containers) {
      assert.equal(c.current_operation, null, `container ${c.name} has no dangling operation`);
      const truth = observedStatus(await driver.state(c.id));
      if (c.status === 'failed') assert.notEqual(truth, 'running', `failed container ${c.name} runs nothing`);
      else assert.equal(c.status, truth ?? 'stopped', `container ${c.name}: recorded ${c.status}, runtime ${truth}`);
      const logs = (await call('GET', `/containers/${c.id}/status-logs?limit=100&sort_order=asc`)).body.data.logs;
      assert.ok(logs.length >= 1);
      for (let i = 1; i < logs.length; i++) assert.equal(logs[i].from_status, logs[i - 1].to_status, `log chain of ${c.name} unbroken at row ${i}`);
      assert.equal(logs.at(-1).to_status, c.status, `last log row of ${c.name} ends in its status`);
      for (const l of logs) {
        assert.ok(!seen.has(l.id), 'no log row twice');
        seen.add(l.id);
      }
    }
  } finally {
    await driver.close();
  }
}

/**
 * What a reboot does to a server, done to one daemon's containers only: every container process
 * (thawed first, as frozen ones ignore KILL) and its conmon killed by pid, overlays unmounted (`/run` is a tmpfs),
 * cgroups removed, runc's state and the exit files gone.
 */
async function simulateReboot(d: DaemonHandle): Promise<void> {
  const prefix = cgroupPrefixFor(d.dataDir);
  const runtime = join(d.dataDir, 'runtime');
  const script = `
    for f in /sys/fs/cgroup/freezer/${prefix}/*/freezer.state; do [ -f "$f" ] && echo THAWED > "$f"; done
    for f in ${runtime}/containers/*/conmon.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    for f in /sys/fs/cgroup/pids/${prefix}/*/cgroup.procs; do [ -f "$f" ] && for p in $(cat "$f"); do kill -9 "$p"; done; done
    sleep 0.5
    grep -o '/run/hoody/${prefix}/[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l
    grep -o '${runtime}/containers/[^ ]*/rootfs' /proc/self/mountinfo | xargs -r -n1 umount -l
    for dir in /sys/fs/cgroup/*/${prefix}/*; do [ -d "$dir" ] && rmdir "$dir"; done
    rm -rf ${runtime}/runc ${runtime}/exits
    true`;
  execFileSync('sh', ['-c', script]);
}

/** Mounts a created container's overlay where its config.json points runc, as the daemon's start does before `runc create`. */
async function mountAsAStartWould(dataDir: string, id: string): Promise<void> {
  const bundle = join(dataDir, 'runtime', 'containers', id);
  const root = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).root.path as string;
  const upper = join(bundle, 'upper');
  const { uid, gid } = await stat(upper);
  await mkdir(dirname(dirname(root)), { recursive: true, mode: 0o711 });
  await makeGateDir(dirname(root), { uid, gid, size: 65536 });
  await mountOverlay({ lower: join(dataDir, 'images', 'busybox', 'rootfs'), upper, work: join(bundle, 'work'), merged: root, owner: { uid, gid } });
}

describe('reliability under injected faults', () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let n = 0;
  const create = async (body: Record<string, unknown>) => {
    const r = await call('POST', '/containers', { name: `r${n++}-${Date.now().toString(36).slice(-4)}`, container_image: 'busybox', ...body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.data;
  };
  const get = async (id: string) => (await call('GET', `/containers/${id}`)).body.data;
  const logs = async (id: string) => (await call('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc`)).body.data.logs;

  before(async () => {
    d = await startTestDaemon('sqlite', {
      HOODY_RECONCILE_INTERVAL_MS: '200',
      HOODY_ORPHANED_OPERATION_MS: '500',
      HOODY_RESTART_BACKOFF_MS: '50',
      HOODY_RESTART_MAX_RETRIES: '3',
    });
    call = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
  });

  it('SIGKILL of the daemon in the middle of 50 concurrent operations loses nothing and leaves nothing dangling', async () => {
    const cs = [];
    for (let i = 0; i < 25; i++) cs.push(await create({ command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done'] }));
    const ops = ['pause', 'stop', 'restart', 'force-stop', 'pause'];
    // one container ignores TERM, so its graceful stop is certainly in flight when the kill comes
    const deaf = await create({ command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'], stop_timeout: 30 });
    await untilProcess(d, deaf.id, 'sleep 0.05');
    const deafStop = call('POST', `/containers/${deaf.id}/stop`);
    await eventually('the deaf container to be claimed by its stop', () => get(deaf.id), (x) => x.current_operation?.operation === 'stop', 3000);
    const requests = Promise.allSettled([deafStop, ...cs.flatMap((c, i) => [call('POST', `/containers/${c.id}/${ops[i % ops.length]}`), call('POST', `/containers/${c.id}/${ops[(i + 2) % ops.length]}`)])]);
    await sleep(60);
    await d.stop('SIGKILL');
    const settled = await requests;
    assert.equal(settled[0]?.status, 'rejected', 'the kill cut the stop that was waiting for the container to leave');
    await d.restart();
    await assertConsistent(d, call);
    const interrupted = (await Promise.all([deaf, ...cs].map((c) => logs(c.id)))).flat().filter((l) => l.metadata.interrupted_operation);
    assert.ok(
      interrupted.some((l) => l.container_id === deaf.id && l.metadata.interrupted_operation === 'stop' && l.to_status === 'running'),
      'the stop cut by the kill is logged as interrupted, and the container that ignored TERM still runs',
    );
    for (const l of interrupted) assert.equal(l.triggered_by, 'system');
    for (const c of [deaf, ...cs]) await call('POST', `/containers/${c.id}/force-stop`);
    for (const c of [deaf, ...cs]) assert.equal((await call('DELETE', `/containers/${c.id}`)).status, 200);
  });

  it('a container killed with SIGKILL from outside is stopped with exit code 137 within a second', async () => {
    const c = await create({});
    const pid = (await call('GET', `/containers/${c.id}?runtime=true`)).body.data.runtime_info.pid;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    const after = await eventually('the exit to be recorded', () => get(c.id), (x) => x.status === 'stopped', 3000);
    assert.ok(Date.now() - t0 < 1000, `recorded in ${Date.now() - t0} ms`);
    assert.equal(after.exit_code, 137);
    await assertConsistent(d, call);
  });

  it('drift made behind the daemon (runc pause from outside) is found by the sweep and logged', async () => {
    const c = await create({});
    execFileSync('runc', ['--root', join(d.dataDir, 'runtime', 'runc'), 'pause', c.id]);
    const paused = await eventually('the sweep to see the pause', () => get(c.id), (x) => x.status === 'paused', 3000);
    assert.equal(paused.status, 'paused');
    const last = (await logs(c.id)).at(-1);
    assert.equal(last.triggered_by, 'system');
    assert.equal(last.metadata.operation, 'reconcile');
    assert.equal((await call('POST', `/containers/${c.id}/resume`)).status, 200);
    await assertConsistent(d, call);
  });

  it('on-failure restarts a crashing container with back-off, a row per attempt, and gives up after the retry limit', async () => {
    const c = await create({ command: ['sh', '-c', 'sleep 0.1; exit 1'], restart_policy: 'on-failure' });
    const rows = await eventually(
      'three restarts and a final exit',
      () => logs(c.id),
      (ls) => ls.filter((l: any) => l.triggered_by === 'restart-policy').length === 3 && ls.at(-1).to_status === 'stopped',
      10_000,
    );
    const restarts = rows.filter((l: any) => l.triggered_by === 'restart-policy');
    assert.deepEqual(restarts.map((l: any) => l.metadata.attempt), [1, 2, 3]);
    // the back-off is the wait from an exit's row to the start of the restart that follows it (its row's time less its duration);
    // the gaps between restart rows also hold each run and start, which vary with the machine's load
    const delays = restarts.map((l: any) => {
      const exit = rows[rows.indexOf(l) - 1];
      assert.equal(exit.to_status, 'stopped', 'each restart follows an exit');
      return Date.parse(l.transition_time) - l.duration_ms - Date.parse(exit.transition_time);
    });
    // HOODY_RESTART_BACKOFF_MS is 50: at least 50, 100 and 200 ms (2 ms for rounding)
    delays.forEach((ms: number, i: number) => assert.ok(ms >= 50 * 2 ** i - 2, `back-off grows: ${delays.join(', ')} ms`));
    await sleep(600);
    assert.equal((await logs(c.id)).filter((l: any) => l.triggered_by === 'restart-policy').length, 3, 'no fourth attempt');
    assert.equal((await get(c.id)).exit_code, 1);
    await assertConsistent(d, call);
    assert.equal((await call('DELETE', `/containers/${c.id}`)).status, 200);
  });

  it('"always" restarts after a clean exit, but never undoes a stop the user asked for', async () => {
    const c = await create({ command: ['sh', '-c', 'trap "exit 0" TERM; sleep 0.3; exit 0'], restart_policy: 'always' });
    await eventually('a restart', () => logs(c.id), (ls) => ls.some((l: any) => l.triggered_by === 'restart-policy'), 5000);
    await eventually('running again', () => get(c.id), (x) => x.status === 'running');
    assert.equal((await call('POST', `/containers/${c.id}/stop`)).status, 200);
    const rowsAtStop = (await logs(c.id)).length;
    await sleep(800);
    assert.equal((await get(c.id)).status, 'stopped');
    assert.equal((await logs(c.id)).length, rowsAtStop, 'nothing after the user stop');
    assert.equal((await call('DELETE', `/containers/${c.id}`)).status, 200);
  });

  it('the watchdog releases an operation claim that nobody is carrying out', async () => {
    const c = await create({});
    // a claim written straight into the database, as a daemon that died mid-operation would leave it
    const store = await openStore({ dataDir: d.dataDir });
    try {
      const claim = await store.beginOperation(c.id, { id: newId(), operation: 'stop', started_at: nowIso() });
      assert.equal(claim?.claimed, true);
    } finally {
      await store.close();
    }
    assert.equal((await call('POST', `/containers/${c.id}/pause`)).status, 409);
    const released = await eventually('the watchdog', () => get(c.id), (x) => x.current_operation === null, 5000);
    assert.equal(released.status, 'running');
    const last = (await logs(c.id)).at(-1);
    assert.equal(last.metadata.interrupted_operation, 'stop');
    assert.match(last.metadata.reason, /watchdog/);
    assert.equal((await call('POST', `/containers/${c.id}/pause`)).status, 200);
  });

  it('Idempotency-Key: a retried POST answers the first answer and does nothing again', async () => {
    const key = `create-${Date.now()}`;
    const body = { name: `idem-${Date.now().toString(36)}`, container_image: 'busybox', autostart: false };
    const first = await call('POST', '/containers', body, { 'idempotency-key': key });
    const again = await call('POST', '/containers', body, { 'idempotency-key': key });
    assert.equal(first.status, 201);
    assert.deepEqual(again, first);
    assert.equal((await call('GET', `/containers?name=${body.name}`)).body.data.containers.length, 1);
    const reused = await call('POST', '/containers', { ...body, autostart: true }, { 'idempotency-key': key });
    assert.equal(reused.status, 422);
    assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');

    const id = first.body.data.id;
    const start1 = await call('POST', `/containers/${id}/start`, undefined, { 'idempotency-key': 'start-1' });
    const start2 = await call('POST', `/containers/${id}/start`, undefined, { 'idempotency-key': 'start-1' });
    assert.equal(start1.status, 200);
    assert.deepEqual(start2, start1, 'a retried start answers 200 again instead of 400 "already running"');
    assert.equal((await logs(id)).filter((l: any) => l.metadata.operation === 'start').length, 1);
    const bad = await call('POST', `/containers/${id}/stop`, undefined, { 'idempotency-key': 'x'.repeat(300) });
    assert.equal(bad.status, 400);
    const secret = await call('POST', '/tokens', { name: 'ci' }, { 'idempotency-key': 'token-1' });
    assert.equal(secret.status, 400, 'a token secret is never kept for a replay');
    assert.equal((await call('GET', '/tokens')).body.data.tokens.filter((t: any) => t.name === 'ci').length, 0);
  });

  it('PATCH with a stale If-Match ETag is refused with 412 and changes nothing', async () => {
    const c = await create({ autostart: false });
    const res = await fetch(`${d.api}/containers/${c.id}`, { headers: { authorization: `Bearer ${d.adminToken}` } });
    const etag = res.headers.get('etag');
    assert.match(etag ?? '', /^"\d+"$/);
    assert.equal((await call('PATCH', `/containers/${c.id}`, { environment_vars: { A: '1' } }, { 'if-match': etag as string })).status, 200);
    const stale = await call('PATCH', `/containers/${c.id}`, { environment_vars: { A: '2' } }, { 'if-match': etag as string });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.code, 'PRECONDITION_FAILED');
    assert.deepEqual((await get(c.id)).environment_vars, { A: '1' });
  });

  it('a server reboot: autostart containers come back (paused ones as running), the others stay stopped', async () => {
    const running = await create({});
    const paused = await create({});
    await call('POST', `/containers/${paused.id}/pause`);
    const manual = await create({ autostart: false });
    await call('POST', `/containers/${manual.id}/start`);
    const userStopped = await create({});
    await call('POST', `/containers/${userStopped.id}/stop`);
    const oneShot = await create({ command: ['sh', '-c', 'exit 0'] });
    await eventually('the one-shot job to end', () => get(oneShot.id), (x) => x.status === 'stopped');

    await d.stop('SIGKILL');
    await simulateReboot(d);
    await d.restart();
    assert.match(d.output(), /server reboot/);
    const r = await get(running.id);
    assert.equal(r.status, 'running');
    assert.equal((await logs(running.id)).at(-1).triggered_by, 'autostart');
    const p = await get(paused.id);
    assert.equal(p.status, 'running', 'paused state is lost on reboot: it comes back running');
    assert.ok((await logs(paused.id)).some((l: any) => l.metadata.paused_state_lost === true));
    assert.equal((await get(manual.id)).status, 'stopped', 'autostart off: stays stopped');
    assert.equal((await get(userStopped.id)).status, 'stopped', 'stopped by the user: stays stopped');
    assert.equal((await get(oneShot.id)).status, 'stopped', 'a job that had ended before the reboot is not run again');
    assert.ok(((await call('GET', `/containers/${running.id}?runtime=true`)).body.data.runtime_info.processes.length ?? 0) > 0);
    await assertConsistent(d, call);
  });

  it('SIGTERM lets an operation in flight finish and record its row before the daemon exits', async () => {
    const c = await create({ command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'] });
    await untilProcess(d, c.id, 'sleep 0.05');
    const stopping = call('POST', `/containers/${c.id}/stop`, { timeout: 1 });
    const waiting = call('GET', `/containers/${c.id}/wait?status=paused&timeout=60`);
    await sleep(200);
    const t0 = Date.now();
    const exited = d.stop('SIGTERM');
    const answer = await stopping;
    await exited;
    assert.ok(Date.now() - t0 < 10_000, `a pending wait did not hold the shutdown (${Date.now() - t0} ms)`);
    assert.equal((await waiting).status, 408, 'the pending wait was answered, not cut off');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.data.status, 'stopped');
    await d.restart();
    assert.equal((await get(c.id)).status, 'stopped');
    assert.equal((await logs(c.id)).at(-1).metadata.operation, 'stop');
    await assertConsistent(d, call);
  });

  it('a second SIGTERM exits at once during a long graceful stop; the next start settles the cut stop', async () => {
    const c = await create({ command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'], stop_timeout: 120 });
    await untilProcess(d, c.id, 'sleep 0.05');
    const stopping = call('POST', `/containers/${c.id}/stop`).catch((err: Error) => err);
    await eventually('the stop to be claimed', () => get(c.id), (x) => x.current_operation?.operation === 'stop', 3000);
    const seen = d.output().length;
    process.kill(d.pid, 'SIGTERM');
    await eventually('the first SIGTERM to be taken', async () => d.output().slice(seen), (out) => /SIGTERM: finishing in-flight requests/.test(out), 5000);
    const t0 = Date.now();
    const exited = d.stop('SIGTERM');
    const inTime = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    assert.ok(inTime, 'the daemon exited within 5 s of the second SIGTERM');
    assert.ok(Date.now() - t0 < 2000, `exited ${Date.now() - t0} ms after the second SIGTERM`);
    assert.match(d.output().slice(seen), /SIGTERM again: exiting now/);
    await stopping;
    await d.restart();
    const after = await get(c.id);
    assert.equal(after.current_operation, null);
    assert.equal(after.status, 'running', 'the container that ignores TERM still runs');
    const last = (await logs(c.id)).at(-1);
    assert.equal(last.metadata.interrupted_operation, 'stop');
    assert.equal(last.triggered_by, 'system');
    await assertConsistent(d, call);
    assert.equal((await call('POST', `/containers/${c.id}/force-stop`)).status, 200);
  });
});

/** Pids of every process that belongs to one container: in its cgroup, or its conmon. */
function processesOf(d: DaemonHandle, id: string): { pid: number; command: string }[] {
  const cgroup = `/${cgroupPrefixFor(d.dataDir)}/${id}`;
  const bundle = join(d.dataDir, 'runtime', 'containers', id);
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const groups = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      if (groups.split('\n').some((l) => l.endsWith(`:${cgroup}`)) || (command.includes('conmon') && command.includes(bundle))) found.push({ pid: Number(entry), command });
    } catch {
      /* the process ended while being read */
    }
  }
  return found;
}

/** A runc that, after each `runc create`, waits a while before conmon may report the container: a start caught mid-way. */
async function slowCreateRunc(dir: string): Promise<string> {
  const wrapper = join(dir, 'runc-slow-create');
  const script = `#!/bin/sh
/usr/sbin/runc "$@" || exit $?
for a in "$@"; do [ "$a" = create ] && { touch ${join(dir, 'created')}; sleep 1; }; done
exit 0
`;
  await writeFile(wrapper, script, { mode: 0o755 });
  return wrapper;
}

describe('reliability: a start cut by a daemon SIGKILL', () => {
  let d: DaemonHandle | undefined;
  let wrapperDir: string | undefined;
  after(async () => {
    await d?.cleanup();
    if (wrapperDir) await rm(wrapperDir, { recursive: true, force: true });
  });

  it('a start cut between runc create and the release of init leaves no process, no runc state, and an honest status', async () => {
    wrapperDir = await mkdtemp(join(tmpdir(), 'hoody-runc-wrap-'));
    d = await startTestDaemon('sqlite', { HOODY_RUNC_BINARY: await slowCreateRunc(wrapperDir), HOODY_RECONCILE_INTERVAL_MS: '2000' });
    const call = apiClient(d.api, d.adminToken);
    const made = await call('POST', '/containers', { name: `halfway-${Date.now().toString(36)}`, container_image: 'busybox', autostart: false });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.data.id as string;
    const starting = call('POST', `/containers/${id}/start`).catch((err: Error) => err);
    // runc has created the container (its init waits on the exec fifo); the daemon has not released it
    await eventually('runc create to have run', async () => existsSync(join(wrapperDir as string, 'created')), (x) => x, 10_000);
    assert.ok(processesOf(d, id).some((p) => /runc init/.test(p.command)), 'runc init waits in the container');
    await d.stop('SIGKILL');
    await starting;
    await d.restart();

    const runcRoot = join(d.dataDir, 'runtime', 'runc');
    await eventually('no process of the container', async () => processesOf(d as DaemonHandle, id), (ps) => ps.length === 0, 10_000);
    assert.equal(execFileSync('/usr/sbin/runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' }).trim(), '', 'runc knows nothing stale');
    const now = (await call('GET', `/containers/${id}`)).body.data;
    assert.equal(now.status, 'stopped');
    assert.equal(now.current_operation, null);
    assert.equal(now.observed_status, 'stopped');
    assert.equal(now.in_sync, true);
    const last = (await call('GET', `/containers/${id}/status-logs?limit=1`)).body.data.logs[0];
    assert.equal(last.metadata.interrupted_operation, 'start');
    assert.match(last.metadata.reason, /half-made start .*was removed/);
    assert.equal(last.triggered_by, 'system');
  });

  it('a half-made start that appears while the daemon runs is shown out of sync, then removed by the sweep and logged', async () => {
    assert.ok(d, 'the daemon of the previous case');
    const call = apiClient(d.api, d.adminToken);
    const made = await call('POST', '/containers', { name: `stale-${Date.now().toString(36)}`, container_image: 'busybox', autostart: false });
    const id = made.body.data.id as string;
    const runcRoot = join(d.dataDir, 'runtime', 'runc');
    // runc keeps a container as a folder named by its id under its root; `runc list` itself fails when the
    // sweep removes that folder while the list is being read, so the folder is what is checked
    const listed = (): boolean => existsSync(join(runcRoot, id));
    let seen: { status: string; observed_status: string; in_sync: boolean } | undefined;
    for (let attempt = 0; attempt < 5 && !seen; attempt++) {
      // runc's "created" (an init waiting to be released) behind the daemon's back, the record says stopped;
      // its root filesystem mounted first, as a start does (a stopped container holds none)
      await mountAsAStartWould(d.dataDir, id);
      execFileSync('/usr/sbin/runc', ['--root', runcRoot, 'create', '--bundle', join(d.dataDir, 'runtime', 'containers', id), id], { stdio: 'ignore' });
      const got = (await call('GET', `/containers/${id}`)).body.data;
      // only an answer given while runc still held it counts (the sweep may have come in between)
      if (listed()) seen = got;
      else await eventually('the sweep to finish', () => call('GET', `/containers/${id}`), (r) => r.body.data.current_operation === null);
    }
    assert.ok(seen, 'runc held the created container while it was read');
    assert.equal(seen.status, 'stopped');
    assert.equal(seen.observed_status, 'creating');
    assert.equal(seen.in_sync, false, 'a waiting init is not what "stopped" means');
    await eventually('the sweep to remove it', async () => listed(), (x) => !x, 10_000);
    await eventually('no process of the container', async () => processesOf(d as DaemonHandle, id), (ps) => ps.length === 0, 10_000);
    const now = (await call('GET', `/containers/${id}`)).body.data;
    assert.equal(now.in_sync, true);
    const last = (await call('GET', `/containers/${id}/status-logs?limit=1`)).body.data.logs[0];
    assert.match(last.metadata.reason, /half-made start/);
    assert.equal(last.from_status, 'stopped');
    assert.equal(last.to_status, 'stopped');
    // and it starts fine afterwards
    assert.equal((await call('POST', `/containers/${id}/start`)).status, 200);
    assert.equal((await call('POST', `/containers/${id}/force-stop`)).status, 200);
  });
});
