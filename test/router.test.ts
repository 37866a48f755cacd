/**
 * The service-URL router in this process, over real sockets on 127.0.0.1: the route table is fed
 * from an in-memory list of container and alias records the tests change (then `sync`, `refresh` or
 * an event, as the daemon does), tokens come from a real SQLite store through AuthService, and each
 * "container" is an HTTP or WebSocket server the test runs on 127.0.0.1 at the program's port.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebSocket, WebSocketServer } from 'ws';
import type { Actor } from '../src/core/actor.ts';
import { AuthService } from '../src/core/auth-service.ts';
import type { HubEvent, OperationEvent } from '../src/core/event-hub.ts';
import { normalizePrograms, serviceHost, serviceLabels, type ServiceUrls } from '../src/core/services.ts';
import { OPEN_PATH, ProxyAccess, SESSION_COOKIE } from '../src/proxy/access.ts';
import { RouteTable, type RouteSource } from '../src/proxy/route-table.ts';
import { ServiceRouter } from '../src/proxy/router.ts';
import { TokenSessions } from '../src/core/token-sessions.ts';
import { openStore } from '../src/store/open-store.ts';
import type { ContainerRecord, ProxyAliasRecord, Store, UserRecord } from '../src/store/store.ts';
import type { ContainerStatus, ProgramRequest } from '../src/api/schemas.ts';
import { containerRecord, isoNow, newId } from './store-fixtures.ts';
import { eventually } from './eventually.ts';

const SERVER_ID = 'server_router_test';
const urls: ServiceUrls = { serverLabel: 'node-1', domain: 'apps.test', url: () => null };
const PROJECT = 'project_shop';
const BOB_PROJECT = 'project_bob';

/** Resolves with `promise`, or fails naming `what` after `ms`. */
async function within<T>(what: string, promise: Promise<T>, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json(): any;
}

describe('service router over real sockets', () => {
  let dir = '';
  let store: Store;
  let auth: AuthService;
  let table: RouteTable;
  let router: ServiceRouter;
  let routerPort = 0;
  let sessions: TokenSessions;
  /** The router's cap on one user's upgraded connections to private programs, low enough to reach in a test. */
  const TUNNELS_PER_USER = 3;
  const access = new ProxyAccess(randomBytes(32));
  const warnings: string[] = [];

  // what the route source reads: the tests change these, then tell the table
  const containers = new Map<string, ContainerRecord>();
  const aliases = new Map<string, ProxyAliasRecord>();
  const owners = new Map<string, string>();
  const source: RouteSource = {
    all: async () => ({ containers: [...containers.values()].map((c) => structuredClone(c)), aliases: [...aliases.values()].map((a) => ({ ...a })) }),
    one: async (id) => {
      const c = containers.get(id);
      return { container: c && structuredClone(c), aliases: [...aliases.values()].filter((a) => a.container_id === id).map((a) => ({ ...a })) };
    },
    ownerOf: async (projectId) => owners.get(projectId),
  };

  let admin: Actor;
  let alice: UserRecord;
  let bob: UserRecord;
  /** Alice's token, for the programs of her project. */
  let aliceSecret = '';
  let aliceTokenId = '';
  let bobSecret = '';

  // everything opened, closed in after()
  const servers = new Set<Server>();
  const wsServers = new Set<WebSocketServer>();
  const clients = new Set<WebSocket>();

  /** An HTTP server on 127.0.0.1 standing for a container's program; answers its port. */
  async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
    const server = createServer(handler);
    servers.add(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return { server, port: (server.address() as AddressInfo).port };
  }

  /** A port nothing listens on (one just closed). */
  async function closedPort(): Promise<number> {
    const { server, port } = await upstream(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    servers.delete(server);
    return port;
  }

  /** A running container of `project` serving `programs` on 127.0.0.1, routed at once; answers its id and hosts. */
  async function addContainer(name: string, programs: ProgramRequest[], project = PROJECT): Promise<{ id: string; hosts: string[] }> {
    const normalized = normalizePrograms(programs);
    const labels = serviceLabels(project === PROJECT ? 'shop' : 'bobs', name, normalized);
    const c = containerRecord({
      name,
      project_id: project,
      server_id: SERVER_ID,
      status: 'running',
      desired_status: 'running',
      network_mode: 'bridge',
      ipv4_address: '127.0.0.1',
      programs: normalized,
      service_labels: labels,
    });
    containers.set(c.id, c);
    await table.refresh(c.id);
    return { id: c.id, hosts: labels.map((l) => serviceHost(urls, l)) };
  }

  function record(id: string): ContainerRecord {
    const c = containers.get(id);
    assert.ok(c, `container ${id} is in the list`);
    return c;
  }

  async function setStatus(id: string, status: ContainerStatus): Promise<void> {
    record(id).status = status;
    await table.refresh(id);
  }

  function addAlias(alias: string, containerId: string, program: string, targetPath = '/', isPublic = true): void {
    aliases.set(alias, {
      id: newId(),
      alias,
      container_id: containerId,
      server_id: SERVER_ID,
      program,
      index: 1,
      target_path: targetPath,
      public: isPublic,
      created_by: alice.id,
      created_at: isoNow(),
    });
  }
  const aliasHost = (alias: string): string => `${alias}.${urls.domain}`;

  /** An operation event of a container, as the daemon announces it. */
  function operation(containerId: string, phase: OperationEvent['phase'], op: string, opId: string): HubEvent {
    return { type: 'operation', event: { phase, operation_id: opId, container_id: containerId, project_id: record(containerId).project_id, operation: op, triggered_by: alice.id, at: isoNow() } };
  }

  /** Claims an operation in the record, then announces it, as ContainerService does; answers its id. */
  function accept(containerId: string, op: string): string {
    const opId = `op_${newId()}`;
    record(containerId).current_operation = { id: opId, operation: op, started_at: isoNow() };
    table.onEvent(operation(containerId, 'accepted', op, opId));
    return opId;
  }

  /** Finishes an operation that wrote its end with its transition: the record first, then the event. */
  function finish(containerId: string, phase: 'succeeded' | 'failed', op: string, opId: string): void {
    record(containerId).current_operation = null;
    table.onEvent(operation(containerId, phase, op, opId));
  }

  /** One request to the router on 127.0.0.1 for `host`, on a connection of its own. */
  function call(host: string, path = '/', headers: OutgoingHttpHeaders = {}, method = 'GET'): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: routerPort, path, method, headers: { host, ...headers }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`no answer from the router for ${host}${path}`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Asserts the router's JSON refusal: status, code, and Retry-After on a 503. */
  function assertRefused(res: Answer, status: number, code: string): any {
    assert.equal(res.status, status, res.body);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = res.json();
    assert.equal(body.statusCode, status);
    assert.equal(body.code, code, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    if (status === 503) assert.equal(res.headers['retry-after'], '5');
    else assert.equal(res.headers['retry-after'], undefined);
    return body;
  }

  /** A WebSocket through the router, open; `closed` settles with the close code. */
  function openWs(host: string, path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; closed: Promise<number> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${routerPort}${path}`, { headers: { host, ...headers }, handshakeTimeout: 15_000 });
    clients.add(ws);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    return within(
      `a WebSocket to ${host}`,
      new Promise((resolve, reject) => {
        ws.once('open', () => resolve({ ws, closed }));
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`the upgrade was answered ${res.statusCode}`)));
      }),
    );
  }

  /** A WebSocket upgrade through the router that is refused: its status, headers and JSON body. */
  function refusedWs(host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: any }> {
    const ws = new WebSocket(`ws://127.0.0.1:${routerPort}${path}`, { headers: { host, ...headers }, handshakeTimeout: 15_000 });
    clients.add(ws);
    ws.on('error', () => undefined);
    return within(
      `the refusal of a WebSocket to ${host}`,
      new Promise((resolve, reject) => {
        ws.once('open', () => reject(new Error(`the upgrade to ${host} was accepted`)));
        ws.once('unexpected-response', (_req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            ws.terminate();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          });
        });
      }),
    );
  }

  /** The next message a WebSocket receives. */
  function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
    return within(
      'a WebSocket message',
      new Promise((resolve, reject) => {
        const onClose = (code: number): void => reject(new Error(`closed (${code}) before a message came`));
        ws.once('close', onClose);
        ws.once('message', (data, binary) => {
          ws.off('close', onClose);
          resolve({ data: data as Buffer, binary });
        });
      }),
    );
  }

  async function echoes(ws: WebSocket, text: string): Promise<void> {
    const reply = nextMessage(ws);
    ws.send(text);
    const { data, binary } = await reply;
    assert.equal(binary, false);
    assert.equal(data.toString('utf8'), `echo:${text}`);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-router-'));
    store = await openStore({ dataDir: dir });
    auth = new AuthService(store);
    const adminSecret = `hoody_${randomBytes(16).toString('hex')}`;
    await auth.bootstrap(adminSecret);
    admin = await auth.authenticate(`Bearer ${adminSecret}`);
    alice = await auth.createUser(admin, 'alice');
    bob = await auth.createUser(admin, 'bob');
    const aliceToken = await auth.createToken(admin, { name: 'alice-cli', user_id: alice.id });
    aliceSecret = aliceToken.secret;
    aliceTokenId = aliceToken.token.id;
    bobSecret = (await auth.createToken(admin, { name: 'bob-cli', user_id: bob.id })).secret;
    owners.set(PROJECT, alice.id);
    owners.set(BOB_PROJECT, bob.id);

    table = new RouteTable(source, urls, (message, err) => warnings.push(`${message}: ${String(err)}`));
    sessions = new TokenSessions(store, { limits: { stream: 1, wait: 1, follow: 1, exec: 1, terminal: 1, tunnel: TUNNELS_PER_USER }, recheckMs: 200 });
    router = new ServiceRouter({
      table,
      auth,
      access,
      existingTokenIds: (ids) => store.existingTokenIds(ids),
      sessions,
      secureCookies: false,
      warn: (message, err) => warnings.push(`${message}: ${String(err)}`),
    });
    const url = await router.listen('127.0.0.1', 0);
    routerPort = router.port ?? 0;
    assert.equal(url, `http://127.0.0.1:${routerPort}`);
    await table.sync();
  });

  after(async () => {
    for (const ws of clients) ws.terminate();
    for (const wss of wsServers) {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
    await router?.close();
    table?.clear();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('tunnels a WebSocket that outlives other route changes and is closed by the router when its container stops', { timeout: 90_000 }, async () => {
    const { server: wsHttp, port: wsPort } = await upstream((_req, res) => res.end('plain http'));
    const wss = new WebSocketServer({ server: wsHttp });
    wsServers.add(wss);
    const upgrades: { url: string | undefined; headers: IncomingHttpHeaders }[] = [];
    const upstreamClosed: number[] = [];
    wss.on('connection', (sock, req) => {
      upgrades.push({ url: req.url, headers: req.headers });
      sock.on('message', (data, binary) => sock.send(binary ? data : `echo:${(data as Buffer).toString('utf8')}`, { binary }));
      sock.on('close', (code) => upstreamClosed.push(code));
    });
    const { port: otherPort } = await upstream((_req, res) => res.end('other'));

    const chat = await addContainer('chat', [{ name: 'web', port: wsPort }]);
    const other = await addContainer('other', [{ name: 'web', port: otherPort, public: true }]);
    const chatHost = chat.hosts[0] as string;

    // private: the owner's token opens it, and is not passed on
    const refused = await refusedWs(chatHost, '/live');
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'UNAUTHORIZED');
    const { ws, closed } = await openWs(chatHost, '/live?room=1', { authorization: `Bearer ${aliceSecret}`, cookie: 'theme=dark' });
    assert.equal(upgrades.length, 1);
    assert.equal(upgrades[0]?.url, '/live?room=1');
    assert.equal(upgrades[0]?.headers.host, chatHost);
    assert.equal(upgrades[0]?.headers.authorization, undefined);
    assert.equal(upgrades[0]?.headers.cookie, 'theme=dark');
    assert.equal(upgrades[0]?.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(upgrades[0]?.headers['x-forwarded-host'], chatHost);

    await echoes(ws, 'hello');
    const blob = randomBytes(512 * 1024);
    const reply = nextMessage(ws);
    ws.send(blob);
    const got = await reply;
    assert.equal(got.binary, true);
    assert.ok(got.data.equals(blob), 'a 512 KiB binary message comes back whole');

    // an alias of the container, tunnelled too (tracked with the container's other tunnels)
    addAlias('chat-live', chat.id, 'web', '/rooms', false);
    await table.refresh(chat.id);
    const viaAlias = await openWs(aliasHost('chat-live'), '/7', { authorization: `Bearer ${aliceSecret}` });
    assert.equal(upgrades[1]?.url, '/rooms/7');
    await echoes(viaAlias.ws, 'through the alias');

    // other routes change: another container's refresh, stop and start, a full sync, aliases added
    record(other.id).programs = normalizePrograms([{ name: 'web', port: otherPort, public: true }, { name: 'api', port: otherPort, public: true }]);
    record(other.id).service_labels = serviceLabels('shop', 'other', record(other.id).programs ?? []);
    await table.refresh(other.id);
    assert.equal((await call(serviceHost(urls, 'shop-other-api-1'))).body, 'other');
    const otherStop = accept(other.id, 'stop');
    assert.equal((await call(other.hosts[0] as string)).status, 503);
    record(other.id).status = 'stopped';
    finish(other.id, 'succeeded', 'stop', otherStop);
    await table.refresh(other.id);
    await setStatus(other.id, 'running');
    addAlias('other-alias', other.id, 'web');
    addAlias('chat-extra', chat.id, 'web');
    await table.sync();
    await table.refresh(chat.id);
    assert.equal((await call(aliasHost('other-alias'))).body, 'other');
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(viaAlias.ws.readyState, WebSocket.OPEN);
    await echoes(ws, 'still here');
    await echoes(viaAlias.ws, 'still here too');
    assert.equal(upgrades.length, 2, 'the same two upstream connections carry on');
    assert.deepEqual(upstreamClosed, []);

    // the stop is announced: both tunnels are closed by the router, the upstream server is still up
    accept(chat.id, 'stop');
    assert.equal(await within('the tunnel to close on stop', closed), 1006);
    assert.equal(await within('the alias tunnel to close on stop', viaAlias.closed), 1006);
    await eventually('the upstream ends of both tunnels to close', async () => upstreamClosed.length, (n) => n === 2, 15_000);
    assert.equal(wsHttp.listening, true);
    // the program itself still answers, straight to its port
    const direct = new WebSocket(`ws://127.0.0.1:${wsPort}/direct`);
    clients.add(direct);
    await within('a direct WebSocket', new Promise((resolve, reject) => direct.once('open', resolve).once('error', reject)));
    await echoes(direct, 'direct');
    direct.close();
    // while the stop is in flight the router refuses new tunnels
    const during = await refusedWs(chatHost, '/live', { authorization: `Bearer ${aliceSecret}` });
    assert.equal(during.status, 503);
    assert.equal(during.headers['retry-after'], '5');
    assert.equal(during.body.code, 'CONTAINER_NOT_RUNNING');
  });

  it('streams server-sent events as they are written, and ends the upstream request when the client goes', { timeout: 60_000 }, async () => {
    let lateArrived: () => void = () => undefined;
    const lateAsked = new Promise<void>((resolve) => (lateArrived = resolve));
    let lateRelease: () => void = () => undefined;
    const lateGo = new Promise<void>((resolve) => (lateRelease = resolve));
    let lateClosed = false;
    const written: number[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let ended = false;
    let endlessClosed = false;
    const { port } = await upstream((req, res) => {
      if (req.url === '/late') {
        // the answer's head comes only once the test says so (after its client went)
        lateArrived();
        let timer: NodeJS.Timeout | undefined;
        res.on('close', () => {
          clearInterval(timer);
          lateClosed = true;
        });
        void lateGo.then(() => {
          if (res.destroyed) return;
          res.writeHead(200, { 'content-type': 'text/plain' });
          timer = setInterval(() => res.write('late\n'), 50);
        });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      if (req.url === '/endless') {
        const timer = setInterval(() => res.write('data: tick\n\n'), 50);
        res.on('close', () => {
          clearInterval(timer);
          endlessClosed = true;
        });
        return;
      }
      let i = 0;
      const next = (): void => {
        res.write(`id: ${i}\ndata: event ${i}\n\n`);
        written.push(performance.now());
        if (++i < 5) setTimeout(next, 200);
        // the response ends only once the client has seen all five: a buffering router never gets there
        else
          void released.then(() => {
            ended = true;
            res.end();
          });
      };
      next();
    });
    const sse = await addContainer('feed', [{ name: 'events', port, public: true }]);
    const host = sse.hosts[0] as string;
    /** A GET through the router, on a connection of its own: its answer once the head is in. */
    const get = (path: string, headers: Record<string, string>): Promise<IncomingMessage> =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: routerPort, path, headers, agent: false }, resolve);
        req.on('error', reject);
        req.end();
      });

    const arrived: number[] = [];
    const events: string[] = [];
    const res = await within('the event stream to begin', get('/events', { host, accept: 'text/event-stream' }));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    let buffered = '';
    const reading = (async () => {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString('utf8');
        let cut: number;
        while ((cut = buffered.indexOf('\n\n')) >= 0) {
          events.push(buffered.slice(0, cut));
          buffered = buffered.slice(cut + 2);
          arrived.push(performance.now());
          if (events.length === 5) {
            assert.equal(ended, false, 'all five events came before the upstream ended its response');
            release();
          }
        }
      }
    })();
    await within('all five events and the end of the stream', reading, 30_000);
    assert.deepEqual(events, [0, 1, 2, 3, 4].map((i) => `id: ${i}\ndata: event ${i}`));
    assert.equal(ended, true);
    // written 200 ms apart, so at least 800 ms from the first write to the last; they came spread out too
    assert.ok((written[4] as number) - (written[0] as number) >= 790);
    const spread = (arrived[4] as number) - (arrived[0] as number);
    assert.ok(spread >= 400, `the events arrived spread out (${Math.round(spread)} ms from first to last)`);
    for (let i = 0; i < 5; i++) assert.ok((arrived[i] as number) >= (written[i] as number), `event ${i} arrived after it was written`);

    // a client that goes away ends the upstream request
    const endless = await within('the endless stream to begin', get('/endless', { host }));
    await within('a first tick', new Promise((resolve) => endless.once('data', resolve)));
    endless.destroy();
    await eventually('the upstream response to be closed after the client left', async () => endlessClosed, (v) => v, 15_000);

    // a client that goes before the program's answer began: its request to the program is ended at
    // once, without waiting for the answer (and nothing is thrown: an error nobody listens for would end the daemon)
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const late = httpRequest({ host: '127.0.0.1', port: routerPort, path: '/late', headers: { host }, agent: false });
    late.on('error', () => undefined);
    late.end();
    await within('the late request to reach the program', lateAsked);
    late.destroy();
    await new Promise((resolve) => late.once('close', resolve));
    await eventually('the late request to be closed before its answer began', async () => lateClosed, (v) => v, 15_000);
    lateRelease();
    // and the router goes on serving
    const next = await within('an answer after the late one', get('/endless', { host }));
    assert.equal(next.statusCode, 200);
    next.destroy();
    process.off('uncaughtException', onUncaught);
    assert.deepEqual(uncaught.map(String), []);
  });

  it('ends the program\'s request for an answer queued behind another when a pipelining client leaves', { timeout: 60_000 }, async () => {
    const seen: string[] = [];
    const closed = new Set<string>();
    const { port } = await upstream((req, res) => {
      const url = req.url ?? '';
      seen.push(url);
      res.on('close', () => closed.add(url));
      // two answers that never end: the first holds the connection, the second waits behind it
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const timer = setInterval(() => res.write(`data: ${url}\n\n`), 50);
      res.on('close', () => clearInterval(timer));
    });
    const c = await addContainer('pipeliner', [{ name: 'web', port, public: true }]);
    const host = c.hosts[0] as string;
    const sock = connect(routerPort, '127.0.0.1');
    await within('a connection to the router', new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject)));
    sock.on('error', () => undefined);
    sock.write(`GET /first HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /queued HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await eventually('both requests to reach the program', async () => [...seen].sort(), (s) => s.length === 2, 15_000);
    sock.destroy();
    await eventually('both requests to the program to end', async () => [...closed].sort(), (s) => s.length === 2, 15_000);
    assert.deepEqual([...closed].sort(), ['/first', '/queued']);
  });

  it('streams a 100 MB upload to the program whole, chunked and with a Content-Length, without holding it in memory', { timeout: 180_000 }, async () => {
    const SIZE = 100 * 1024 * 1024;
    const received: { bytes: number; sha256: string; transferEncoding?: string; contentLength?: string }[] = [];
    const { port } = await upstream((req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        const got = { bytes, sha256: hash.digest('hex'), transferEncoding: req.headers['transfer-encoding'], contentLength: req.headers['content-length'] };
        received.push(got);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(got));
      });
    });
    const up = await addContainer('uploads', [{ name: 'web', port }]);
    const host = up.hosts[0] as string;

    /** Fresh random chunks of 64 KiB up to `size`, hashed as they go. */
    async function* payload(size: number, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
      for (let sent = 0; sent < size; ) {
        const chunk = randomBytes(Math.min(64 * 1024, size - sent));
        hash.update(chunk);
        sent += chunk.length;
        yield chunk;
      }
    }

    async function upload(withLength: boolean, size = SIZE): Promise<void> {
      const hash = createHash('sha256');
      const headers: OutgoingHttpHeaders = { host, authorization: `Bearer ${aliceSecret}`, 'content-type': 'application/octet-stream' };
      if (withLength) headers['content-length'] = String(size);
      const baseline = process.memoryUsage.rss();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
      try {
        const req = httpRequest({ host: '127.0.0.1', port: routerPort, path: '/upload', method: 'POST', headers, agent: false });
        const answered = new Promise<IncomingMessage>((resolve, reject) => {
          req.once('response', resolve);
          req.once('error', reject);
        });
        await within('the upload to be sent', pipeline(Readable.from(payload(size, hash)), req), 120_000);
        const res = await within('the answer to the upload', answered, 60_000);
        let text = '';
        for await (const chunk of res) text += (chunk as Buffer).toString('utf8');
        assert.equal(res.statusCode, 200, text);
        const got = JSON.parse(text) as { bytes: number; sha256: string; transferEncoding?: string; contentLength?: string };
        assert.equal(got.bytes, size);
        assert.equal(got.sha256, hash.digest('hex'));
        if (withLength) assert.equal(got.contentLength, String(size));
        else assert.equal(got.transferEncoding, 'chunked');
      } finally {
        clearInterval(sampler);
      }
      const growth = (peak - baseline) / (1024 * 1024);
      assert.ok(growth < 60, `the process grew by ${growth.toFixed(1)} MB while ${size / 1024 / 1024} MB went through it`);
    }

    // a first, smaller upload warms up what any traffic allocates once (buffers, pools, the heap's young generation)
    await upload(false, 16 * 1024 * 1024);
    await upload(false);
    await upload(true);
    assert.equal(received.length, 3);
  });

  it('forwards the client\'s Host and X-Forwarded-*, and drops hop-by-hop headers and the router\'s own credentials', { timeout: 60_000 }, async () => {
    const { port } = await upstream((req, res) => {
      const body = JSON.stringify({ url: req.url, headers: req.headers, rawHeaders: req.rawHeaders });
      // hop-by-hop headers of the answer, for the router to drop
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'keep-alive, x-resp-hop', 'x-resp-hop': 'drop me', 'keep-alive': 'timeout=99', 'x-app-answer': 'kept' });
      res.end(body);
    });
    const echo = await addContainer('echo', [
      { name: 'web', port },
      { name: 'site', port, public: true },
    ]);
    const [privateHost, publicHost] = echo.hosts as [string, string];
    const count = (raw: string[], name: string): number => raw.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name).length;

    // private program, the owner's bearer token; a stale session cookie among the client's cookies
    const res = await call(privateHost, '/path/x?y=1', {
      authorization: `Bearer ${aliceSecret}`,
      connection: 'close, X-Hop-Secret',
      'x-hop-secret': 'drop me',
      'keep-alive': 'timeout=30',
      te: 'trailers',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      cookie: `theme=dark; ${SESSION_COOKIE}=session.stale.value; lang=en`,
      'x-app': 'kept',
    });
    assert.equal(res.status, 200, res.body);
    const seen = res.json();
    assert.equal(seen.url, '/path/x?y=1');
    assert.equal(seen.headers.host, privateHost, 'the Host header is the client\'s');
    assert.equal(count(seen.rawHeaders, 'host'), 1);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(count(seen.rawHeaders, 'x-forwarded-for'), 1);
    // a client on loopback (a TLS terminator) tells the scheme
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], privateHost);
    for (const hop of ['x-hop-secret', 'keep-alive', 'te', 'proxy-authorization', 'authorization']) assert.equal(seen.headers[hop], undefined, `${hop} is not forwarded`);
    assert.doesNotMatch(String(seen.headers.connection ?? ''), /x-hop-secret|close/i);
    assert.equal(seen.headers.cookie, 'theme=dark; lang=en');
    assert.equal(seen.headers['x-app'], 'kept');
    // and the answer's hop-by-hop headers stay with the router
    assert.equal(res.headers['x-app-answer'], 'kept');
    assert.equal(res.headers['x-resp-hop'], undefined);
    assert.notEqual(res.headers['keep-alive'], 'timeout=99');

    // no X-Forwarded-* from the client: the router's own
    const plain = (await call(privateHost, '/', { authorization: `Bearer ${aliceSecret}` })).json();
    assert.equal(plain.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(plain.headers['x-forwarded-proto'], 'http');
    assert.equal(plain.headers['x-forwarded-host'], privateHost);
    assert.equal(plain.headers.cookie, undefined);

    // access through the session cookie: the app's own Authorization header goes through, the cookie does not
    const session = access.session(privateHost, { user: alice.id, token: aliceTokenId });
    const withCookie = await call(privateHost, '/', { authorization: 'Basic YXBwOnB3', cookie: `${SESSION_COOKIE}=${session}; app_session=abc` });
    assert.equal(withCookie.status, 200, withCookie.body);
    assert.equal(withCookie.json().headers.authorization, 'Basic YXBwOnB3');
    assert.equal(withCookie.json().headers.cookie, 'app_session=abc');
    const onlyCookie = (await call(privateHost, '/', { cookie: `${SESSION_COOKIE}=${session}` })).json();
    assert.equal(onlyCookie.headers.cookie, undefined, 'no Cookie header is left when the session was the only cookie');

    // a public program: the app's own bearer token passes through untouched, the session cookie never
    const pub = await call(publicHost, '/api', { authorization: 'Bearer app-token-123', cookie: `a=1; ${SESSION_COOKIE}=${session}` });
    assert.equal(pub.status, 200, pub.body);
    assert.equal(pub.json().headers.authorization, 'Bearer app-token-123');
    assert.equal(pub.json().headers.cookie, 'a=1');
    assert.equal(pub.json().headers.host, publicHost);
  });

  it('counts a private program\'s WebSockets against their user\'s cap and closes them when their token is deleted; a public one is neither', { timeout: 60_000 }, async () => {
    const { server: wsHttp, port: wsPort } = await upstream((_req, res) => res.end('plain http'));
    const wss = new WebSocketServer({ server: wsHttp });
    wsServers.add(wss);
    wss.on('connection', (sock) => sock.on('message', (data) => sock.send(`echo:${(data as Buffer).toString('utf8')}`)));
    const board = await addContainer('board', [{ name: 'web', port: wsPort }, { name: 'open', port: wsPort, public: true }]);
    const [privateHost, publicHost] = board.hosts as [string, string];
    const lent = await auth.createToken(admin, { name: 'alice-lent', user_id: alice.id });
    const lentAuth = { authorization: `Bearer ${lent.secret}` };
    // a session cookie for the same token counts the same
    const cookie = `${SESSION_COOKIE}=${access.session(privateHost, { user: alice.id, token: lent.token.id })}`;

    const byToken = [await openWs(privateHost, '/a', lentAuth), await openWs(privateHost, '/b', { cookie })];
    // alice's other token: her third, the cap
    const other = await openWs(privateHost, '/c', { authorization: `Bearer ${aliceSecret}` });
    const over = await refusedWs(privateHost, '/d', lentAuth);
    assert.equal(over.status, 429);
    assert.equal(over.body.code, 'TOO_MANY_REQUESTS');
    assert.match(over.body.message, /3 open connections upgraded through the router/);
    // anyone's connections to a public program are not counted
    const open = await Promise.all([1, 2, 3, 4].map((i) => openWs(publicHost, `/p${i}`, lentAuth)));
    for (const { ws } of [...byToken, other, ...open]) await echoes(ws, 'up');

    // the token is deleted: its two connections close, the others stay
    await auth.deleteToken(admin, lent.token.id);
    assert.equal(sessions.revoke(lent.token.id), 2);
    for (const [i, { closed }] of byToken.entries()) assert.equal(await within(`tunnel ${i} of the deleted token to close`, closed), 1006);
    await echoes(other.ws, 'still up');
    for (const { ws } of open) await echoes(ws, 'still up');
    // their places are free again
    const again = await openWs(privateHost, '/e', { authorization: `Bearer ${aliceSecret}` });
    await echoes(again.ws, 'room again');
    for (const { ws } of [other, again, ...open]) ws.close();
  });

  it('serves a private program to its owner only, a public one to anyone, and open links and cookies per host', { timeout: 60_000 }, async () => {
    const { port } = await upstream((req, res) => res.end(`secret ${req.url}`));
    const vault = await addContainer('vault', [
      { name: 'web', port },
      { name: 'admin', port },
      { name: 'board', port, public: true },
    ]);
    const [hostA, hostB, publicHost] = vault.hosts as [string, string, string];

    assertRefused(await call(hostA), 401, 'UNAUTHORIZED');
    assertRefused(await call(hostA, '/', { authorization: 'Bearer not-a-token' }), 401, 'UNAUTHORIZED');
    assertRefused(await call(hostA, '/', { authorization: 'Basic YTpi' }), 401, 'UNAUTHORIZED');
    const browser = await call(hostA, '/', { accept: 'text/html' });
    assert.equal(browser.status, 401);
    assert.match(String(browser.headers['content-type']), /^text\/html/);
    assert.match(browser.body, /This service is private/);
    const owner = await call(hostA, '/x', { authorization: `Bearer ${aliceSecret}` });
    assert.deepEqual([owner.status, owner.body], [200, 'secret /x']);
    // another user is told there is nothing there
    assertRefused(await call(hostA, '/', { authorization: `Bearer ${bobSecret}` }), 404, 'NOT_FOUND');
    // a public program answers anyone
    for (const headers of [{}, { authorization: `Bearer ${bobSecret}` }, { authorization: 'Bearer nonsense' }]) {
      const res = await call(publicHost, '/p', headers);
      assert.deepEqual([res.status, res.body], [200, 'secret /p']);
    }

    // an open link: a ticket of host A makes a session cookie of host A alone
    const browserToken = await auth.createToken(admin, { name: 'alice-browser', user_id: alice.id });
    const grant = { user: alice.id, token: browserToken.token.id };
    const ticketA = access.ticket(hostA, grant);
    assertRefused(await call(hostB, `${OPEN_PATH}?ticket=${ticketA}`), 401, 'UNAUTHORIZED');
    assertRefused(await call(hostA, `${OPEN_PATH}?ticket=${access.ticket(hostA, grant, Date.now() - 6 * 60_000)}`), 401, 'UNAUTHORIZED');
    assertRefused(await call(hostA, `${OPEN_PATH}?ticket=${ticketA.slice(0, -3)}`), 401, 'UNAUTHORIZED');
    assertRefused(await call(hostA, OPEN_PATH), 401, 'UNAUTHORIZED');
    const opened = await call(hostA, `${OPEN_PATH}?ticket=${ticketA}`);
    assert.equal(opened.status, 303, opened.body);
    assert.equal(opened.headers.location, '/');
    const setCookie = String(opened.headers['set-cookie']);
    assert.match(setCookie, new RegExp(`^${SESSION_COOKIE}=session\\.[^;]+; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax$`));
    const cookie = setCookie.split(';')[0] as string;
    const viaCookie = await call(hostA, '/c', { cookie });
    assert.deepEqual([viaCookie.status, viaCookie.body], [200, 'secret /c']);
    assertRefused(await call(hostB, '/', { cookie }), 401, 'UNAUTHORIZED');
    // bob's open link for alice's service, or a session of bob: not found
    const bobTokenId = (await auth.listTokens(await auth.authenticate(`Bearer ${bobSecret}`)))[0]?.id as string;
    assertRefused(await call(hostA, `${OPEN_PATH}?ticket=${access.ticket(hostA, { user: bob.id, token: bobTokenId })}`), 404, 'NOT_FOUND');
    assertRefused(await call(hostA, '/', { cookie: `${SESSION_COOKIE}=${access.session(hostA, { user: bob.id, token: bobTokenId })}` }), 404, 'NOT_FOUND');

    // the token behind the cookie is deleted: its bearer use stops at once, the cookie within the router's check interval
    const browserAuth = `Bearer ${browserToken.secret}`;
    assert.equal((await call(hostA, '/', { authorization: browserAuth })).status, 200);
    await auth.deleteToken(admin, browserToken.token.id);
    assertRefused(await call(hostA, '/', { authorization: browserAuth }), 401, 'UNAUTHORIZED');
    await eventually('the session cookie of a deleted token to be refused', async () => (await call(hostA, '/', { cookie })).status, (s) => s === 401, 20_000);
    assertRefused(await call(hostA, '/', { cookie }), 401, 'UNAUTHORIZED');
    assertRefused(await call(hostA, `${OPEN_PATH}?ticket=${access.ticket(hostA, grant)}`), 401, 'UNAUTHORIZED');
    // alice's other token still works
    assert.equal((await call(hostA, '/', { authorization: `Bearer ${aliceSecret}` })).status, 200);
  });

  it('answers 503 while a container is not running or is being taken down, when nothing listens, and for an alias just deleted', { timeout: 60_000 }, async () => {
    const paths: string[] = [];
    const { port } = await upstream((req, res) => {
      paths.push(req.url ?? '');
      res.end('blue');
    });
    const { port: greenPort } = await upstream((_req, res) => res.end('green'));
    const blue = await addContainer('blue', [{ name: 'web', port, public: true }]);
    const green = await addContainer('green', [{ name: 'web', port: greenPort, public: true }]);
    const host = blue.hosts[0] as string;
    assert.equal((await call(host)).body, 'blue');

    for (const status of ['stopped', 'paused', 'failed', 'creating', 'copying'] as const) {
      await setStatus(blue.id, status);
      const body = assertRefused(await call(host), 503, 'CONTAINER_NOT_RUNNING');
      assert.deepEqual(body.details, { status });
      assert.equal((await refusedWs(host)).body.code, 'CONTAINER_NOT_RUNNING');
    }
    const page = await call(host, '/', { accept: 'text/html' });
    assert.equal(page.status, 503);
    assert.equal(page.headers['retry-after'], '5');
    assert.match(page.body, /not available right now/);
    await setStatus(blue.id, 'running');
    assert.equal((await call(host)).body, 'blue');

    // a stop, pause or restart in flight: refused from the moment it is accepted, before any read of the record
    for (const [op, shown] of [
      ['stop', 'stopping'],
      ['force-stop', 'stopping'],
      ['pause', 'pausing'],
      ['restart', 'restarting'],
    ] as const) {
      const opId = accept(blue.id, op);
      assert.deepEqual(assertRefused(await call(host), 503, 'CONTAINER_NOT_RUNNING').details, { status: shown }, op);
      // the record read meanwhile still shows the operation: still refused
      await table.refresh(blue.id);
      assert.deepEqual(assertRefused(await call(host), 503, 'CONTAINER_NOT_RUNNING').details, { status: shown }, op);
      // it failed, announced before the claim is released in the record (ContainerService's order): served again
      table.onEvent(operation(blue.id, 'failed', op, opId));
      record(blue.id).current_operation = null;
      await eventually(`service again after a failed ${op}`, async () => (await call(host)).status, (s) => s === 200, 15_000);
      // and a read of the record from before the release, finishing late, does not take it down again
      record(blue.id).current_operation = { id: opId, operation: op, started_at: isoNow() };
      await table.refresh(blue.id);
      assert.equal((await call(host)).status, 200, `served after a late read of the failed ${op}`);
      record(blue.id).current_operation = null;
      await table.refresh(blue.id);
    }
    // an operation that does not take it down changes nothing
    const update = accept(blue.id, 'update');
    assert.equal((await call(host)).status, 200);
    finish(blue.id, 'succeeded', 'update', update);

    // a transition seen in the log marks it at once
    record(blue.id).status = 'stopped';
    table.onEvent({
      type: 'transition',
      row: { seq: 1, id: newId(), container_id: blue.id, from_status: 'running', to_status: 'stopped', transition_time: isoNow(), duration_ms: 5, triggered_by: alice.id, metadata: { operation: 'exit', server_name: 'node-1' }, project_id: PROJECT },
    });
    assert.deepEqual(assertRefused(await call(host), 503, 'CONTAINER_NOT_RUNNING').details, { status: 'stopped' });
    await setStatus(blue.id, 'running');
    assert.equal((await call(host)).body, 'blue');

    // nothing listens on the program's port
    const idle = await addContainer('idle', [{ name: 'web', port: await closedPort(), public: true }]);
    const idleBody = assertRefused(await call(idle.hosts[0] as string), 503, 'PROGRAM_NOT_ANSWERING');
    assert.equal(typeof idleBody.details.port, 'number');
    const idleWs = await refusedWs(idle.hosts[0] as string);
    assert.equal(idleWs.status, 503);
    assert.equal(idleWs.headers['retry-after'], '5');
    assert.equal(idleWs.body.code, 'PROGRAM_NOT_ANSWERING');

    // an alias with a target path
    addAlias('shop', blue.id, 'web', '/app');
    await table.refresh(blue.id);
    assert.equal((await call(aliasHost('shop'), '/x?y=1')).body, 'blue');
    assert.equal((await call(aliasHost('shop'))).body, 'blue');
    assert.deepEqual(paths.slice(-2), ['/app/x?y=1', '/app/']);
    // deleted: 503 ALIAS_NOT_BOUND right after, not 404, while a host never served is 404
    aliases.delete('shop');
    await table.refresh(blue.id);
    assertRefused(await call(aliasHost('shop')), 503, 'ALIAS_NOT_BOUND');
    const aliasWs = await refusedWs(aliasHost('shop'));
    assert.deepEqual([aliasWs.status, aliasWs.body.code, aliasWs.headers['retry-after']], [503, 'ALIAS_NOT_BOUND', '5']);
    assertRefused(await call(aliasHost('never-made')), 404, 'NOT_FOUND');
    assert.equal((await call(host)).body, 'blue', 'the container\'s own host is untouched');
    // made again for another container: served from there
    addAlias('shop', green.id, 'web');
    await table.refresh(green.id);
    assert.equal((await call(aliasHost('shop'))).body, 'green');

    // a container deleted with its alias: the alias answers 503, its program host 404
    containers.delete(green.id);
    aliases.delete('shop');
    await table.sync();
    assertRefused(await call(aliasHost('shop')), 503, 'ALIAS_NOT_BOUND');
    assertRefused(await call(green.hosts[0] as string), 404, 'NOT_FOUND');
  });

  it('refuses what would slip past its checks: another site using the cookie, dot segments under a target path, a program setting the router\'s cookie, bytes after a refused upgrade', { timeout: 60_000 }, async () => {
    const seen: string[] = [];
    const { port } = await upstream((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('set-cookie', [`${SESSION_COOKIE}=planted; Domain=node-1.apps.test`, 'app=1']);
      res.end(`served ${req.url}`);
    });
    const site = await addContainer('site', [{ name: 'web', port }]);
    const host = site.hosts[0] as string;
    const cookie = `${SESSION_COOKIE}=${access.session(host, { user: alice.id, token: aliceTokenId })}`;
    // the owner's own page, or no browser at all, may use it
    assert.equal((await call(host, '/', { cookie })).status, 200);
    assert.equal((await call(host, '/', { cookie, origin: `http://${host}` }, 'POST')).status, 200);
    // a page of another host (a tenant's, on a sibling name) may not: neither a form post nor a WebSocket
    assertRefused(await call(host, '/', { cookie, origin: 'http://evil.node-1.apps.test' }, 'POST'), 403, 'FORBIDDEN');
    assertRefused(await call(host, '/', { cookie, 'sec-fetch-site': 'same-site' }, 'POST'), 403, 'FORBIDDEN');
    assert.equal((await refusedWs(host, '/', { cookie, origin: 'http://evil.node-1.apps.test' })).status, 403);
    // a cookie tossed in front of the real one by a sibling host does not lock the owner out
    assert.equal((await call(host, '/', { cookie: `${SESSION_COOKIE}=tossed; ${cookie}` })).status, 200);
    // the program's Set-Cookie for the router's own cookie is dropped, its own kept
    const answer = await call(host, '/', { cookie });
    assert.deepEqual(answer.headers['set-cookie'], ['app=1']);
    // an alias onto /docs serves /docs and below only
    addAlias('docs', site.id, 'web', '/docs');
    await table.refresh(site.id);
    assert.equal((await call(aliasHost('docs'), '/guide')).body, 'served /docs/guide');
    for (const path of ['/../admin', '/%2e%2e/admin', '/a/%2E%2E/%2e%2e/admin', '/.%2e/admin', '/x%2f..%2fadmin']) {
      assertRefused(await call(aliasHost('docs'), path), 400, 'INVALID_INPUT');
    }
    assert.ok(!seen.some((r) => r.includes('admin')), `nothing above /docs reached the program: ${seen.join(', ')}`);
    // an upgrade the program refuses ends there: what the client sends next never reaches it as a request
    const raw = connect(routerPort, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    let reply = '';
    raw.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    const before = seen.length;
    raw.write(`GET /not-a-socket HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await within('the connection to close', new Promise((resolve) => raw.once('close', resolve)));
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(!seen.slice(before).some((r) => r.includes('smuggled')), `no smuggled request: ${seen.slice(before).join(', ')}`);
    // an upgrade with a body is refused outright
    const withBody = connect(routerPort, '127.0.0.1');
    await new Promise((resolve) => withBody.once('connect', resolve));
    let refusal = '';
    withBody.on('data', (d: Buffer) => (refusal += d.toString('latin1')));
    withBody.write(`POST / HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: Upgrade\r\nUpgrade: foo\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    await within('the refusal', new Promise((resolve) => withBody.once('close', resolve)));
    assert.match(refusal, /^HTTP\/1\.1 400 /);
  });

  it('relays an upgrade for another server\'s host to that server\'s router once it switched, and closing the router ends the relay', { timeout: 60_000 }, async () => {
    // another server's router: switches protocols, then echoes what comes, upper-cased
    const heads: string[] = [];
    const far = createNetServer((sock) => {
      let buf = '';
      let switched = false;
      sock.on('data', (d: Buffer) => {
        if (switched) return void sock.write(d.toString().toUpperCase());
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        heads.push(buf.slice(0, end));
        switched = true;
        sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
        if (buf.length > end + 4) sock.write(buf.slice(end + 4).toUpperCase());
      });
      sock.on('error', () => sock.destroy());
    });
    await new Promise<void>((resolve) => far.listen(0, '127.0.0.1', resolve));
    const farOrigin = `http://127.0.0.1:${(far.address() as AddressInfo).port}`;
    const relaying = new ServiceRouter({ table, auth, access, existingTokenIds: (ids) => store.existingTokenIds(ids), secureCookies: false, remote: async (host) => (host === 'far-1.other.apps.test' ? farOrigin : undefined) });
    await relaying.listen('127.0.0.1', 0);
    try {
      const client = connect({ host: '127.0.0.1', port: relaying.port ?? 0 });
      await new Promise<void>((resolve) => client.once('connect', resolve));
      let got = '';
      client.on('data', (d: Buffer) => (got += d.toString('latin1')));
      // bytes sent with the head wait for the switch
      client.write('GET /socket HTTP/1.1\r\nHost: far-1.other.apps.test\r\nAuthorization: Bearer t0k\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello');
      await eventually('the switch and the echo', async () => got, (t) => t.startsWith('HTTP/1.1 101 ') && t.endsWith('HELLO'), 10_000);
      assert.match(heads[0] ?? '', /^GET \/socket HTTP\/1\.1\r\n/);
      assert.match(heads[0] ?? '', /\r\nhost: far-1\.other\.apps\.test\r\n/i, 'the Host as it came');
      assert.match(heads[0] ?? '', /\r\nauthorization: Bearer t0k\r\n/i, 'the token goes on: that router checks it');
      assert.match(heads[0] ?? '', /\r\nx-hoody-relayed: 1(\r\n|$)/i, 'marked: never relayed again');
      client.write('again');
      await eventually('the echo', async () => got, (t) => t.endsWith('AGAIN'), 10_000);
      // a relayed host no server serves is 404 (no second hop)
      const again = connect({ host: '127.0.0.1', port: relaying.port ?? 0 });
      let refused = '';
      again.on('data', (d: Buffer) => (refused += d.toString('latin1')));
      again.write('GET / HTTP/1.1\r\nHost: far-1.other.apps.test\r\nX-Hoody-Relayed: 1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      await eventually('the refusal', async () => refused, (t) => t.startsWith('HTTP/1.1 404 '), 10_000);
      again.destroy();
      // closing the router ends the open relay instead of waiting for it
      const closed = client.closed ? Promise.resolve() : new Promise<void>((resolve) => client.once('close', () => resolve()));
      const t0 = Date.now();
      await relaying.close();
      await closed;
      assert.ok(Date.now() - t0 < 5_000, `closed in ${Date.now() - t0} ms`);
    } finally {
      await relaying.close().catch(() => undefined);
      await new Promise<void>((resolve) => far.close(() => resolve()));
    }
  });

  it('warned about nothing', () => {
    assert.deepEqual(warnings, []);
  });
});
