/**
 * The service-URL router (src/proxy/) next to the same upstream reached directly, in the same run,
 * and how long a route change takes to show with 5,000 routes in the table. Run as root:
 *
 *   node --import tsx bench/proxy.ts [rounds=3] [seconds=10] [changes=50]
 *
 * Set-up: a network namespace of its own (`ip netns add hbp<random>`), a veth pair into it with a
 * private /30 (10.231.x.y) and a node:http upstream inside (`ip netns exec`), answering 1 KB on two
 * ports, so both sides cross a veth as a request to a container does. The router runs in a child
 * process (a RouteTable over an in-memory RouteSource, a ProxyAccess with a random secret, a
 * ServiceRouter on 127.0.0.1): autocannon, the router and the upstream are three processes. Without
 * root (no namespace), the upstream listens on 127.0.0.1 and the output says so.
 *
 * - throughput: autocannon (its CLI, a process of its own, 50 connections, `seconds` per run, every
 *   answer a 200) straight at the upstream, at the router with the Host of a public program route,
 *   and, for comparison, at a bare node:http + undici proxy in the router's process (one fixed
 *   upstream, no table, no checks: the least a Node proxy does). `rounds` rounds, the order of the
 *   three rotating per round, after a 2 s warm-up of each. CPU µs per request: the router process's
 *   process.cpuUsage() over the run, the upstream's from /proc (10 ms ticks), each divided by the
 *   requests autocannon counted.
 * - route change: 50 containers × 100 public programs (5,000 hosts) and one alias. Each change
 *   moves the alias to the other of two containers (their programs on the upstream's two ports) as
 *   the API does it: the alias deleted in the source and the old container's routes read again, then
 *   created and the new container's read again. Timed from the start of the change until the table
 *   is updated, and until a request through the router to the alias host (sent from the router's
 *   process, one at a time on a keep-alive connection) answers from the new port. Each change
 *   follows a 20 ms pause; so does a request to the alias without a change, timed for comparison
 *   (what one request after a quiet moment takes on this machine).
 *
 * ROUTER_NODE_ARGS (env) adds node flags to the router's process, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
 */
import { execFileSync, fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import type { AuthService } from '../src/core/auth-service.ts';
import type { ServiceUrls } from '../src/core/services.ts';
import { ProxyAccess } from '../src/proxy/access.ts';
import { RouteTable, type RouteSource } from '../src/proxy/route-table.ts';
import { ServiceRouter } from '../src/proxy/router.ts';
import type { ContainerRecord, ProxyAliasRecord } from '../src/store/store.ts';
import { median } from './proc-util.ts';

const CONNECTIONS = 50;
const WARMUP_S = 2;
const CONTAINERS = 50;
const PROGRAMS = 100;
const ALIAS = 'moving';
const SERVER_LABEL = 'bench';
const DOMAIN = 'localhost';
const OWNER = 'u-bench';
/** Between two route changes (untimed). */
const CHANGE_PAUSE_MS = 20;
/** Route changes before the timed ones (JIT, the keep-alive connection). */
const CHANGE_WARMUP = 5;

const label = (c: number, p: number): string => `bench-c${String(c).padStart(2, '0')}-p${String(p).padStart(3, '0')}-1`;
const programHost = (c: number, p: number): string => `${label(c, p)}.${SERVER_LABEL}.${DOMAIN}`;
const aliasHostName = `${ALIAS}.${DOMAIN}`;
const containerId = (c: number): string => `c-bench-${c}`;

// ---------------------------------------------------------------- messages between the two processes

interface RouterConfig {
  address: string;
  /** The upstream's two ports: containers alternate between them. */
  ports: [number, number];
}
type ToRouter = { type: 'config'; config: RouterConfig } | { type: 'cpu' } | { type: 'changes'; count: number } | { type: 'stop' };
interface ChangeResult {
  tableMs: number[];
  effectMs: number[];
  /** One more request to the alias right after, with no change: what a request alone takes. */
  requestMs: number[];
  /** A request to the alias after the same pause as before a change, with no change. */
  idleMs: number[];
  /** Answers from the old target seen before the new one. */
  stale: number;
}
type FromRouter =
  | { type: 'ready'; port: number; barePort: number; routes: number; syncMs: number }
  | { type: 'cpu'; us: number; systemUs: number }
  | { type: 'changes'; result: ChangeResult }
  | { type: 'error'; message: string };

// ---------------------------------------------------------------- the router's process

/** What the router reads: the containers and aliases, in memory. */
class MemorySource implements RouteSource {
  readonly containers = new Map<string, ContainerRecord>();
  /** Aliases per container (the store has an index on container_id). */
  readonly aliases = new Map<string, Map<string, ProxyAliasRecord>>();

  async all(): Promise<{ containers: ContainerRecord[]; aliases: ProxyAliasRecord[] }> {
    return { containers: [...this.containers.values()].map((c) => ({ ...c })), aliases: [...this.aliases.values()].flatMap((m) => [...m.values()].map((a) => ({ ...a }))) };
  }

  async one(id: string): Promise<{ container: ContainerRecord | undefined; aliases: ProxyAliasRecord[] }> {
    const c = this.containers.get(id);
    return { container: c && { ...c }, aliases: [...(this.aliases.get(id)?.values() ?? [])].map((a) => ({ ...a })) };
  }

  async ownerOf(): Promise<string | undefined> {
    return OWNER;
  }

  addAlias(alias: string, container: string): void {
    const now = new Date().toISOString();
    const map = this.aliases.get(container) ?? new Map<string, ProxyAliasRecord>();
    map.set(alias, { id: `a-${alias}`, alias, container_id: container, server_id: 's-bench', program: 'p000', index: 1, target_path: '/', public: true, created_by: OWNER, created_at: now });
    this.aliases.set(container, map);
  }

  deleteAlias(alias: string, container: string): void {
    this.aliases.get(container)?.delete(alias);
  }
}

function containerRecord(c: number, config: RouterConfig): ContainerRecord {
  const now = new Date().toISOString();
  const programs = Array.from({ length: PROGRAMS }, (_, p) => ({ name: `p${String(p).padStart(3, '0')}`, port: config.ports[c % 2] as number, index: 1, public: true }));
  return {
    id: containerId(c),
    name: `c${String(c).padStart(2, '0')}`,
    project_id: 'p-bench',
    server_id: 's-bench',
    status: 'running',
    desired_status: 'running',
    container_image: 'busybox',
    command: null,
    environment_vars: {},
    autostart: false,
    hoody_kit: false,
    resources: {} as ContainerRecord['resources'],
    stop_timeout: 10,
    restart_policy: {} as ContainerRecord['restart_policy'],
    current_operation: null,
    exit_code: null,
    created_at: now,
    updated_at: now,
    version: 1,
    network_mode: 'bridge',
    ipv4_address: config.address,
    ports: [],
    programs,
    service_labels: programs.map((_, p) => label(c, p)),
  };
}

/** One GET through the router to a host, on a keep-alive connection: the upstream port that answered. */
function getThrough(agent: http.Agent, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent, headers: { host } }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve(Number(res.headers['x-upstream'])) : reject(new Error(`${host}: ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end();
  });
}

/**
 * The least a Node proxy does, for comparison: node:http in, the same undici Agent settings out,
 * one fixed upstream, no table, no checks, hop-by-hop headers dropped, the answer piped back.
 */
async function bareProxy(origin: string): Promise<http.Server> {
  const agent = new Agent({ connections: 256, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000, bodyTimeout: 0, headersTimeout: 300_000 });
  const hop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'expect']);
  const server = http.createServer((req, res) => {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (!hop.has((req.rawHeaders[i] as string).toLowerCase())) headers.push(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
    agent.request({ origin, path: req.url ?? '/', method: 'GET', headers }).then(
      (up) => {
        // the client went meanwhile (the end of a run): Node 24's pipeline throws on a destroyed destination
        if (res.destroyed) return void up.body.on('error', () => undefined).destroy();
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !hop.has(k)) out[k] = v;
        res.writeHead(up.statusCode, out);
        pipeline(up.body, res, () => undefined);
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function routerProcess(): Promise<void> {
  const send = (m: FromRouter): void => void process.send?.(m);
  const config = await new Promise<RouterConfig>((resolve) => process.once('message', (m: ToRouter) => m.type === 'config' && resolve(m.config)));
  const source = new MemorySource();
  for (let c = 0; c < CONTAINERS; c++) source.containers.set(containerId(c), containerRecord(c, config));
  source.addAlias(ALIAS, containerId(0));
  const urls: ServiceUrls = { serverLabel: SERVER_LABEL, domain: DOMAIN, url: (h) => `http://${h}/` };
  const table = new RouteTable(source, urls, (message, err) => console.error(message, err));
  let t = performance.now();
  await table.sync();
  const syncMs = performance.now() - t;
  const router = new ServiceRouter({
    table,
    // every route here is public: the router never asks for a user
    auth: {} as AuthService,
    access: new ProxyAccess(randomBytes(32)),
    existingTokenIds: async () => new Set<string>(),
    secureCookies: false,
    warn: (message, err) => console.error(message, err),
  });
  await router.listen('127.0.0.1', 0);
  const port = router.port as number;
  const bare = await bareProxy(`http://${config.address}:${config.ports[0]}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** Where the alias is now. */
  let at = 0;

  async function changes(count: number): Promise<ChangeResult> {
    const result: ChangeResult = { tableMs: [], effectMs: [], requestMs: [], idleMs: [], stale: 0 };
    for (let i = 0; i < CHANGE_WARMUP + count; i++) {
      const from = at;
      const to = 1 - at;
      const wanted = config.ports[to % 2] as number;
      const pause = (): Promise<unknown> => new Promise((r) => setTimeout(r, CHANGE_PAUSE_MS));
      await pause();
      t = performance.now();
      if ((await getThrough(agent, port, aliasHostName)) !== config.ports[from % 2]) throw new Error('the alias answered from the wrong target');
      const idleMs = performance.now() - t;
      await pause();
      t = performance.now();
      source.deleteAlias(ALIAS, containerId(from));
      await table.refresh(containerId(from));
      source.addAlias(ALIAS, containerId(to));
      await table.refresh(containerId(to));
      const tableMs = performance.now() - t;
      at = to;
      let stale = 0;
      for (;;) {
        const got = await getThrough(agent, port, aliasHostName);
        if (got === wanted) break;
        stale++;
        if (performance.now() - t > 5_000) throw new Error(`the alias still answered from port ${got} 5 s after the change`);
      }
      const effectMs = performance.now() - t;
      t = performance.now();
      if ((await getThrough(agent, port, aliasHostName)) !== wanted) throw new Error('the alias answered from the old target again');
      const requestMs = performance.now() - t;
      if (i >= CHANGE_WARMUP) {
        result.tableMs.push(tableMs);
        result.effectMs.push(effectMs);
        result.requestMs.push(requestMs);
        result.idleMs.push(idleMs);
        result.stale += stale;
      }
    }
    return result;
  }

  process.on('message', (m: ToRouter) => {
    if (m.type === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', us: u.user + u.system, systemUs: u.system });
    } else if (m.type === 'changes') {
      changes(m.count).then(
        (result) => send({ type: 'changes', result }),
        (err: unknown) => send({ type: 'error', message: String(err) }),
      );
    } else if (m.type === 'stop') {
      agent.destroy();
      void router.close().then(() => process.exit(0));
    }
  });
  process.once('disconnect', () => process.exit(0));
  send({ type: 'ready', port, barePort: (bare.address() as { port: number }).port, routes: table.size, syncMs });
}

// ---------------------------------------------------------------- the upstream (run inside the namespace)

/** A node:http server on two ports of `host` answering 1 KB, which port in X-Upstream; prints its pid and ports; ends with its stdin. */
const UPSTREAM = `
const http = require('node:http');
const host = process.argv[2];
const servers = [0, 1].map(() => http.createServer());
let ready = 0;
for (const s of servers) {
  s.listen(0, host, () => {
    const port = s.address().port;
    const head = 'upstream port ' + port + '\\n';
    const body = Buffer.from(head + 'x'.repeat(1023 - head.length) + '\\n');
    const headers = { 'content-type': 'text/plain', 'content-length': String(body.length), 'x-upstream': String(port) };
    s.on('request', (req, res) => {
      req.resume();
      res.writeHead(200, headers);
      res.end(body);
    });
    if (++ready === servers.length) process.stdout.write(JSON.stringify({ pid: process.pid, ports: servers.map((x) => x.address().port) }) + '\\n');
  });
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

// ---------------------------------------------------------------- the bench

interface Run {
  reqPerSec: number;
  total: number;
  p50: number;
  p99: number;
  /** CPU of the proxies' process per request (none when direct). */
  proxyCpuUs: number | undefined;
  /** Of it, in the kernel. */
  proxySystemUs: number | undefined;
  upstreamCpuUs: number;
  upstreamSystemUs: number;
}

/** Extra node flags of the router's process, e.g. `--cpu-prof --cpu-prof-dir=DIR` (ROUTER_NODE_ARGS, split at spaces). */
const ROUTER_NODE_ARGS = (process.env.ROUTER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const AUTOCANNON = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));
const tag = randomBytes(3).toString('hex');
const names = { ns: `hbp${tag}`, host: `hbp${tag}h`, peer: `hbp${tag}c` };
const children = new Set<ChildProcess>();
let workDir: string | undefined;
let namespaceMade = false;

const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** A /30 in 10.231.0.0/16 that no route of this machine covers: the host's end and the namespace's. */
function pickSubnet(): { host: string; ns: string } {
  for (let tries = 0; tries < 50; tries++) {
    const [a, b] = [randomBytes(1)[0] as number, ((randomBytes(1)[0] as number) % 64) * 4];
    const ns = `10.231.${a}.${b + 2}`;
    const routes = execFileSync('ip', ['-4', 'route', 'show', 'match', ns], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('default'));
    if (routes.length === 0) return { host: `10.231.${a}.${b + 1}`, ns };
  }
  throw new Error('no free /30 in 10.231.0.0/16');
}

function makeNamespace(sub: { host: string; ns: string }): void {
  ip('netns', 'add', names.ns);
  namespaceMade = true;
  ip('link', 'add', names.host, 'type', 'veth', 'peer', 'name', names.peer);
  ip('link', 'set', names.peer, 'netns', names.ns);
  ip('addr', 'add', `${sub.host}/30`, 'dev', names.host);
  ip('link', 'set', names.host, 'up');
  ip('netns', 'exec', names.ns, 'ip', 'link', 'set', 'lo', 'up');
  ip('netns', 'exec', names.ns, 'ip', 'addr', 'add', `${sub.ns}/30`, 'dev', names.peer);
  ip('netns', 'exec', names.ns, 'ip', 'link', 'set', names.peer, 'up');
}

/** Everything this run made, by its own names and pids. */
function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  if (namespaceMade) {
    spawnSync('ip', ['link', 'del', names.host], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', names.ns], { stdio: 'ignore' });
    namespaceMade = false;
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
}

function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function startUpstream(address: string, inNamespace: boolean): Promise<{ pid: number; ports: [number, number]; child: ChildProcess }> {
  workDir = mkdtempSync(join(tmpdir(), 'hoody-bench-proxy-'));
  const file = join(workDir, 'upstream.cjs');
  writeFileSync(file, UPSTREAM);
  const argv = inNamespace ? ['ip', 'netns', 'exec', names.ns, process.execPath, file, address] : [process.execPath, file, address];
  const child = track(spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] }));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`the upstream exited with ${code}`)));
  });
  const { pid, ports } = JSON.parse(line) as { pid: number; ports: [number, number] };
  return { pid, ports, child };
}

/** CPU time of a process in µs, and of it in the kernel, from /proc (utime and stime, 100 ticks a second). */
function cpuUsOf(pid: number): { us: number; systemUs: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return { us: (Number(fields[11]) + Number(fields[12])) * 10_000, systemUs: Number(fields[12]) * 10_000 };
}

class RouterChild {
  private readonly waiting: ((m: FromRouter) => void)[] = [];
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromRouter) => this.waiting.shift()?.(m));
  }

  static start(): RouterChild {
    return new RouterChild(track(fork(fileURLToPath(import.meta.url), ['--router'], { execArgv: [...process.execArgv, ...ROUTER_NODE_ARGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  }

  ask(m: ToRouter | undefined, timeoutMs = 600_000): Promise<FromRouter> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the router process did not answer')), timeoutMs);
      const onExit = (code: number | null): void => reject(new Error(`the router process exited with ${code}`));
      this.child.once('exit', onExit);
      this.waiting.push((r) => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        if (r.type === 'error') reject(new Error(r.message));
        else resolve(r);
      });
      if (m) this.child.send(m);
    });
  }

  async cpuUs(): Promise<{ us: number; systemUs: number }> {
    const r = await this.ask({ type: 'cpu' });
    if (r.type !== 'cpu') throw new Error(`unexpected answer ${r.type}`);
    return r;
  }
}

/** One autocannon run; fails on any error, timeout or answer other than 2xx. */
function autocannon(seconds: number, url: string, headers: string[]): Promise<{ reqPerSec: number; total: number; p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    const args = [AUTOCANNON, '--json', '-c', String(CONNECTIONS), '-d', String(seconds), ...headers.flatMap((h) => ['-H', h]), url];
    const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      const r = JSON.parse(out) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number; timeouts: number };
      if (r.errors || r.non2xx || r.timeouts) return reject(new Error(`autocannon saw ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts: ${url}`));
      resolve({ reqPerSec: r.requests.average, total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99 });
    });
  });
}

/** The body of one GET (a sanity check that both sides answer the same). */
function getBody(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: host ? { host } : {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
  });
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 10);
  const changeCount = Number(process.argv[4] ?? 50);
  let address = '127.0.0.1';
  let where = 'on 127.0.0.1 (no network namespace: not run as root, so no veth is crossed)';
  const inNamespace = process.getuid?.() === 0;
  if (inNamespace) {
    const sub = pickSubnet();
    makeNamespace(sub);
    address = sub.ns;
    where = `in network namespace ${names.ns} at ${sub.ns} (veth ${names.host} ${sub.host}/30 on the host side)`;
  }
  const upstream = await startUpstream(address, inNamespace);
  const router = RouterChild.start();
  const readyP = router.ask(undefined, 60_000);
  router.child.send({ type: 'config', config: { address, ports: upstream.ports } } satisfies ToRouter);
  const ready = await readyP;
  if (ready.type !== 'ready') throw new Error(`unexpected answer ${ready.type}`);

  const directUrl = `http://${address}:${upstream.ports[0]}/`;
  const routerUrl = `http://127.0.0.1:${ready.port}/`;
  const host = programHost(0, 0);
  const [d, r] = [await getBody(directUrl), await getBody(routerUrl, host)];
  if (d.status !== 200 || r.status !== 200 || d.body !== r.body || d.body.length !== 1024) throw new Error(`the two sides answer differently: ${d.status} ${d.body.length} B, ${r.status} ${r.body.length} B`);

  console.log(`Service-URL router vs direct, ${CONNECTIONS} connections, ${rounds} rounds of ${seconds} s per side (order rotating), load ${load()} at the start, ${new Date().toISOString()}`);
  console.log(`upstream: node:http, 1 KB answers, ${where}; router: a child process on ${routerUrl}, ${ready.routes} routes (table read in ${ready.syncMs.toFixed(1)} ms); Node ${process.version}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} CPUs\n`);

  const bareUrl = `http://127.0.0.1:${ready.barePort}/`;
  /** One run at one side: the proxy's CPU (the router's process) and the upstream's, per request. */
  const measure = async (s: number, url: string, headers: string[], proxied: boolean): Promise<Run> => {
    const u0 = cpuUsOf(upstream.pid);
    const r0 = proxied ? await router.cpuUs() : undefined;
    const a = await autocannon(s, url, headers);
    const r1 = proxied ? await router.cpuUs() : undefined;
    const u1 = cpuUsOf(upstream.pid);
    return {
      ...a,
      proxyCpuUs: r0 && r1 ? (r1.us - r0.us) / a.total : undefined,
      proxySystemUs: r0 && r1 ? (r1.systemUs - r0.systemUs) / a.total : undefined,
      upstreamCpuUs: (u1.us - u0.us) / a.total,
      upstreamSystemUs: (u1.systemUs - u0.systemUs) / a.total,
    };
  };
  const sides = {
    direct: (s: number) => measure(s, directUrl, [], false),
    router: (s: number) => measure(s, routerUrl, [`host=${host}`], true),
    bare: (s: number) => measure(s, bareUrl, [], true),
  };
  type Side = keyof typeof sides;
  const SIDES = Object.keys(sides) as Side[];
  const LABEL: Record<Side, string> = { direct: 'direct', router: 'ServiceRouter', bare: 'bare node:http + undici proxy' };
  const results: Record<Side, Run[]> = { direct: [], router: [], bare: [] };
  for (const side of SIDES) await sides[side](WARMUP_S);
  const f = (x: number | undefined, digits = 0): string => (x === undefined ? '–' : x.toFixed(digits));
  const cpu = (all: number | undefined, kernel: number | undefined): string => (all === undefined ? '–' : `${f(all)} (${f(kernel)})`);
  console.log('| round | side | req/s | p50 ms | p99 ms | proxy CPU µs/req (kernel) | upstream CPU µs/req (kernel) | req/s / direct, this round |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
  const shares: Record<Side, number[]> = { direct: [], router: [], bare: [] };
  for (let round = 0; round < rounds; round++) {
    // the order rotates: each side goes first, second and third in turn
    const order = SIDES.map((_, i) => SIDES[(i + round) % SIDES.length] as Side);
    for (const side of order) results[side].push(await sides[side](seconds));
    for (const side of order) {
      const run = results[side].at(-1) as Run;
      const share = run.reqPerSec / (results.direct.at(-1) as Run).reqPerSec;
      shares[side].push(share);
      console.log(`| ${round + 1} | ${LABEL[side]} | ${f(run.reqPerSec)} | ${run.p50} | ${run.p99} | ${cpu(run.proxyCpuUs, run.proxySystemUs)} | ${cpu(run.upstreamCpuUs, run.upstreamSystemUs)} | ${side === 'direct' ? '' : `${(share * 100).toFixed(1)}%`} |`);
    }
  }
  const med = (side: Side, key: 'reqPerSec' | 'p50' | 'p99' | 'proxyCpuUs' | 'proxySystemUs' | 'upstreamCpuUs' | 'upstreamSystemUs'): number | undefined => {
    const xs = results[side].map((x) => x[key]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  for (const side of SIDES) {
    console.log(`| median | ${LABEL[side]} | ${f(med(side, 'reqPerSec'))} | ${f(med(side, 'p50'))} | ${f(med(side, 'p99'))} | ${cpu(med(side, 'proxyCpuUs'), med(side, 'proxySystemUs'))} | ${cpu(med(side, 'upstreamCpuUs'), med(side, 'upstreamSystemUs'))} | ${side === 'direct' ? '' : `${(median(shares[side]) * 100).toFixed(1)}%`} |`);
  }
  console.log('(round order rotates; "req/s / direct" is of the same round; the two proxies run in one child process, one at a time)');
  const share = median(shares.router);
  const p99 = med('router', 'p99') ?? Infinity;

  const changed = await router.ask({ type: 'changes', count: changeCount });
  if (changed.type !== 'changes') throw new Error(`unexpected answer ${changed.type}`);
  const c = changed.result;
  const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)] as number;
  const ms = (x: number): string => x.toFixed(3);
  console.log(`\nRoute change to effect, ${ready.routes} routes in the table: the alias ${aliasHostName} moved between two containers ${changeCount} times (+${CHANGE_WARMUP} untimed), ms\n`);
  console.log('| from the start of the change until | median | p90 | max |');
  console.log('|---|---:|---:|---:|');
  console.log(`| the table is updated (delete + refresh of the old container, create + refresh of the new) | ${ms(median(c.tableMs))} | ${ms(p90(c.tableMs))} | ${ms(Math.max(...c.tableMs))} |`);
  console.log(`| a request through the router to the alias answers from the new target | ${ms(median(c.effectMs))} | ${ms(p90(c.effectMs))} | ${ms(Math.max(...c.effectMs))} |`);
  console.log(`| (for comparison, no change: one request to the alias after the same ${CHANGE_PAUSE_MS} ms pause) | ${ms(median(c.idleMs))} | ${ms(p90(c.idleMs))} | ${ms(Math.max(...c.idleMs))} |`);
  console.log(`| (for comparison, no change: the next request, right after the first answer from the new target) | ${ms(median(c.requestMs))} | ${ms(p90(c.requestMs))} | ${ms(Math.max(...c.requestMs))} |`);
  console.log(`(answers from the old target after a change: ${c.stale}; requests are sent one at a time from the router's process, on one keep-alive connection; ${CHANGE_PAUSE_MS} ms pause before each change and before each comparison request)`);

  const changeMax = Math.max(...c.effectMs);
  console.log(`\nAgainst the targets: router ${(share * 100).toFixed(1)}% of direct req/s, median of the rounds (≥ 35%: ${share >= 0.35 ? 'yes' : 'no'}); router p99 ${f(p99)} ms at ${CONNECTIONS} connections (< 20 ms: ${p99 < 20 ? 'yes' : 'no'}); route change to effect ${ms(median(c.effectMs))} ms median, ${ms(changeMax)} ms max (< 5 ms: ${changeMax < 5 ? 'yes' : median(c.effectMs) < 5 ? 'median yes, max no' : 'no'}); load ${load()} at the end`);
  await router.ask({ type: 'stop' }, 10_000).catch(() => undefined);
  upstream.child.stdin?.end();
}

if (process.argv[2] === '--router') {
  await routerProcess();
} else {
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await main();
  } finally {
    cleanup();
  }
}
