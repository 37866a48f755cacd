/**
 * Container networks set up and torn down: Hoody's NetworkManager next to podman's netavark,
 * and the start latency of a container with and without a network through the runc driver.
 * Run as root (bridges, namespaces and tables of its own, removed at the end):
 *
 *   tsx bench/network.ts [containers=50] [start-rounds=15]
 *
 * - hoody: `containers` networks attached (namespace, veth on the bridge, address and route,
 *   sysctls, sysfs, one published port each, group isolation, name files), then detached;
 *   wall time of each half. All attaches are asked for at once; the manager runs them one by one.
 * - netavark (/usr/lib/podman/netavark, dns off): `ip netns add` + `netavark setup` per
 *   container, then `netavark teardown` + `ip netns del`, one at a time (podman holds a lock
 *   around each call: netavark is not safe in parallel), on a bridge and subnet of its own.
 * - start: median of `start-rounds` driver.start() calls of a busybox `sleep`, without and with
 *   a network, rounds interleaved and 0.4 s apart (create, delete and the pause are not timed).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetworkManager } from '../src/network/manager.ts';
import type { ContainerNetworkSpec } from '../src/network/types.ts';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { median } from './proc-util.ts';

const count = Number(process.argv[2] ?? 50);
const rounds = Number(process.argv[3] ?? 15);
const tag = randomBytes(3).toString('hex');
const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
const NETAVARK = '/usr/lib/podman/netavark';
/** Between start rounds (untimed). */
const PAUSE_MS = 400;

const names = { hoody: `hbn${tag}`, netavark: `hbv${tag}`, start: `hbs${tag}` };
const nets = { hoody: `10.216.${third}`, netavark: `10.217.${third}`, start: `10.218.${third}` };

const spec = (net: string, n: number): ContainerNetworkSpec => ({
  group: `g${n % 2}`,
  ipv4: { address: `${net}.${n + 2}`, prefixLength: 24, gateway: `${net}.1` },
  ports: [{ container_port: 80, host_port: 30_000 + n, protocol: 'tcp', host_ip: '0.0.0.0' }],
  hostname: `c${n}`,
  hosts: [],
});

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const load = (): string => execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ')[0]!;

async function hoody(): Promise<{ up: number; down: number; reachable: number }> {
  const runDir = `/run/hoody-${names.hoody}`;
  const m = await NetworkManager.open({ mode: 'bridge', bridge: names.hoody, subnet: `${nets.hoody}.0/24`, table: names.hoody, nameservers: [], runDir });
  const ids = Array.from({ length: count }, (_, n) => `bench${tag}${n}`);
  let t = performance.now();
  await Promise.all(ids.map((id, n) => m.attach(id, spec(nets.hoody, n))));
  const up = performance.now() - t;
  const reachable = ids.filter((id) => existsSync(m.netnsPath(id))).length;
  t = performance.now();
  await Promise.all(ids.map((id) => m.detach(id)));
  const down = performance.now() - t;
  await m.close();
  return { up, down, reachable };
}

function netavarkInput(n: number): string {
  const hex = (s: string): string => s.repeat(64).slice(0, 64);
  return JSON.stringify({
    container_id: hex(`${n.toString(16)}a`),
    container_name: `hbv${tag}${n}`,
    networks: { [names.netavark]: { static_ips: [`${nets.netavark}.${n + 2}`], interface_name: 'eth0' } },
    network_info: {
      [names.netavark]: {
        dns_enabled: false,
        driver: 'bridge',
        id: hex('b'),
        internal: false,
        ipv6_enabled: false,
        name: names.netavark,
        network_interface: names.netavark,
        subnets: [{ gateway: `${nets.netavark}.1`, subnet: `${nets.netavark}.0/24` }],
      },
    },
    port_mappings: [{ host_ip: '', container_port: 80, host_port: 31_000 + n, range: 1, protocol: 'tcp' }],
  });
}

function netavark(): { up: number; down: number; failed: number } | undefined {
  if (!existsSync(NETAVARK)) return undefined;
  const configDir = `/run/hoody-${names.netavark}`;
  const run = (args: string[], input?: string): boolean => spawnSync(args[0]!, args.slice(1), { input, stdio: ['pipe', 'ignore', 'ignore'] }).status === 0;
  execFileSync('mkdir', ['-p', configDir]);
  let failed = 0;
  let t = performance.now();
  for (let n = 0; n < count; n++) {
    const ns = `${names.netavark}-${n}`;
    if (!run(['ip', 'netns', 'add', ns]) || !run([NETAVARK, '-c', configDir, 'setup', `/run/netns/${ns}`], netavarkInput(n))) failed++;
  }
  const up = performance.now() - t;
  t = performance.now();
  for (let n = 0; n < count; n++) {
    const ns = `${names.netavark}-${n}`;
    if (!run([NETAVARK, '-c', configDir, 'teardown', `/run/netns/${ns}`], netavarkInput(n)) || !run(['ip', 'netns', 'del', ns])) failed++;
  }
  const down = performance.now() - t;
  spawnSync('rm', ['-rf', configDir]);
  return { up, down, failed };
}

async function startLatency(): Promise<{ without: number[]; with: number[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-bench-net-'));
  const runDir = `/run/hoody-${names.start}`;
  const network = await NetworkManager.open({ mode: 'bridge', bridge: names.start, subnet: `${nets.start}.0/24`, table: names.start, nameservers: [], runDir });
  const driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images: new ImageStore(join(dir, 'images')), cgroupPrefix: `hoody-bench-${tag}`, network });
  const out = { without: [] as number[], with: [] as number[] };
  try {
    for (let r = 0; r < rounds + 1; r++) {
      for (const withNetwork of [false, true]) {
        const id = `bs${tag}${r}${withNetwork ? 'n' : 'l'}`;
        await driver.create({ id, image: 'busybox', command: ['sleep', '600'], env: {}, hostname: id, ...(withNetwork ? { network: spec(nets.start, r) } : {}) });
        const t = performance.now();
        await driver.start(id);
        const ms = performance.now() - t;
        // the first round warms caches (the image, the bridge's first port)
        if (r > 0) out[withNetwork ? 'with' : 'without'].push(ms);
        await driver.delete(id);
        // untimed: what runs in the background after a delete (the kernel's clean-up of a deleted
        // namespace) lands here, not in the next start of either side
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      }
    }
  } finally {
    for (const s of await driver.list()) await driver.delete(s.id).catch(() => undefined);
    await driver.close();
    await driver.removeCgroupPrefix();
    await network.close();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

function cleanup(): void {
  for (const n of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (Object.values(names).some((b) => n.startsWith(`${b}-`))) spawnSync('ip', ['netns', 'del', n]);
  for (const b of Object.values(names)) {
    spawnSync('ip', ['link', 'del', b]);
    spawnSync('nft', ['delete', 'table', 'ip', b]);
    spawnSync('rm', ['-rf', `/run/hoody-${b}`]);
  }
}

try {
  await mkdir('/run/netns', { recursive: true });
  console.log(`${count} containers' networks, load ${load()} at the start`);
  const h = await hoody();
  const v = netavark();
  console.log('| method | up | down | notes |');
  console.log('|---|---|---|---|');
  console.log(`| hoody NetworkManager (rtnetlink and libnftables in-process) | ${seconds(h.up)} | ${seconds(h.down)} | ${h.reachable}/${count} namespaces made |`);
  if (v) console.log(`| netavark 1.4, serial, dns off | ${seconds(v.up)} | ${seconds(v.down)} | ${v.failed} failed calls |`);
  else console.log(`| netavark | - | - | ${NETAVARK} not installed |`);
  const s = await startLatency();
  const [a, b] = [median(s.without), median(s.with)];
  console.log(`\nstart through the runc driver, median of ${rounds}: without a network ${a.toFixed(1)} ms, with ${b.toFixed(1)} ms (+${(b - a).toFixed(1)} ms); load ${load()} at the end`);
} finally {
  cleanup();
}
