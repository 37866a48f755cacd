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
  async logFiles() {
    return [];
  }
  async exec(): Promise<never> {
    throw new Error('no exec here');
  }
  async resolveUser() {
    return { uid: 0, gid: 0, additionalGids: [] };
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

describe('container networks in the control plane (scripted runtime, fake host layer)', () => {
  let dir: string;
  let store: Store;
  let driver: ScriptedDriver;
  const actor: Actor = { userId: 'user_net', tokenId: 't', tokenName: 'cli', isAdmin: true, readOnly: false, automation: false };
  const server = { id: newId(), name: 'node-net' };
  const specs: ContainerSpec[] = [];
  const hostsUpdates: { id: string; names: string[] }[] = [];
  let boundOnHost: Set<number>;
  const hostLayer = {
    updateHosts: async (id: string, hosts: { name: string; address: string }[]) => {
      hostsUpdates.push({ id, names: hosts.map((h) => `${h.name}=${h.address}`).sort() });
    },
    addresses: async (id: string) => [{ family: 'ipv4' as const, address: `addr-of-${id}`, prefix_length: 29, gateway: '10.99.0.1' }],
  };
  const bridged = (subnet = '10.99.0.0/29') =>
    new ContainerService({
      store,
      driver,
      projects: new ProjectService(store),
      images: { ensure: async () => ({ id: 'builtin:busybox', release: () => undefined }) },
      server,
      killWaitMs: 50,
      network: { mode: 'bridge', subnet, isHostPortFree: async (port) => !boundOnHost.has(port), host: hostLayer },
    });
  let service: ContainerService;
  const code = (c: string) => (err: unknown) => err instanceof HoodyError && err.code === c;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-core-net-'));
    store = await openStore({ dataDir: dir });
    await store.createUser({ id: actor.userId, name: 'net', is_admin: true, created_at: nowIso() });
    await store.upsertServer({ id: server.id, name: server.name, status: 'ready', runtime: 'scripted', last_seen_at: nowIso(), created_at: nowIso() });
    driver = new ScriptedDriver();
    const create = driver.create.bind(driver);
    driver.create = async (spec: ContainerSpec) => {
      specs.push(spec);
      await create(spec);
    };
    specs.length = 0;
    hostsUpdates.length = 0;
    boundOnHost = new Set();
    service = bridged();
  });
  afterEach(async () => {
    await service.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('without a bridge every container is none, and a bridge or ports are refused with NETWORK_DISABLED', async () => {
    for (const network of [undefined, { mode: 'none' as const, subnet: '10.99.0.0/29' }]) {
      await service.close();
      service = new ContainerService({ store, driver, projects: new ProjectService(store), images: { ensure: async () => ({ id: 'builtin:busybox', release: () => undefined }) }, server, ...(network ? { network } : {}) });
      await assert.rejects(service.create(actor, { name: 'br', container_image: 'busybox', network: 'bridge' }), code('NETWORK_DISABLED'));
      await assert.rejects(service.create(actor, { name: 'br', container_image: 'busybox', ports: [{ container_port: 80 }] }), code('NETWORK_DISABLED'));
      assert.equal((await store.listContainers({ name: 'br' })).length, 0, 'nothing was created');
    }
    const c = await service.create(actor, { name: 'lone', container_image: 'busybox', network: 'none' });
    assert.deepEqual([c.network_mode, c.ipv4_address, c.ports], ['none', null, []]);
    assert.equal(specs.at(-1)?.network, undefined, 'the runtime gets no network');
    await service.operate(actor, c.id, 'stop', { timeout: 0 });
    await assert.rejects(service.update(actor, c.id, { network: 'bridge' }), code('NETWORK_DISABLED'));
    assert.deepEqual((await service.runtimeInfo(c)).addresses, []);
  });

  it('gives bridge containers the lowest free addresses and the runtime their network: group, gateway, ports, names of the project', async () => {
    const project = await new ProjectService(store).defaultFor(actor);
    const web = await service.create(actor, { name: 'web', container_image: 'busybox', ports: [{ container_port: 80 }, { container_port: 53, protocol: 'udp', host_port: 5353, host_ip: '127.0.0.1' }] });
    assert.equal(web.network_mode, 'bridge', 'the server\'s mode is the default');
    assert.equal(web.ipv4_address, '10.99.0.2', 'the first address after the gateway');
    const [tcp, udp] = web.ports;
    assert.ok(tcp && tcp.host_port >= 20000 && tcp.host_port <= 32767, `a host port from the pool: ${tcp?.host_port}`);
    assert.deepEqual(tcp && { ...tcp, host_port: 0 }, { container_port: 80, host_port: 0, protocol: 'tcp', host_ip: '0.0.0.0' });
    assert.deepEqual(udp, { container_port: 53, host_port: 5353, protocol: 'udp', host_ip: '127.0.0.1' });
    const api = await service.create(actor, { name: 'api', container_image: 'busybox' });
    assert.equal(api.ipv4_address, '10.99.0.3');
    const spec = specs.at(-1);
    assert.deepEqual(spec?.network, { group: project.id, ipv4: { address: '10.99.0.3', prefixLength: 29, gateway: '10.99.0.1' }, ports: [], hostname: 'api', hosts: [{ name: 'web', address: '10.99.0.2' }] });
    // the running web container was told the new name
    assert.deepEqual(hostsUpdates.filter((u) => u.id === web.id).at(-1)?.names, ['api=10.99.0.3']);
    // another project's containers are neither named nor told
    const other = await new ProjectService(store).create(actor, 'other');
    hostsUpdates.length = 0;
    const stranger = await service.create(actor, { name: 'stranger', container_image: 'busybox', project_id: other.id });
    assert.deepEqual(specs.at(-1)?.network?.hosts, []);
    assert.deepEqual(hostsUpdates.map((u) => u.id), [stranger.id]);
    const info = await service.runtimeInfo(web);
    assert.deepEqual(info.ports, web.ports);
    assert.deepEqual(info.addresses.map((a) => a.address), [`addr-of-${web.id}`]);
    // what a reconcile at start attaches: the containers that run
    await service.operate(actor, api.id, 'stop', { timeout: 0 });
    const live = await service.networkSpecs();
    assert.deepEqual([...live.keys()].sort(), [web.id, stranger.id].sort());
    assert.deepEqual(live.get(web.id)?.hosts, [{ name: 'api', address: '10.99.0.3' }], 'a stopped container keeps its address and its name');
  });

  it('refuses a host port another container holds or a host process binds, bad port lists, and ports without a bridge; nothing is created', async () => {
    const web = await service.create(actor, { name: 'web', container_image: 'busybox', ports: [{ container_port: 80, host_port: 28080 }] });
    await assert.rejects(service.create(actor, { name: 'thief', container_image: 'busybox', ports: [{ container_port: 80, host_port: 28080 }] }), (err: unknown) => code('PORT_IN_USE')(err) && (err as HoodyError).details?.held_by === 'container');
    boundOnHost.add(28081);
    await assert.rejects(service.create(actor, { name: 'thief', container_image: 'busybox', ports: [{ container_port: 80, host_port: 28081 }] }), (err: unknown) => code('PORT_IN_USE')(err) && (err as HoodyError).details?.held_by === 'host');
    // the same host port with udp is another port
    await service.create(actor, { name: 'dns', container_image: 'busybox', ports: [{ container_port: 53, host_port: 28080, protocol: 'udp' }] });
    await assert.rejects(service.create(actor, { name: 'dup', container_image: 'busybox', ports: [{ container_port: 80, host_port: 9000 }, { container_port: 81, host_port: 9000 }] }), code('INVALID_INPUT'));
    await assert.rejects(service.create(actor, { name: 'dup', container_image: 'busybox', ports: [{ container_port: 80 }, { container_port: 80 }] }), code('INVALID_INPUT'));
    await assert.rejects(service.create(actor, { name: 'dup', container_image: 'busybox', ports: [{ container_port: 0 }] }), code('INVALID_INPUT'));
    await assert.rejects(service.create(actor, { name: 'dup', container_image: 'busybox', network: 'none', ports: [{ container_port: 80 }] }), code('INVALID_INPUT'));
    assert.deepEqual((await store.listContainers({})).map((c) => c.name).sort(), ['dns', 'web']);
    assert.deepEqual((await store.takenHostPorts(server.id)).map((p) => `${p.host_port}/${p.protocol}`), ['28080/tcp', '28080/udp']);
    assert.equal(web.ports[0]?.host_port, 28080);
  });

  it('answers ADDRESS_POOL_EXHAUSTED when the subnet is full and PORT_POOL_EXHAUSTED when no host port is free', async () => {
    // a /29: the gateway .1, containers .2 to .6
    for (let i = 0; i < 5; i++) await service.create(actor, { name: `c${i}`, container_image: 'busybox', autostart: false });
    assert.deepEqual((await store.takenAddresses(server.id)).sort(), ['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6']);
    await assert.rejects(service.create(actor, { name: 'full', container_image: 'busybox' }), code('ADDRESS_POOL_EXHAUSTED'));
    // a freed address is given again
    await service.remove(actor, (await store.listContainers({ name: 'c2' }))[0]?.id ?? '');
    assert.equal((await service.create(actor, { name: 'again', container_image: 'busybox', autostart: false })).ipv4_address, '10.99.0.4');
    await service.close();
    service = bridged('10.98.0.0/24');
    for (let p = 20000; p <= 32767; p++) boundOnHost.add(p);
    await assert.rejects(service.create(actor, { name: 'noport', container_image: 'busybox', ports: [{ container_port: 80 }] }), code('PORT_POOL_EXHAUSTED'));
    assert.equal((await store.listContainers({ name: 'noport' })).length, 0);
  });

  it('changes ports and network only while stopped; none releases the address and ports, bridge takes a new address; names follow', async () => {
    const web = await service.create(actor, { name: 'web', container_image: 'busybox', ports: [{ container_port: 80, host_port: 28080 }] });
    const db = await service.create(actor, { name: 'db', container_image: 'busybox' });
    await assert.rejects(service.update(actor, web.id, { ports: [] }), code('INVALID_STATE'));
    await service.operate(actor, web.id, 'stop', { timeout: 0 });
    // the port it holds stays its own: no probe refuses it (a host process may not hold it, but the container's own rules do)
    boundOnHost.add(28080);
    const patched = await service.update(actor, web.id, { ports: [{ container_port: 80, host_port: 28080 }, { container_port: 443 }] });
    assert.equal(patched.ports.length, 2);
    assert.equal(patched.ports[0]?.host_port, 28080);
    assert.equal(patched.ipv4_address, '10.99.0.2', 'the address is kept');
    // a port asked for again without a host port keeps the one it has
    const again = await service.update(actor, web.id, { ports: [{ container_port: 443 }, { container_port: 80 }] });
    assert.deepEqual(again.ports.map((p) => [p.container_port, p.host_port]), [[443, patched.ports[1]?.host_port], [80, 28080]]);
    hostsUpdates.length = 0;
    const renamed = await service.update(actor, web.id, { name: 'www' });
    assert.equal(renamed.name, 'www');
    assert.deepEqual(hostsUpdates, [{ id: db.id, names: ['www=10.99.0.2'] }], 'the running db learns the new name');
    await assert.rejects(service.update(actor, web.id, { network: 'none', ports: [{ container_port: 80 }] }), code('INVALID_INPUT'));
    hostsUpdates.length = 0;
    const none = await service.update(actor, web.id, { network: 'none' });
    assert.deepEqual([none.network_mode, none.ipv4_address, none.ports], ['none', null, []]);
    assert.deepEqual(await store.takenHostPorts(server.id), []);
    assert.deepEqual(hostsUpdates, [{ id: db.id, names: [] }], 'the db no longer resolves it');
    await assert.rejects(service.update(actor, web.id, { ports: [{ container_port: 80 }] }), code('INVALID_INPUT'));
    const back = await service.update(actor, web.id, { network: 'bridge', ports: [{ container_port: 80, host_port: 28090 }] });
    assert.deepEqual([back.network_mode, back.ipv4_address, back.ports.map((p) => p.host_port)], ['bridge', '10.99.0.2', [28090]]);
    hostsUpdates.length = 0;
    await service.remove(actor, web.id);
    assert.deepEqual(hostsUpdates, [{ id: db.id, names: [] }], 'a deleted container\'s name goes');
    assert.deepEqual(await store.takenHostPorts(server.id), []);
  });

  it('gives a container whose address is of an old subnet a new one when it next starts', async () => {
    const web = await service.create(actor, { name: 'web', container_image: 'busybox', autostart: false });
    assert.equal(web.ipv4_address, '10.99.0.2');
    // the server's subnet changed (HOODY_NETWORK_SUBNET) while the container was stopped
    await service.close();
    service = bridged('10.98.0.0/29');
    await service.operate(actor, web.id, 'start', {});
    const now = await store.getContainer(web.id);
    assert.equal(now?.ipv4_address, '10.98.0.2');
    assert.deepEqual(specs.at(-1)?.network?.ipv4, { address: '10.98.0.2', prefixLength: 29, gateway: '10.98.0.1' });
  });

  it('of concurrent creates in one project, each gets its own address and host port', async () => {
    const made = await Promise.all(Array.from({ length: 5 }, (_, i) => service.create(actor, { name: `p${i}`, container_image: 'busybox', autostart: false, ports: [{ container_port: 80 }] })));
    assert.equal(new Set(made.map((c) => c.ipv4_address)).size, 5);
    assert.equal(new Set(made.map((c) => c.ports[0]?.host_port)).size, 5);
  });
});
