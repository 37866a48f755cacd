/**
 * The host side of container networking: one bridge, one pair of nftables tables the daemon
 * owns, and per container a bind-mounted network namespace with a veth on the bridge.
 *
 * On the host, for a bridge `hoody0`:
 *   /run/netns/hoody0-<id>        the container's namespace (runc joins it by path)
 *   v<14 hex>                     the host end of its veth, on the bridge, hairpin on
 *   table ip <table>              published ports, masquerade, isolation of groups (nft-table.ts)
 *   <runDir>/<id>/                hosts, resolv.conf, hostname (bind-mounted), network.json (what was attached)
 *
 * Every mutation runs under one queue, one at a time. Teardown steps treat "not there" as done.
 * The tables are also held here as a model of their elements, so a change is one `nft -f` of
 * exactly what differs; when the kernel disagrees (someone changed the table), the model is
 * read back from the kernel and the change tried again.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { gatewayOf, ipv4InSubnet, parseIpv4, parseIpv4Cidr, type Ipv4Subnet } from './ipv4.ts';
import { changeScript, containerElements, elementId, groupChain, groupChains, memberSet, ownedBy, parseListing, tableScript, type TableElement } from './nft-table.ts';
import { hostnameFile, hostsFile, resolvFile, rewriteInPlace } from './host-files.ts';
import { subnetCollision } from './subnet-check.ts';
import { runTool, ToolError } from './run-tool.ts';
import { isHostPortFree } from './port-probe.ts';
import { openNftRunner, type NftRunner } from './nft-runner.ts';
import { openNetnsEntry, type NetnsEntry } from './netns-enter.ts';
import { rt, Rtnetlink } from './rtnetlink.ts';
import { readStatusFileIfAny } from '../runtime/fs.ts';
import type { ContainerAddress, ContainerNetwork, ContainerNetworkSpec, HostEntry, NetworkFiles, NetworkReconcileReport, NetworkSettings } from './types.ts';

export interface NetworkManagerOptions extends NetworkSettings {
  /** Where the per-container files live: a folder on a tmpfs that container root can pass through (not under a 0700 data folder). */
  runDir: string;
  /** Where failures of clean-up steps are told; silent when absent. */
  warn?: (message: string, err?: unknown) => void;
  /** Spawn `nft` and `nsenter` rather than calling libnftables and setns in-process (the fallback when those cannot load). */
  spawnTools?: boolean;
}

/** What was attached for a container, kept beside its files: detach and reconcile read it after a daemon restart. */
interface AttachedRecord {
  spec: ContainerNetworkSpec;
}

const NETNS_DIR = '/run/netns';
/** `addr_assign_type` of an address set by hand (include/uapi/linux/netdevice.h). */
const NET_ADDR_SET = '3';

/** A bridge's own MAC: locally administered, unicast, from its name (the same bridge gets the same one again). */
export function bridgeMac(bridge: string): string {
  const b = createHash('sha256').update(`hoody bridge\0${bridge}`).digest();
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The alias of a bridge the daemon made (`ip link show` prints it): only such a bridge is changed. */
const BRIDGE_MARK = 'hoody-container-network';
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** The container's side of its veth. */
const INNER_IF = 'eth0';
/** lo's index in every network namespace (the first link registered in it). */
const LOOPBACK_INDEX = 1;
/**
 * Inside each namespace: container root (in its own user namespace, without rights over this
 * namespace) may bind ports below 1024 and ping; eth0 has no IPv6, whose link-local addresses
 * would let containers of different groups reach each other past the IPv4 isolation.
 */
const INNER_SYSCTLS = [
  // a gratuitous ARP when eth0 comes up: neighbours that knew the address with an earlier MAC (a reused address, a new veth) learn the new one at once
  'net.ipv4.conf.all.arp_notify=1',
  'net.ipv4.ip_unprivileged_port_start=0',
  'net.ipv4.ping_group_range=0 2147483647',
  `net.ipv6.conf.${INNER_IF}.disable_ipv6=1`,
  'net.ipv6.conf.default.disable_ipv6=1',
];

export class NetworkManager implements ContainerNetwork {
  private readonly subnet: Ipv4Subnet;
  private readonly gateway: string;
  private queue: Promise<unknown> = Promise.resolve();
  /** The tables' elements, by elementId, as the daemon last wrote or read them. */
  private readonly elements = new Map<string, TableElement>();
  /** The group chains the bridge table holds. */
  private readonly chains = new Set<string>();
  private readonly records = new Map<string, AttachedRecord>();
  private conntrackWarned = false;
  /** Whether the table was there when it was last read. */
  private tablePresent = false;
  private nft!: NftRunner;
  private netns!: NetnsEntry;
  /** Netlink in-process: the host's socket, and how to make one inside a namespace just entered; absent when libc cannot be bound (`ip` then). */
  private rtnl?: { host: Rtnetlink; socketHere: () => Rtnetlink };

  private constructor(private readonly opts: NetworkManagerOptions) {
    const subnet = parseIpv4Cidr(opts.subnet);
    if (!subnet) throw new Error(`network subnet "${opts.subnet}" is not an IPv4 subnet`);
    this.subnet = subnet;
    this.gateway = gatewayOf(subnet);
  }

  /**
   * Checks the subnet against the host's routes, makes the bridge (or brings it in line), turns
   * on forwarding and the bridge's route_localnet, and loads the tables, keeping the elements of
   * the containers that run.
   */
  static async open(opts: NetworkManagerOptions): Promise<NetworkManager> {
    const m = new NetworkManager(opts);
    [m.nft, m.netns] = await Promise.all([openNftRunner(opts.spawnTools), openNetnsEntry(opts.spawnTools)]);
    const [routes, addrs] = await Promise.all([runTool('ip', ['-j', 'route']), runTool('ip', ['-j', 'addr'])]);
    const collision = subnetCollision(m.subnet, opts.bridge, routes, addrs);
    if (collision) throw new Error(`network subnet ${m.subnet.cidr} of bridge "${opts.bridge}" overlaps ${collision}: choose another HOODY_NETWORK_SUBNET`);
    await m.ensureBridge(addrs);
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    await writeFile(`/proc/sys/net/ipv4/conf/${opts.bridge}/route_localnet`, '1');
    await m.loadTables();
    await mkdir(opts.runDir, { recursive: true, mode: 0o711 });
    // last, so a failed open holds no socket; without one, `ip` sets up the interfaces
    if (m.netns.mode === 'setns') {
      try {
        const socketHere = await Rtnetlink.opener();
        m.rtnl = { host: socketHere(), socketHere };
      } catch (err) {
        opts.warn?.('cannot open a netlink socket: container interfaces are set up with ip', err);
      }
    }
    return m;
  }

  netnsPath(id: string): string {
    return join(NETNS_DIR, this.netnsName(id));
  }

  files(id: string): NetworkFiles {
    const dir = this.dir(id);
    return { hosts: join(dir, 'hosts'), resolv: join(dir, 'resolv.conf'), hostname: join(dir, 'hostname'), sysfs: join(dir, 'sys') };
  }

  attach(id: string, spec: ContainerNetworkSpec, signal?: AbortSignal, onNamespace?: () => void): Promise<void> {
    assertId(id);
    this.validate(id, spec);
    return this.serially(async () => {
      await this.attachNow(id, spec, { deep: false, onNamespace }, signal);
      // when the namespace was there before (a running container's), or made by the tools: told now
      onNamespace?.();
    });
  }

  detach(id: string, signal?: AbortSignal): Promise<void> {
    assertId(id);
    return this.serially(() => this.teardown(id, signal));
  }

  updateHosts(id: string, hosts: HostEntry[]): Promise<void> {
    assertId(id);
    return this.serially(async () => {
      const record = await this.record(id);
      if (!record) return;
      record.spec = { ...record.spec, hosts };
      this.writeRecord(id, record);
      rewriteInPlace(this.files(id).hosts, hostsFile({ address: record.spec.ipv4.address, hostname: record.spec.hostname }, hosts));
    });
  }

  reconcile(running: ReadonlyMap<string, ContainerNetworkSpec> | (() => Promise<ReadonlyMap<string, ContainerNetworkSpec>>), signal?: AbortSignal): Promise<NetworkReconcileReport> {
    return this.serially(async () => this.reconcileNow(typeof running === 'function' ? await running() : running, signal));
  }

  async addresses(id: string): Promise<ContainerAddress[]> {
    assertId(id);
    if (!existsSync(this.netnsPath(id))) return [];
    let out: string;
    try {
      out = await runTool('ip', ['-n', this.netnsName(id), '-j', 'addr', 'show', 'dev', INNER_IF]);
    } catch {
      return [];
    }
    const links = JSON.parse(out || '[]') as { addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[] }[];
    const result: ContainerAddress[] = [];
    for (const a of links[0]?.addr_info ?? []) {
      if (a.family === 'inet' && a.local && a.prefixlen !== undefined) result.push({ family: 'ipv4', address: a.local, prefix_length: a.prefixlen, gateway: this.gateway });
    }
    return result;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    this.rtnl?.host.close();
  }

  /** The host end of the container's veth: `v` and 14 hex digits of the bridge and id (15 characters). */
  vethName(id: string): string {
    return `v${createHash('sha256').update(`${this.opts.bridge}\0${id}`).digest('hex').slice(0, 14)}`;
  }

  private netnsName(id: string): string {
    return `${this.opts.bridge}-${id}`;
  }

  private dir(id: string): string {
    return join(this.opts.runDir, id);
  }

  /** Runs `work` after every earlier mutation has finished. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Refuses a spec the bridge cannot carry, before anything changes. */
  private validate(id: string, spec: ContainerNetworkSpec): void {
    const bad = (why: string): never => {
      throw new Error(`container "${id}": ${why}`);
    };
    const { address, prefixLength } = spec.ipv4;
    if (!ipv4InSubnet(address, this.subnet) || address === this.gateway) bad(`address "${address}" is not a container address of subnet ${this.subnet.cidr}`);
    if (parseIpv4(address)! === this.subnet.network + 2 ** (32 - this.subnet.prefixLength) - 1 || parseIpv4(address)! === this.subnet.network) bad(`address "${address}" is not a host address`);
    if (prefixLength !== this.subnet.prefixLength) bad(`prefix length ${prefixLength} is not the subnet's (${this.subnet.prefixLength})`);
    if (!spec.group) bad('has no group');
    for (const p of spec.ports) {
      const okPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
      if (!okPort(p.host_port) || !okPort(p.container_port)) bad(`port ${p.host_port}:${p.container_port} is out of range`);
      if (p.protocol !== 'tcp' && p.protocol !== 'udp') bad(`protocol "${String(p.protocol)}" is not tcp or udp`);
      if (p.host_ip !== '' && parseIpv4(p.host_ip) === undefined) bad(`host address "${p.host_ip}" is not IPv4`);
    }
  }

  /**
   * Brings the container's network in line with `spec`; true when something had to change.
   * `deep` also reads the address inside the namespace (reconcile); `keepMissing` makes no
   * namespace for a container whose namespace is gone (a running one keeps its own).
   */
  private async attachNow(id: string, spec: ContainerNetworkSpec, how: { deep: boolean; keepMissing?: boolean; onNamespace?: () => void }, signal?: AbortSignal): Promise<boolean> {
    const before = await this.record(id);
    const fresh = !existsSync(this.netnsPath(id));
    const veth = this.vethName(id);
    // a host process may have bound a published port since it was given to this container: the
    // start is refused rather than its traffic taken over
    if (fresh && !how.keepMissing) await this.assertPortsFree(spec);
    try {
      // recorded first: a crash part-way leaves what detach needs to know
      this.writeRecord(id, { spec });
      let changed = false;
      if (fresh && !how.keepMissing && this.netns.create && this.rtnl) {
        // in-process, no tool started. First what runc needs to create the container: the files, and the
        // namespace with its sysctls, its sysfs and a netlink socket of its own
        await this.writeFiles(id, spec);
        const sysfs = this.files(id).sysfs!;
        mkdirSync(sysfs, { recursive: true, mode: 0o755 });
        // eth0 does not exist yet: it is made in the namespace and takes the namespace's defaults (IPv6 off)
        const inner = await this.netns.create(this.netnsPath(id), INNER_SYSCTLS.filter((x) => !x.includes(`.${INNER_IF}.`)), sysfs, this.rtnl.socketHere);
        try {
          how.onNamespace?.();
          // then, while runc creates the container, the veth and the inside over netlink (eth0 comes up with
          // arp_notify already on) and the table
          await settled([this.plugVeth(id, spec, this.rtnl.host, inner), this.syncElements(spec, before?.spec.ipv4.address, signal)]);
        } finally {
          inner.close();
        }
        return true;
      }
      if (fresh && !how.keepMissing) {
        // the table and the files do not wait for the interfaces: a start waits for the slowest of them only
        const interfaces = async (): Promise<void> => {
          await this.hostBatch(this.vethLines(id, true, spec.ipv4.address), signal);
          // the sysctls first: eth0 comes up with arp_notify on
          await this.innerSysctls(id, signal);
          await settled([this.innerBatch(id, spec, false, signal), this.mountSysfs(id, signal)]);
        };
        await settled([interfaces(), this.syncElements(spec, before?.spec.ipv4.address, signal), this.writeFiles(id, spec)]);
        return true;
      } else if (!fresh) {
        if (!(await this.sysfsMounted(id))) {
          await this.mountSysfs(id, signal);
          changed = true;
        }
        if (!existsSync(`/sys/class/net/${veth}`)) {
          // the veth was removed from under a namespace that is still there: a new pair into it
          await this.hostBatch(this.vethLines(id, false, spec.ipv4.address), signal);
          await this.innerSysctls(id, signal);
          await this.innerBatch(id, spec, false, signal);
          changed = true;
        } else {
          if (masterOf(veth) !== this.opts.bridge || (how.deep && !isUp(veth))) {
            await this.hostBatch(this.enslaveLines(veth), signal);
            changed = true;
          }
          const moved = before !== undefined && before.spec.ipv4.address !== spec.ipv4.address;
          if (moved || (how.deep && !(await this.innerLooksRight(id, spec)))) {
            await this.innerBatch(id, spec, true, signal);
            changed = true;
          }
        }
      }
      if (await this.syncElements(spec, before?.spec.ipv4.address, signal)) changed = true;
      if (await this.writeFiles(id, spec)) changed = true;
      return changed;
    } catch (err) {
      // what this attach made goes; a namespace that was there before (a running container's) stays
      if (fresh) await this.teardown(id).catch((e: unknown) => this.opts.warn?.(`cannot remove the half-made network of container "${id}"`, e));
      throw err;
    }
  }

  /** Deletes the connection-tracking entries to and from `address`; without the conntrack tool, nothing (told once). */
  private async forgetFlows(address: string, signal?: AbortSignal): Promise<void> {
    // both directions at once: each is a process of its own
    await Promise.all(
      ['--reply-src', '--orig-src'].map(async (direction) => {
        try {
          await runTool('conntrack', ['-D', direction, address], { signal });
        } catch (err) {
          // exit status 1 with "0 flow entries": there were none
          if (err instanceof ToolError && /0 flow entries/.test(err.stderr)) return;
          if (!this.conntrackWarned) this.opts.warn?.('cannot delete the connection-tracking entries of a removed container network (is conntrack installed?)', err);
          this.conntrackWarned = true;
        }
      }),
    );
  }

  private async assertPortsFree(spec: ContainerNetworkSpec): Promise<void> {
    const taken = await Promise.all(spec.ports.map(async (p) => ((await isHostPortFree(p.host_port, p.protocol, p.host_ip || '0.0.0.0')) ? undefined : p)));
    const busy = taken.filter((p) => p !== undefined);
    if (busy.length > 0) throw new Error(`host port${busy.length > 1 ? 's' : ''} ${busy.map((p) => `${p.host_ip && p.host_ip !== '0.0.0.0' ? `${p.host_ip}:` : ''}${p.host_port}/${p.protocol}`).join(', ')} in use by a process of the host: stop it, or publish another port`);
  }

  /**
   * The host's part of a new veth: into the container's namespace (made first when `withNetns`),
   * on the bridge, up; and the host forgets the MAC it knew for the address (of a container before).
   */
  private vethLines(id: string, withNetns: boolean, address: string): string[] {
    const veth = this.vethName(id);
    return [
      ...(withNetns ? [`netns add ${this.netnsName(id)}`] : []),
      `link add ${veth} type veth peer name ${INNER_IF} netns ${this.netnsName(id)}`,
      ...this.enslaveLines(veth),
      `neigh flush to ${address} dev ${this.opts.bridge}`,
    ];
  }

  /**
   * Over netlink: the veth made with its peer eth0 directly in the namespace, on the bridge and
   * up, hairpin on, the host's neighbour entry of the address forgotten; inside, lo and eth0 up
   * with the address and the default route (what vethLines and innerLines say to `ip`).
   */
  private async plugVeth(id: string, spec: ContainerNetworkSpec, host: Rtnetlink, inner: Rtnetlink): Promise<void> {
    const veth = this.vethName(id);
    const { address, prefixLength, gateway } = spec.ipv4;
    const bridge = Number(readStatusFileIfAny(`/sys/class/net/${this.opts.bridge}/ifindex`));
    if (!bridge) throw new Error(`the bridge "${this.opts.bridge}" is gone: restart the daemon to make it again`);
    const netns = openSync(this.netnsPath(id), 'r');
    try {
      await host.run(rt.addVeth(veth, bridge, { name: INNER_IF, netnsFd: netns }), rt.upAsPort(veth), rt.deleteNeighbour(bridge, address));
    } finally {
      closeSync(netns);
    }
    writeFileSync(`/sys/class/net/${veth}/brport/hairpin_mode`, '1');
    // eth0's index in the namespace, from the namespace's own sysfs (a new namespace may hold more than
    // lo: with ipip, gre or sit loaded, their fallback devices come first)
    const eth = Number(readStatusFileIfAny(join(this.files(id).sysfs!, 'class', 'net', INNER_IF, 'ifindex')));
    if (!eth) throw new Error(`the container's ${INNER_IF} is not in its namespace`);
    await inner.run(rt.setUp(LOOPBACK_INDEX), rt.addAddress(eth, address, prefixLength), rt.setUp(eth), rt.defaultRoute(gateway));
  }

  private enslaveLines(veth: string): string[] {
    return [`link set ${veth} master ${this.opts.bridge}`, `link set ${veth} type bridge_slave hairpin on`, `link set ${veth} up`];
  }

  private hostBatch(lines: string[], signal?: AbortSignal): Promise<string> {
    return runTool('ip', ['-b', '-'], { input: `${lines.join('\n')}\n`, signal });
  }

  /** lo and eth0 up, the address and the default route, inside the namespace (flushing an old address first when `replace`). */
  private innerBatch(id: string, spec: ContainerNetworkSpec, replace: boolean, signal?: AbortSignal): Promise<string> {
    return runTool('ip', ['-n', this.netnsName(id), '-b', '-'], { input: `${this.innerLines(spec, replace).join('\n')}\n`, signal });
  }

  private innerLines(spec: ContainerNetworkSpec, replace: boolean): string[] {
    const { address, prefixLength, gateway } = spec.ipv4;
    return [
      'link set lo up',
      ...(replace ? [`addr flush dev ${INNER_IF}`] : []),
      `addr add ${address}/${prefixLength} dev ${INNER_IF}`,
      `link set ${INNER_IF} up`,
      `route replace default via ${gateway}`,
    ];
  }

  private innerSysctls(id: string, signal?: AbortSignal): Promise<void> {
    return this.netns.sysctls(this.netnsPath(id), INNER_SYSCTLS, signal);
  }

  /** Mounts a sysfs of the container's namespace (see NetworkFiles.sysfs). */
  private async mountSysfs(id: string, signal?: AbortSignal): Promise<void> {
    const path = this.files(id).sysfs!;
    await mkdir(path, { recursive: true, mode: 0o755 });
    await this.netns.mountSysfs(this.netnsPath(id), path, signal);
  }

  /** Whether the container's sysfs is mounted (its folder on another device than the container's folder). */
  private async sysfsMounted(id: string): Promise<boolean> {
    const [dir, mount] = await Promise.all([stat(this.dir(id)).catch(() => undefined), stat(this.files(id).sysfs!).catch(() => undefined)]);
    return dir !== undefined && mount !== undefined && dir.dev !== mount.dev;
  }

  /** Whether eth0 inside is up with exactly the spec's address. */
  private async innerLooksRight(id: string, spec: ContainerNetworkSpec): Promise<boolean> {
    const out = await runTool('ip', ['-n', this.netnsName(id), '-j', 'addr', 'show', 'dev', INNER_IF]).catch(() => '[]');
    const link = (JSON.parse(out || '[]') as { flags?: string[]; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[])[0];
    if (!link?.flags?.includes('UP')) return false;
    const inet = (link.addr_info ?? []).filter((a) => a.family === 'inet');
    return inet.length === 1 && inet[0]!.local === spec.ipv4.address && inet[0]!.prefixlen === spec.ipv4.prefixLength;
  }

  /**
   * Makes the tables hold exactly the spec's elements for its address (and none for the address
   * it had before); true when something changed. A key another address holds (a leftover of a
   * container that is gone) is taken over.
   */
  private async syncElements(spec: ContainerNetworkSpec, oldAddress: string | undefined, signal?: AbortSignal): Promise<boolean> {
    const address = spec.ipv4.address;
    const plan = (): { add: TableElement[]; remove: TableElement[]; addChains: string[]; removeChains: string[] } => {
      const desired = new Map(containerElements({ address, group: spec.group, ports: spec.ports }).map((e) => [elementId(e), e]));
      const remove: TableElement[] = [];
      for (const [key, e] of this.elements) {
        const mine = ownedBy(e, address) || (oldAddress !== undefined && ownedBy(e, oldAddress));
        const wanted = desired.get(key);
        // one of its own it no longer needs, or a key it needs with another value (whoever held it)
        if (wanted ? wanted.value !== e.value : mine) remove.push(e);
      }
      const add = [...desired.values()].filter((e) => {
        const held = this.elements.get(elementId(e));
        return held === undefined || held.value !== e.value;
      });
      const chain = groupChain(spec.group);
      const addChains = this.chains.has(chain) ? [] : [chain];
      return { add, remove, addChains, removeChains: this.emptiedChains(remove, add) };
    };
    return this.applyChange(plan, signal);
  }

  /** Removes every element the address holds; true when there were some. */
  private removeElementsOf(address: string, signal?: AbortSignal): Promise<boolean> {
    return this.applyChange(() => {
      const remove = [...this.elements.values()].filter((e) => ownedBy(e, address));
      return { add: [], remove, addChains: [], removeChains: this.emptiedChains(remove, []) };
    }, signal);
  }

  /** Group chains no element jumps to once `remove` is gone and `add` is in. */
  private emptiedChains(remove: TableElement[], add: TableElement[]): string[] {
    const gone = new Set(remove.map(elementId));
    const left = [...this.elements.values()].filter((e) => !gone.has(elementId(e)));
    const used = groupChains([...left, ...add]);
    // a chain whose member set still holds addresses stays (a container whose jump went missing gets it back)
    const members = new Set([...left, ...add].map((e) => e.set));
    return [...this.chains].filter((c) => !used.has(c) && !members.has(memberSet(c)));
  }

  /**
   * Applies a planned change in one transaction and updates the model. When the kernel refuses
   * it (the table was changed behind the daemon's back), the model is read again and the change
   * planned and applied once more.
   */
  private async applyChange(plan: () => { add: TableElement[]; remove: TableElement[]; addChains: string[]; removeChains: string[] }, signal?: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const change = plan();
      const script = changeScript(this.opts.table, change);
      if (!script) return false;
      try {
        await this.nft.run(script, { signal });
      } catch (err) {
        if (attempt > 0 || signal?.aborted) throw err;
        await this.readTables();
        // the table itself was deleted: made again with every attached container's elements, and the change planned against that
        if (!this.tablePresent) await this.loadTables({ fromRecords: true });
        continue;
      }
      for (const e of change.remove) this.elements.delete(elementId(e));
      for (const e of change.add) this.elements.set(elementId(e), e);
      for (const c of change.removeChains) {
        this.chains.delete(c);
        // the chain's member set went with it, and its elements
        for (const [key, e] of this.elements) if (e.set === memberSet(c)) this.elements.delete(key);
      }
      for (const c of change.addChains) this.chains.add(c);
      return true;
    }
  }

  /** Writes hosts, resolv.conf and hostname (in place, for the bind mounts of a running container); true when one differed. */
  private async writeFiles(id: string, spec: ContainerNetworkSpec): Promise<boolean> {
    const files = this.files(id);
    const want: [string, string][] = [
      [files.hosts, hostsFile({ address: spec.ipv4.address, hostname: spec.hostname }, spec.hosts)],
      [files.resolv, resolvFile(this.opts.nameservers ?? [])],
      [files.hostname, hostnameFile(spec.hostname)],
    ];
    let changed = false;
    // synchronously (see rewriteInPlace): small files on a tmpfs
    for (const [path, text] of want) {
      if (readStatusFileIfAny(path) === text) continue;
      rewriteInPlace(path, text);
      changed = true;
    }
    return changed;
  }

  /** Removes everything the container has on the host; each step takes "not there" as done. */
  private async teardown(id: string, signal?: AbortSignal): Promise<void> {
    const record = await this.record(id);
    let address = record?.spec.ipv4.address;
    if (!address) address = (await this.addresses(id))[0]?.address;
    // an address another attached container holds now is that container's
    const heldByOther = [...this.records].some(([other, r]) => other !== id && r.spec.ipv4.address === address);
    if (address && !heldByOther) await this.removeElementsOf(address, signal);
    // flows the kernel still tracks for the address (a published UDP port's, say) would carry on
    // to whoever holds it next, accepted as established: they go with the container, while the
    // interfaces go
    await settled([address && !heldByOther ? this.forgetFlows(address, signal) : Promise.resolve(), this.removeInterfaces(id, signal)]);
    this.records.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }

  /** The container's sysfs, veth and namespace. */
  private async removeInterfaces(id: string, signal?: AbortSignal): Promise<void> {
    // the sysfs holds the namespace: it goes first, and before its folder is removed
    if (await this.sysfsMounted(id)) await this.netns.unmount(this.files(id).sysfs!, signal);
    const veth = this.vethName(id);
    if (this.rtnl && this.netns.remove) {
      // in-process: the veth over netlink (its peer goes with it), then what `ip netns del` does: the
      // namespace's bind mount detached and its file removed
      await this.rtnl.host.run(rt.deleteLink(veth));
      await this.netns.remove(this.netnsPath(id));
      return;
    }
    const lines: string[] = [];
    if (existsSync(`/sys/class/net/${veth}`)) lines.push(`link del ${veth}`);
    if (existsSync(this.netnsPath(id))) lines.push(`netns del ${this.netnsName(id)}`);
    if (lines.length > 0) {
      await runTool('ip', ['-force', '-b', '-'], { input: `${lines.join('\n')}\n`, signal }).catch((err: unknown) => {
        // a step that failed because its object went meanwhile is done
        if (existsSync(`/sys/class/net/${veth}`) || existsSync(this.netnsPath(id))) throw err;
      });
    }
  }

  private async reconcileNow(running: ReadonlyMap<string, ContainerNetworkSpec>, signal?: AbortSignal): Promise<NetworkReconcileReport> {
    const report: NetworkReconcileReport = { removed: [], restored: [] };
    await this.readTables();
    if (!this.tablePresent) await this.loadTables();
    const prefix = `${this.opts.bridge}-`;
    const namespaces = (await readdir(NETNS_DIR).catch(() => [] as string[])).filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
    const folders = (await readdir(this.opts.runDir, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => d.name);
    // every namespace and file folder of a container that does not run
    for (const id of new Set([...namespaces, ...folders])) {
      if (running.has(id) || !ID_PATTERN.test(id)) continue;
      await this.teardown(id, signal).catch((err: unknown) => this.opts.warn?.(`cannot remove the network of container "${id}", which does not run`, err));
      report.removed.push(id);
    }
    // elements of addresses no running container has
    const addresses = [...running.values()].map((s) => s.ipv4.address);
    await this.applyChange(() => {
      const remove = [...this.elements.values()].filter((e) => !addresses.some((a) => ownedBy(e, a)));
      return { add: [], remove, addChains: [], removeChains: this.emptiedChains(remove, []) };
    }, signal);
    // veths on the bridge no running container has (their namespace is gone, or was never bind-mounted here)
    const wanted = new Set([...running.keys()].map((id) => this.vethName(id)));
    const ports = JSON.parse((await runTool('ip', ['-j', 'link', 'show', 'master', this.opts.bridge])) || '[]') as { ifname: string }[];
    const stray = ports.map((p) => p.ifname).filter((n) => !wanted.has(n));
    if (stray.length > 0) await this.hostBatch(stray.map((n) => `link del ${n}`), signal).catch((err: unknown) => this.opts.warn?.(`cannot remove veths ${stray.join(', ')}`, err));
    for (const [id, spec] of running) {
      try {
        this.validate(id, spec);
        if (!existsSync(this.netnsPath(id))) this.opts.warn?.(`container "${id}" runs without its network namespace at ${this.netnsPath(id)}: its interfaces come back at its next start`);
        if (await this.attachNow(id, spec, { deep: true, keepMissing: true }, signal)) report.restored.push(id);
      } catch (err) {
        this.opts.warn?.(`cannot restore the network of container "${id}"`, err);
      }
    }
    return report;
  }

  /** Makes the bridge if missing, with the gateway address only, up. */
  private async ensureBridge(addrsJson: string): Promise<void> {
    const { bridge } = this.opts;
    const exists = existsSync(`/sys/class/net/${bridge}`);
    if (exists && !existsSync(`/sys/class/net/${bridge}/bridge`)) throw new Error(`network interface "${bridge}" exists and is not a bridge: choose another HOODY_NETWORK_BRIDGE`);
    const links = JSON.parse(addrsJson || '[]') as { ifname?: string; flags?: string[]; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
    const link = links.find((l) => l.ifname === bridge);
    const inet = (link?.addr_info ?? []).filter((a) => a.family === 'inet');
    const own = inet.length === 1 && inet[0]!.local === this.gateway && inet[0]!.prefixlen === this.subnet.prefixLength;
    const lines: string[] = [];
    // a bridge of the host's own (an uplink, libvirt's, docker's) is never taken over: its
    // addresses would be flushed and its ports removed as strays
    const marked = exists && readFileSync(`/sys/class/net/${bridge}/ifalias`, 'utf8').trim() === BRIDGE_MARK;
    if (exists && !marked) {
      const ports = readdirSync(`/sys/class/net/${bridge}/brif`);
      if (ports.length > 0 || (inet.length > 0 && !own)) {
        throw new Error(`bridge "${bridge}" exists and was not made by hoody (it has ${ports.length > 0 ? `ports ${ports.join(', ')}` : `addresses ${inet.map((a) => a.local).join(', ')}`}): choose another HOODY_NETWORK_BRIDGE`);
      }
    }
    // the bridge's MAC is set, never left to the kernel: an unset one follows the lowest MAC of its
    // ports, so a container's veth leaving could change it, and every other container would send
    // to the old one (their ARP entry of the gateway still fresh) until it aged out: connections
    // from the host (the router's) hung for tens of seconds
    if (!exists) lines.push(`link add ${bridge} address ${bridgeMac(bridge)} type bridge`);
    else if (readFileSync(`/sys/class/net/${bridge}/addr_assign_type`, 'utf8').trim() !== NET_ADDR_SET) lines.push(`link set ${bridge} address ${readFileSync(`/sys/class/net/${bridge}/address`, 'utf8').trim()}`);
    if (!marked) lines.push(`link set ${bridge} alias ${BRIDGE_MARK}`);
    if (!own) lines.push(...(inet.length > 0 ? [`addr flush dev ${bridge}`] : []), `addr add ${this.gateway}/${this.subnet.prefixLength} dev ${bridge}`);
    if (!link?.flags?.includes('UP')) lines.push(`link set ${bridge} up`);
    // traffic bridged between two containers passes the ip forward hook (the isolation of groups), whatever the host-wide setting
    if (!exists || readFileSync(`/sys/class/net/${bridge}/bridge/nf_call_iptables`, 'utf8').trim() !== '1') lines.push(`link set ${bridge} type bridge nf_call_iptables 1`);
    if (lines.length > 0) await this.hostBatch(lines);
  }

  /**
   * Replaces both tables with this version's rules in one transaction, keeping the elements
   * the old ones held (the running containers' ports and groups). Should the old elements not
   * load, the tables are loaded empty: reconcile puts back what running containers need.
   */
  private async loadTables(opts: { fromRecords?: boolean } = {}): Promise<void> {
    await this.readTables();
    // a table deleted behind the daemon's back, found by a change, comes back with what every
    // attached container needs (reconcile puts back what the running ones need itself, and says so)
    if (!this.tablePresent && opts.fromRecords) {
      for (const r of this.records.values()) for (const e of containerElements({ address: r.spec.ipv4.address, group: r.spec.group, ports: r.spec.ports })) this.elements.set(elementId(e), e);
    }
    const cfg = { table: this.opts.table, bridge: this.opts.bridge, subnet: this.subnet.cidr };
    const kept = [...this.elements.values()];
    const chains = groupChains(kept);
    try {
      await this.nft.run(tableScript(cfg, chains, kept));
    } catch (err) {
      if (kept.length === 0) throw err;
      this.opts.warn?.(`cannot keep the ${kept.length} elements of table "${this.opts.table}"; loading it empty`, err);
      await this.nft.run(tableScript(cfg, [], []));
      this.elements.clear();
      this.chains.clear();
      return;
    }
    this.chains.clear();
    for (const c of chains) this.chains.add(c);
  }

  /** Reads the model back from the kernel (no table yet: empty). */
  private async readTables(): Promise<void> {
    const json = await this.nft.run(`list table ip ${this.opts.table}\n`, { json: true }).catch((err: unknown) => {
      if (err instanceof ToolError && /No such file or directory/.test(err.stderr)) return '';
      throw err;
    });
    this.tablePresent = json !== '';
    const listing = json ? parseListing('ip', json) : { elements: [], chains: [] };
    this.elements.clear();
    this.chains.clear();
    for (const e of listing.elements) this.elements.set(elementId(e), e);
    for (const c of listing.chains) this.chains.add(c);
  }

  private async record(id: string): Promise<AttachedRecord | undefined> {
    const known = this.records.get(id);
    if (known) return known;
    try {
      const record = JSON.parse(await readFile(join(this.dir(id), 'network.json'), 'utf8')) as AttachedRecord;
      this.records.set(id, record);
      return record;
    } catch {
      return undefined;
    }
  }

  private writeRecord(id: string, record: AttachedRecord): void {
    // container root passes through (the files are bind-mounted from here) and lists nothing; synchronously, a small file on a tmpfs
    mkdirSync(this.dir(id), { recursive: true, mode: 0o711 });
    writeFileSync(join(this.dir(id), 'network.json'), JSON.stringify(record), { mode: 0o600 });
    this.records.set(id, record);
  }
}

/** Waits for every step (a clean-up must not race one still running), then throws the first failure. */
async function settled(steps: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The bridge a host interface is enslaved to, if any. */
function masterOf(ifname: string): string | undefined {
  try {
    return basename(readlinkSync(`/sys/class/net/${ifname}/master`));
  } catch {
    return undefined;
  }
}

function isUp(ifname: string): boolean {
  try {
    // IFF_UP in the interface's flags
    return (Number.parseInt(readFileSync(`/sys/class/net/${ifname}/flags`, 'utf8'), 16) & 1) === 1;
  } catch {
    return false;
  }
}

function assertId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new Error(`container id "${id}" is not valid`);
}
