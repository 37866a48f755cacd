/**
 * Core logic with a scripted runtime: the paths a real runtime rarely takes (a stop that even
 * SIGKILL cannot finish, a start that fails) must still leave an honest status and a log row.
 * Real SQLite store; the fake driver is only here, never the evidence that containers work.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { RuntimeError, type ContainerSpec, type RuntimeDriver, type RuntimeState } from '../runtime/driver.ts';
import { ContainerService } from './container-service.ts';
import { ProjectService } from './project-service.ts';
import type { Actor } from './actor.ts';
import type { EventHub } from './event-hub.ts';
import { newId, nowIso } from './ids.ts';
import { HoodyError } from './errors.ts';

/** A runtime whose processes obey only what the test scripts. */
class ScriptedDriver implements RuntimeDriver {
  readonly name = 'scripted';
  readonly capabilities = { pause: true, killAll: true, stats: true, logs: false, adopt: false, exitEvents: false };
  states = new Map<string, RuntimeState>();
  /** When true, no signal ends the container. */
  unkillable = false;
  failStart: string | undefined;
  kills: string[] = [];

  async health() {
    return { ok: true, runtime: 'scripted', version: '0', problems: [] };
  }
  async create(spec: ContainerSpec) {
    if (!this.states.has(spec.id)) this.states.set(spec.id, { id: spec.id, status: 'created', pid: null, exitCode: null });
  }
  async start(id: string) {
    if (this.failStart) throw new RuntimeError('failed', this.failStart);
    const s = { id, status: 'running' as const, pid: 4242, exitCode: null };
    this.states.set(id, s);
    return s;
  }
  async kill(id: string, sig: NodeJS.Signals, opts: { all?: boolean } = {}) {
    this.kills.push(`${sig}${opts.all ? ' all' : ''}`);
    if (this.unkillable) return;
    this.states.set(id, { id, status: 'stopped', pid: null, exitCode: sig === 'SIGKILL' ? 137 : 143 });
  }
  async pause(id: string) {
    this.states.set(id, { ...(this.states.get(id) as RuntimeState), status: 'paused' });
  }
  async resume(id: string) {
    this.states.set(id, { ...(this.states.get(id) as RuntimeState), status: 'running' });
  }
  async waitExit(id: string, timeoutMs: number) {
    const s = this.states.get(id);
    if (s?.status === 'stopped') return s;
    await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 20)));
    return undefined;
  }
  async delete(id: string) {
    this.states.delete(id);
  }
  async state(id: string) {
    return this.states.get(id);
  }
  async abandonStart(id: string) {
    if (this.states.get(id)?.status !== 'creating') return false;
    this.states.set(id, { id, status: 'created', pid: null, exitCode: null });
    return true;
  }
  async stats() {
    return { memoryBytes: 1, cpuUsageNs: 1, processes: [{ pid: 4242, command: 'stuck-app', state: 'D' }], processCount: 1, listeningPorts: [] };
  }
  async logs() {
    return '';
  }
  async list() {
    return [...this.states.values()];
  }
  onExit() {
    return () => undefined;
  }
  stateLost() {
    return false;
  }
  async close() {}
}

describe('container service with a scripted runtime', () => {
  let dir: string;
  let store: Store;
  let driver: ScriptedDriver;
  let service: ContainerService;
  const actor: Actor = { userId: 'user_test', tokenId: 't', tokenName: 'cli', isAdmin: true, readOnly: false, automation: false };
  const server = { id: newId(), name: 'node-test' };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-core-'));
    store = await openStore({ dataDir: dir });
    await store.createUser({ id: actor.userId, name: 'test', is_admin: true, created_at: nowIso() });
    await store.upsertServer({ id: server.id, name: server.name, status: 'ready', runtime: 'scripted', last_seen_at: nowIso(), created_at: nowIso() });
    driver = new ScriptedDriver();
    service = new ContainerService({ store, driver, projects: new ProjectService(store), images: { ensure: async () => ({ id: 'builtin:busybox', release: () => undefined }) }, server, killWaitMs: 50 });
  });
  afterEach(async () => {
    await service.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a claim refused by its precondition (a stale If-Match) leaves nothing marked in flight', async () => {
    const accepted: string[] = [];
    const events = { publishOperation: (e: { phase: string; operation_id: string }) => e.phase === 'accepted' && accepted.push(e.operation_id), notify: () => undefined };
    service = new ContainerService({ store, driver, projects: new ProjectService(store), images: { ensure: async () => ({ id: 'builtin:busybox', release: () => undefined }) }, server, events: events as unknown as EventHub });
    const c = await service.create(actor, { name: 'etag', container_image: 'busybox', autostart: false });
    await assert.rejects(service.update(actor, c.id, { autostart: false }, { ifVersion: c.version + 7 }), (err: Error & { code?: string }) => err.code === 'PRECONDITION_FAILED');
    assert.equal(accepted.length, 1, 'the update was claimed, then refused');
    assert.equal(service.isInFlight(c.id, accepted[0] as string), false, 'the refused claim is not left in flight');
    assert.equal((await store.getContainer(c.id))?.current_operation, null);
  });

  it('pulls a missing image before the container exists: a failed pull creates nothing; the image id is recorded and pinned in the spec', async () => {
    const asked: { reference: string; pull: string }[] = [];
    const released: Promise<number>[] = [];
    const specs: ContainerSpec[] = [];
    const create = driver.create.bind(driver);
    driver.create = async (spec: ContainerSpec) => {
      specs.push(spec);
      await create(spec);
    };
    service = new ContainerService({
      store,
      driver,
      projects: new ProjectService(store),
      images: {
        ensure: async (reference, opts) => {
          asked.push({ reference, pull: opts.pull });
          if (reference.startsWith('denied')) throw new HoodyError('IMAGE_PULL_FAILED', `cannot pull "${reference}": unauthorized`, { kind: 'unauthorized' });
          // held until the row is written: released once, with the row there (or the create failed)
          return { id: 'sha256:' + 'a'.repeat(64), release: () => void released.push(store.listContainers({}).then((rows) => rows.length)) };
        },
      },
      server,
    });
    await assert.rejects(service.create(actor, { name: 'nope', container_image: 'denied.example.com/app:1' }), (err: HoodyError) => err.code === 'IMAGE_PULL_FAILED' && err.details?.kind === 'unauthorized');
    assert.equal((await store.listContainers({})).length, 0, 'a failed pull creates nothing');
    const c = await service.create(actor, { name: 'app', container_image: 'example.com/app:1', pull: 'always', autostart: false });
    assert.deepEqual(asked.at(-1), { reference: 'example.com/app:1', pull: 'always' });
    assert.equal(c.image_id, 'sha256:' + 'a'.repeat(64));
    assert.equal((await store.getContainer(c.id))?.image_id, 'sha256:' + 'a'.repeat(64), 'stored');
    assert.equal(specs.at(-1)?.imageId, 'sha256:' + 'a'.repeat(64), 'the runtime runs the image by id');
    await service.create(actor, { name: 'dflt', container_image: 'busybox', autostart: false });
    assert.equal(asked.at(-1)?.pull, 'missing', 'pull: missing by default');
    assert.deepEqual(await Promise.all(released), [1, 2], 'each image held until its container row was written');
  });

  it('a stop that even SIGKILL of every process cannot finish ends failed, naming the processes that remain', async () => {
    const c = await service.create(actor, { name: 'stuck', container_image: 'busybox' });
    assert.equal(c.status, 'running');
    driver.unkillable = true;
    await assert.rejects(service.operate(actor, c.id, 'stop', { timeout: 0 }), (err: Error & { code?: string }) => err.code === 'RUNTIME_ERROR' && /after SIGKILL/.test(err.message));
    assert.deepEqual(driver.kills, ['SIGTERM', 'SIGKILL all']);
    const after = await store.getContainer(c.id);
    assert.equal(after?.status, 'failed');
    assert.equal(after?.current_operation, null);
    const last = (await store.listStatusLogs(c.id, { page: 1, limit: 1, sort_order: 'desc' })).logs[0];
    assert.equal(last?.from_status, 'running');
    assert.equal(last?.to_status, 'failed');
    assert.deepEqual(last?.metadata.remaining_processes, [{ pid: 4242, command: 'stuck-app', state: 'D' }]);
    assert.match(String(last?.metadata.error), /after SIGKILL/);
  });

  it('a start the runtime refuses leaves the container failed with the error in its log, and it can start later', async () => {
    const c = await service.create(actor, { name: 'bad', container_image: 'busybox', autostart: false });
    driver.failStart = 'rootfs is missing';
    await assert.rejects(service.operate(actor, c.id, 'start', {}), /rootfs is missing/);
    const failed = await store.getContainer(c.id);
    assert.equal(failed?.status, 'failed');
    const last = (await store.listStatusLogs(c.id, { page: 1, limit: 1, sort_order: 'desc' })).logs[0];
    assert.equal(last?.metadata.error, 'rootfs is missing');
    driver.failStart = undefined;
    assert.equal((await service.operate(actor, c.id, 'start', {})).status, 'running');
  });

  it('a pause the runtime refuses while the container still runs keeps it running, with the error logged', async () => {
    const c = await service.create(actor, { name: 'nopause', container_image: 'busybox' });
    driver.pause = async () => {
      throw new RuntimeError('failed', 'freezer unavailable');
    };
    await assert.rejects(service.operate(actor, c.id, 'pause', {}), /freezer unavailable/);
    assert.equal((await store.getContainer(c.id))?.status, 'running');
    const last = (await store.listStatusLogs(c.id, { page: 1, limit: 1, sort_order: 'desc' })).logs[0];
    assert.deepEqual([last?.from_status, last?.to_status, last?.metadata.error], ['running', 'running', 'freezer unavailable']);
  });

  it('an exit a sweep notices before its event is logged as the exit; a process gone without an exit code is not', async () => {
    const lastLog = async (id: string) => (await store.listStatusLogs(id, { page: 1, limit: 1, sort_order: 'desc' })).logs[0];
    const exited = await service.create(actor, { name: 'exited', container_image: 'busybox' });
    driver.states.set(exited.id, { id: exited.id, status: 'stopped', pid: null, exitCode: 3 });
    await service.reconcile(exited.id, 'reconcile');
    const a = await lastLog(exited.id);
    assert.deepEqual([a?.to_status, a?.triggered_by, a?.metadata.operation, a?.metadata.reason, a?.metadata.exit_code], ['stopped', 'system', 'exit', 'the main process ended', 3]);
    await service.reconcile(exited.id, 'exit'); // the event, late: nothing more to record
    assert.equal((await store.listStatusLogs(exited.id, { page: 1, limit: 10, sort_order: 'desc' })).logs.length, 3);

    const vanished = await service.create(actor, { name: 'vanished', container_image: 'busybox' });
    driver.states.set(vanished.id, { id: vanished.id, status: 'stopped', pid: null, exitCode: null });
    await service.reconcile(vanished.id, 'reconcile');
    const b = await lastLog(vanished.id);
    assert.deepEqual([b?.to_status, b?.metadata.operation, b?.metadata.reason], ['stopped', 'reconcile', 'the runtime shows no process']);
  });
});
