/**
 * Container networking on the host, through NetworkManager and the runc driver, with real
 * containers on a bridge of this test's own (`hnt<random>`, subnet 10.215.<random>.0/24, a table
 * of its own): addresses, a published port on loopback, container to container by address and by
 * name, hairpin, groups isolated, the hosts file rewritten in place, nothing left after an init is
 * killed from outside, and reconcile. Traffic goes only to loopback and to addresses inside
 * namespaces this test made. Needs root, runc, conmon, catatonit, busybox-static, iproute2, nft.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { bridgeMac, NetworkManager } from '../src/network/manager.ts';
import type { ContainerNetworkSpec, HostEntry, PublishedPort } from '../src/network/types.ts';
import { newId, spec, eventually } from './runtime-contract.ts';
import { tcpProbe } from './eventually.ts';

/** The whole suite, with the table and namespace work done in-process or by spawned tools (the fallback). */
function networkSuite(spawnTools: boolean): void {
  const tag = randomBytes(3).toString('hex');
  const bridge = `hnt${tag}`;
  const table = `hnt${tag}`;
  const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
  const net = `10.215.${third}`;
  const gateway = `${net}.1`;
  const runDir = `/run/hoody-${bridge}`;
  const hostPort = 20_000 + (parseInt(tag.slice(2), 16) % 9000);

  function netSpec(n: number, group: string, hostname: string, opts: { ports?: PublishedPort[]; hosts?: HostEntry[] } = {}): ContainerNetworkSpec {
    return { group, ipv4: { address: `${net}.${n}`, prefixLength: 24, gateway }, ports: opts.ports ?? [], hostname, hosts: opts.hosts ?? [] };
  }

  /** Runs a shell command inside a running container's namespaces. */
  function inContainer(pid: number, script: string, timeoutMs = 15_000): { code: number | null; out: string } {
    const r = spawnSync('nsenter', ['-t', String(pid), '-a', '-r', '-w', '--', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }

  /** An HTTP/1.0 GET of `/` with busybox nc inside the container. */
  const httpFrom = (pid: number, host: string, port: number): string => inContainer(pid, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`).out;

  async function httpGet(url: string): Promise<string> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
      return (await res.text()).trim();
    } catch (err) {
      return (err as Error).message;
    }
  }


  /** The elements of this test's tables, as `family set key[: value]` lines. */
  function elements(): string[] {
    const out: string[] = [];
    for (const family of ['ip']) {
      const r = spawnSync('nft', ['-j', 'list', 'table', family, table], { encoding: 'utf8' });
      if (r.status !== 0) continue;
      const doc = JSON.parse(r.stdout) as { nftables: Record<string, { name: string; elem?: unknown[] }>[] };
      for (const item of doc.nftables) for (const kind of ['map', 'set']) for (const e of item[kind]?.elem ?? []) out.push(`${family} ${item[kind]!.name} ${JSON.stringify(e)}`);
    }
    return out;
  }

  const vethsOnBridge = (): string[] => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' }) || '[]') as { ifname: string }[]).map((l) => l.ifname);
  const namespaces = (): string[] => (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => n.startsWith(`${bridge}-`));
  const httpd = (text: string): string[] => ['sh', '-c', `mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www`];

  describe(`container networking on the host (NetworkManager + runc driver, ${spawnTools ? 'nft and nsenter spawned' : 'libnftables and setns in-process'})`, () => {
    let dir = '';
    let network: NetworkManager;
    let driver: RuncDriver;
    const warnings: string[] = [];
    const web = { id: newId(), spec: netSpec(2, 'project-a', 'web', { ports: [{ container_port: 80, host_port: hostPort, protocol: 'tcp', host_ip: '0.0.0.0' }] }) };
    const client = { id: newId(), spec: netSpec(3, 'project-a', 'client', { hosts: [{ name: 'web', address: `${net}.2` }] }) };
    const stranger = { id: newId(), spec: netSpec(4, 'project-b', 'stranger') };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'hoody-net-'));
      network = await NetworkManager.open({ mode: 'bridge', bridge, subnet: `${net}.0/24`, table, nameservers: ['192.0.2.53'], runDir, spawnTools, warn: (m) => warnings.push(m) });
      driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images: new ImageStore(join(dir, 'images')), cgroupPrefix: `hoody-test-${tag}`, network });
    });

    after(async () => {
      for (const s of (await driver?.list()) ?? []) await driver.delete(s.id).catch(() => undefined);
      await driver?.close();
      await driver?.removeCgroupPrefix();
      await network?.close();
      // by this run's own names only
      for (const n of namespaces()) spawnSync('ip', ['netns', 'del', n]);
      spawnSync('ip', ['link', 'del', bridge]);
      spawnSync('nft', ['delete', 'table', 'ip', table]);
      await rm(runDir, { recursive: true, force: true });
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function run(c: { id: string; spec: ContainerNetworkSpec }, command: string[]): Promise<number> {
      await driver.create(spec(c.id, command, { hostname: c.spec.hostname, network: c.spec }));
      const state = await driver.start(c.id);
      assert.ok(state.pid && state.pid > 0);
      return state.pid;
    }

    it('makes the bridge with the gateway address, forwarding and route_localnet on, and refuses an overlapping subnet', async () => {
      const addr = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' })) as { addr_info: { local: string; prefixlen: number }[] }[];
      assert.deepEqual(addr[0]!.addr_info.filter((a) => a.local.includes('.')).map((a) => `${a.local}/${a.prefixlen}`), [`${gateway}/24`]);
      assert.equal(execFileSync('cat', [`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`], { encoding: 'utf8' }).trim(), '1');
      assert.equal(execFileSync('cat', ['/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim(), '1');
      // the same subnet on another bridge name overlaps this one's route
      await assert.rejects(NetworkManager.open({ mode: 'bridge', bridge: `hnx${tag}`, subnet: `${net}.128/25`, table: `hnx${tag}`, runDir: join(dir, 'x') }), new RegExp(`overlaps the route to ${net}.0/24 on ${bridge}`));
      assert.equal(existsSync(`/sys/class/net/hnx${tag}`), false, 'nothing was made for the refused subnet');
    });

    it('reaches a container from the host by its address and through its published port on loopback', async () => {
      await run(web, httpd('hello-web'));
      assert.equal(await eventually('httpd to answer on its address (port 80 bound by container root)', () => httpGet(`http://${net}.2/`), (t) => t === 'hello-web', 15_000), 'hello-web');
      assert.equal(await httpGet(`http://127.0.0.1:${hostPort}/`), 'hello-web');
      assert.deepEqual(await network.addresses(web.id), [{ family: 'ipv4', address: `${net}.2`, prefix_length: 24, gateway }]);
      const stats = await driver.stats(web.id);
      assert.ok(stats.listeningPorts.includes(80), `listening ports ${JSON.stringify(stats.listeningPorts)}`);
    });

    it('lets containers of one group reach each other by address and by name, and a container reach its own published port', async () => {
      const pid = await run(client, ['sleep', '600']);
      assert.match(httpFrom(pid, `${net}.2`, 80), /hello-web/);
      assert.match(httpFrom(pid, 'web', 80), /hello-web/);
      const webPid = (await driver.state(web.id))!.pid!;
      assert.match(httpFrom(webPid, gateway, hostPort), /hello-web/, 'hairpin');
      assert.match(inContainer(pid, 'cat /etc/hostname').out, /^client$/m);
      assert.match(inContainer(pid, 'cat /etc/resolv.conf').out, /^nameserver 192\.0\.2\.53$/m);
      assert.match(inContainer(pid, 'cat /etc/hosts').out, new RegExp(`^${net.replaceAll('.', '\\.')}\\.3\\tclient$`, 'm'));
      assert.match(inContainer(pid, 'ip route 2>/dev/null || route -n').out, new RegExp(gateway.replaceAll('.', '\\.')));
    });

    it('drops traffic between containers of different groups, and keeps the host and published ports reachable for them', async () => {
      const pid = await run(stranger, ['sleep', '600']);
      assert.doesNotMatch(httpFrom(pid, `${net}.2`, 80), /hello-web/);
      // a published port is public: reached through the gateway, as from any other host
      assert.match(httpFrom(pid, gateway, hostPort), /hello-web/);
      assert.match(httpFrom((await driver.state(client.id))!.pid!, `${net}.2`, 80), /hello-web/, 'the same request from the web\'s own group still works');
      assert.equal(inContainer(pid, 'cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6').out.trim(), '1', 'no IPv6 link-local path around the isolation');
    });

    it('keeps the bridge\'s MAC as containers come and go (the gateway every container knows stays true), and pins the MAC of a bridge it takes over', async () => {
      const macOf = (name: string): { mac: string; type: string } => ({ mac: execFileSync('cat', [`/sys/class/net/${name}/address`], { encoding: 'utf8' }).trim(), type: execFileSync('cat', [`/sys/class/net/${name}/addr_assign_type`], { encoding: 'utf8' }).trim() });
      assert.deepEqual(macOf(bridge), { mac: bridgeMac(bridge), type: '3' });
      // a veth with a lower MAC than the bridge's would have become its MAC had it been left to the kernel
      const passers = [5, 6].map((n) => ({ id: newId(), spec: netSpec(n, 'project-a', `passer${n}`) }));
      for (const p of passers) {
        await run(p, ['sleep', '600']);
        assert.equal(macOf(bridge).mac, bridgeMac(bridge));
      }
      for (const p of passers) {
        await driver.delete(p.id);
        assert.equal(macOf(bridge).mac, bridgeMac(bridge));
      }
      // an empty bridge made by someone else, its MAC left to the kernel: taken over with the MAC it has
      const other = `hny${tag}`;
      execFileSync('ip', ['link', 'add', other, 'type', 'bridge']);
      let taken: NetworkManager | undefined;
      try {
        const before = macOf(other);
        assert.equal(before.type, '1');
        taken = await NetworkManager.open({ mode: 'bridge', bridge: other, subnet: `10.216.${third}.0/24`, table: other, runDir: join(dir, 'y') });
        assert.deepEqual(macOf(other), { mac: before.mac, type: '3' });
      } finally {
        await taken?.close();
        spawnSync('ip', ['link', 'del', other]);
        spawnSync('nft', ['delete', 'table', 'ip', other]);
      }
    });

    it('fails closed: a container whose table entries are gone reaches no container of another group', async () => {
      const pid = (await driver.state(stranger.id))!.pid!;
      execFileSync('nft', ['-f', '-'], { input: `delete element ip ${table} groups { ${net}.4 }\ndelete element ip ${table} containers { ${net}.4 }\n` });
      assert.doesNotMatch(httpFrom(pid, `${net}.2`, 80), /hello-web/, 'an unknown source on the bridge is dropped');
      const running = new Map([web, client, stranger].map((c) => [c.id, c.spec]));
      assert.ok((await network.reconcile(running)).restored.includes(stranger.id));
      assert.ok(elements().includes(`ip containers "${net}.4"`), elements().join(', '));
      assert.doesNotMatch(httpFrom(pid, `${net}.2`, 80), /hello-web/, 'and still isolated once restored');
    });

    it('never forwards a packet from outside to 127.0.0.0/8: a port is not reachable through loopback addresses from a neighbour', async () => {
      // a neighbour of the host in a namespace of this test's own, routing 127.0.0.1 at the host
      const lan = `hnl${tag}`;
      const hostEnd = `hnl${tag}h`;
      const lanNet = `10.217.${third}`;
      try {
        execFileSync('ip', ['netns', 'add', lan]);
        execFileSync('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan]);
        execFileSync('ip', ['addr', 'add', `${lanNet}.1/30`, 'dev', hostEnd]);
        execFileSync('ip', ['link', 'set', hostEnd, 'up']);
        execFileSync('ip', ['-n', lan, 'addr', 'add', `${lanNet}.2/30`, 'dev', 'eth0']);
        execFileSync('ip', ['-n', lan, 'link', 'set', 'eth0', 'up']);
        // lo stays down in the neighbour, so its own 127/8 route does not shadow the one through the host
        execFileSync('ip', ['netns', 'exec', lan, 'sysctl', '-q', '-w', 'net.ipv4.conf.eth0.route_localnet=1', 'net.ipv4.conf.all.route_localnet=1']);
        execFileSync('ip', ['-n', lan, 'route', 'add', '127.0.0.1/32', 'via', `${lanNet}.1`, 'dev', 'eth0']);
        // the same neighbour reaches the published port on the host's own address of that link: routing works
        const viaHost = spawnSync('ip', ['netns', 'exec', lan, 'curl', '-s', '-m', '3', `http://${lanNet}.1:${hostPort}/`], { encoding: 'utf8' });
        assert.equal(viaHost.stdout.trim(), 'hello-web', `through the host's address: ${viaHost.stderr}`);
        const viaLoopback = spawnSync('ip', ['netns', 'exec', lan, 'curl', '-s', '-m', '3', `http://127.0.0.1:${hostPort}/`], { encoding: 'utf8' });
        assert.notEqual(viaLoopback.stdout.trim(), 'hello-web', 'through 127.0.0.1 from outside');
      } finally {
        spawnSync('ip', ['link', 'del', hostEnd]);
        spawnSync('ip', ['netns', 'del', lan]);
      }
    });

    it('refuses to start a container whose published port a host process has bound since, and leaves nothing of it', async () => {
      const { createServer } = await import('node:net');
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      const squatter = { id: newId(), spec: netSpec(7, 'project-a', 'squatter', { ports: [{ container_port: 80, host_port: port, protocol: 'tcp', host_ip: '0.0.0.0' }] }) };
      try {
        await driver.create(spec(squatter.id, ['sleep', '600'], { hostname: 'squatter', network: squatter.spec }));
        await assert.rejects(driver.start(squatter.id), new RegExp(`${port}/tcp in use by a process of the host`));
        assert.equal(existsSync(network.netnsPath(squatter.id)), false);
        assert.ok(!elements().some((e) => e.includes(`${net}.7`)), elements().join(', '));
      } finally {
        server.close();
        await driver.delete(squatter.id).catch(() => undefined);
      }
    });

    it('refuses a bridge of the host\'s own (one with ports), and leaves it as it was', async () => {
      const foreign = `hnf${tag}`;
      const port = `hnp${tag}`;
      try {
        execFileSync('ip', ['link', 'add', foreign, 'type', 'bridge']);
        execFileSync('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', `hnq${tag}`]);
        execFileSync('ip', ['link', 'set', port, 'master', foreign]);
        await assert.rejects(NetworkManager.open({ mode: 'bridge', bridge: foreign, subnet: `10.218.${third}.0/24`, table: foreign, runDir: join(dir, 'f') }), /was not made by hoody/);
        assert.deepEqual(readdirSync(`/sys/class/net/${foreign}/brif`), [port]);
        assert.equal(spawnSync('nft', ['list', 'table', 'ip', foreign]).status, 1, 'no table was made for it');
      } finally {
        spawnSync('ip', ['link', 'del', port]);
        spawnSync('ip', ['link', 'del', foreign]);
      }
    });

    it('rewrites the hosts file in place, so a running container sees the change', async () => {
      const pid = (await driver.state(client.id))!.pid!;
      const before = await stat(network.files(client.id).hosts);
      await network.updateHosts(client.id, [
        { name: 'web', address: `${net}.2` },
        { name: 'web-two', address: `${net}.2` },
      ]);
      assert.equal((await stat(network.files(client.id).hosts)).ino, before.ino);
      assert.match(inContainer(pid, 'cat /etc/hosts').out, /\tweb-two$/m);
      assert.match(httpFrom(pid, 'web-two', 80), /hello-web/);
    });

    it('brings an attached container in line with a changed spec (a port moved)', async () => {
      const moved = { ...web.spec, ports: [{ container_port: 80, host_port: hostPort + 1, protocol: 'tcp' as const, host_ip: '127.0.0.1' }] };
      await network.attach(web.id, moved);
      assert.equal(await httpGet(`http://127.0.0.1:${hostPort + 1}/`), 'hello-web');
      assert.notEqual(await tcpProbe('127.0.0.1', hostPort, 1500), 'open');
      await network.attach(web.id, web.spec);
      assert.equal(await httpGet(`http://127.0.0.1:${hostPort}/`), 'hello-web');
      assert.ok(!elements().some((e) => e.includes(String(hostPort + 1))), 'the old element went');
    });

    it('leaves no veth, namespace, element or file when a container\'s init is killed from outside', async () => {
      const pid = (await driver.state(web.id))!.pid!;
      const veth = network.vethName(web.id);
      process.kill(pid, 'SIGKILL');
      await eventually(
        'the killed container to hold nothing on the host',
        async () => ({
          veth: vethsOnBridge().includes(veth),
          netns: existsSync(network.netnsPath(web.id)),
          elements: elements().filter((e) => e.includes(`"${net}.2"`)).length,
          files: existsSync(network.files(web.id).hosts),
        }),
        (v) => !v.veth && !v.netns && v.elements === 0 && !v.files,
        15_000,
      );
      assert.notEqual(await tcpProbe('127.0.0.1', hostPort, 1500), 'open');
      assert.deepEqual(vethsOnBridge().sort(), [network.vethName(client.id), network.vethName(stranger.id)].sort());
    });

    it('reconcile removes what no running container owns and restores what a running one lost', async () => {
      // a leftover namespace and file folder, a stray veth on the bridge, and an element removed behind the daemon's back
      const ghost = newId();
      execFileSync('ip', ['netns', 'add', `${bridge}-${ghost}`]);
      await mkdir(join(runDir, ghost), { recursive: true });
      execFileSync('ip', ['link', 'add', `hns${tag}`, 'type', 'veth', 'peer', 'name', `hnp${tag}`]);
      execFileSync('ip', ['link', 'set', `hns${tag}`, 'master', bridge]);
      execFileSync('nft', ['delete', 'element', 'ip', table, 'containers', `{ ${net}.3 }`]);
      const report = await network.reconcile(
        new Map([
          [client.id, client.spec],
          [stranger.id, stranger.spec],
        ]),
      );
      assert.deepEqual(report.removed, [ghost]);
      assert.deepEqual(report.restored, [client.id]);
      assert.deepEqual(namespaces().sort(), [`${bridge}-${client.id}`, `${bridge}-${stranger.id}`].sort());
      assert.equal(existsSync(join(runDir, ghost)), false);
      assert.equal(existsSync(`/sys/class/net/hns${tag}`), false, 'the stray veth went');
      assert.ok(elements().some((e) => e === `ip containers "${net}.3"`), `restored: ${elements().join(', ')}`);
      // isolated again: the stranger's packets to it are dropped (a refusal would mean they got through)
      const probe = inContainer((await driver.state(stranger.id))!.pid!, `nc -w 2 ${net}.3 1 </dev/null; echo rc=$?`).out;
      assert.doesNotMatch(probe, /refused/i, probe);
      assert.equal(await tcpProbe(`${net}.3`, 1, 2000), 'ECONNREFUSED', 'the host still reaches it');
    });

    it('reconcile puts back a veth deleted under a running container, in the namespace it runs in', async () => {
      const pid = (await driver.state(client.id))!.pid!;
      execFileSync('ip', ['link', 'del', network.vethName(client.id)]);
      const report = await network.reconcile(
        new Map([
          [client.id, client.spec],
          [stranger.id, stranger.spec],
        ]),
      );
      assert.deepEqual(report.restored, [client.id]);
      assert.match(inContainer(pid, 'ip addr show eth0 2>/dev/null || ifconfig eth0').out, new RegExp(`${net.replaceAll('.', '\\.')}\\.3`));
      assert.equal(await eventually('the host to reach the container again', () => tcpProbe(`${net}.3`, 1, 2000), (r) => r === 'ECONNREFUSED', 10_000), 'ECONNREFUSED');
    });

    it('reconcile makes the table again when it was deleted, with the running containers\' elements', async () => {
      execFileSync('nft', ['delete', 'table', 'ip', table]);
      const report = await network.reconcile(
        new Map([
          [client.id, client.spec],
          [stranger.id, stranger.spec],
        ]),
      );
      assert.deepEqual(report.restored.sort(), [client.id, stranger.id].sort());
      assert.ok(elements().includes(`ip containers "${net}.3"`), elements().join(', '));
      assert.ok(elements().includes(`ip containers "${net}.4"`), elements().join(', '));
      // deleted again, and found by a change of one container: the others' elements come back with it
      execFileSync('nft', ['delete', 'table', 'ip', table]);
      await network.attach(client.id, { ...client.spec, ports: [{ container_port: 81, host_port: hostPort + 1, protocol: 'tcp', host_ip: '0.0.0.0' }] });
      assert.ok(elements().includes(`ip containers "${net}.4"`), elements().join(', '));
      assert.ok(elements().some((e) => e.includes('tcp_ports') && e.includes(String(hostPort + 1))), elements().join(', '));
    });

    it('deleting the containers leaves only the bridge and the tables, and reconcile with no container removes a leftover', async () => {
      await driver.delete(client.id);
      await driver.delete(stranger.id);
      await driver.delete(web.id);
      assert.deepEqual(namespaces(), []);
      assert.deepEqual(vethsOnBridge(), []);
      assert.deepEqual(elements(), []);
      assert.deepEqual(readdirSync(runDir), []);
      const ghost = newId();
      execFileSync('ip', ['netns', 'add', `${bridge}-${ghost}`]);
      const report = await network.reconcile(new Map());
      assert.deepEqual(report, { removed: [ghost], restored: [] });
      assert.deepEqual(namespaces(), []);
      assert.ok(existsSync(`/sys/class/net/${bridge}`), 'the bridge stays');
    });

    it('a container without a network keeps its own namespace with loopback only', async () => {
      const id = newId();
      await driver.create(spec(id, ['sleep', '600']));
      const { pid } = await driver.start(id);
      assert.deepEqual(inContainer(pid!, 'ls /sys/class/net').out.trim().split(/\s+/), ['lo']);
      assert.equal(existsSync(network.netnsPath(id)), false);
      await driver.delete(id);
    });

    it('a half-made attach removes what it made', async () => {
      const id = newId();
      // a group of the right shape, an address taken by nobody, but a gateway inside the namespace that is not on its subnet: the route fails
      const bad = { ...netSpec(9, 'project-c', 'bad'), ipv4: { address: `${net}.9`, prefixLength: 24, gateway: '192.0.2.1' } };
      await assert.rejects(network.attach(id, bad));
      assert.equal(existsSync(network.netnsPath(id)), false);
      assert.equal(vethsOnBridge().includes(network.vethName(id)), false);
      assert.equal(existsSync(join(runDir, id)), false);
      assert.deepEqual(elements(), []);
      assert.deepEqual(warnings.filter((w) => w.includes(id)), []);
    });

    it('a start whose network fails once its namespace is made (runc creating the container meanwhile) fails with that error, runs nothing and leaves nothing', async () => {
      // the namespace and the files are made (runc creates the container in them), then the route fails
      const c = { id: newId(), spec: { ...netSpec(10, 'project-c', 'late'), ipv4: { address: `${net}.10`, prefixLength: 24, gateway: '192.0.2.1' } } };
      await driver.create(spec(c.id, ['sleep', '600'], { hostname: 'late', network: c.spec }));
      await assert.rejects(driver.start(c.id), /network/);
      assert.equal((await driver.state(c.id))?.status, 'created', 'runc holds no container for it');
      assert.equal(existsSync(network.netnsPath(c.id)), false);
      assert.equal(vethsOnBridge().includes(network.vethName(c.id)), false);
      assert.equal(elements().some((e) => e.includes(`${net}.10`)), false);
      // and made again with a network that works, it starts
      await driver.delete(c.id);
      await run({ id: c.id, spec: netSpec(10, 'project-c', 'late') }, ['sleep', '600']);
      assert.equal(await eventually('its address inside', () => network.addresses(c.id), (a) => a.length === 1, 10_000).then((a) => a[0]!.address), `${net}.10`);
      await driver.delete(c.id);
    });
  });
}

networkSuite(false);
networkSuite(true);
