/**
 * Several "servers" on one machine: a network namespace per server on a bridge of this test's own,
 * so daemons reach each other by address, not over loopback. Nothing is routed out of the rig (the
 * namespaces have no default route). PostgreSQL, on the host's loopback, is reached from the
 * namespaces through a TCP relay on the bridge's address. Everything is named after `prefix` and
 * removed by those names and by pid.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface RigHost {
  name: string;
  /** Its network namespace, under /run/netns. */
  ns: string;
  ip: string;
  /** Runs a program in its namespace (nsenter execs it: the child's pid is the program's). */
  wrap: string[];
}

export interface Rig {
  gateway: string;
  hosts: RigHost[];
  /** A relay on the gateway address to `target` (PostgreSQL on loopback): its port. */
  relay(targetHost: string, targetPort: number): Promise<number>;
  /** Process ids in a host's namespace (its daemon, conmon, the daemon's children). */
  pidsIn(host: RigHost): number[];
  destroy(): Promise<void>;
}

const ip = (args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Makes the bridge `${prefix}br` with `${net}.1/24`, and `count` namespaces `${prefix}-h<i>` at `${net}.1<i>`. */
export function createRig(prefix: string, net: string, count: number): Rig {
  const bridge = `${prefix}br`;
  const routes = execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' });
  if (routes.includes(`${net}.0/24`)) throw new Error(`${net}.0/24 is routed already: another rig or network uses it`);
  const hosts: RigHost[] = [];
  const relays: Server[] = [];
  const sockets = new Set<Socket>();
  const destroy = async (): Promise<void> => {
    for (const r of relays) r.close();
    for (const s of sockets) s.destroy();
    // veths first: deleting a namespace first finishes later, and its veth with it
    for (let i = 1; i <= count; i++) spawnSync('ip', ['link', 'del', `${prefix}v${i}`]);
    for (const h of hosts) spawnSync('ip', ['netns', 'del', h.ns]);
    spawnSync('ip', ['link', 'del', bridge]);
  };
  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${net}.1/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    for (let i = 1; i <= count; i++) {
      const ns = `${prefix}-h${i}`;
      const host = { name: `h${i}`, ns, ip: `${net}.${10 + i}`, wrap: ['nsenter', `--net=/run/netns/${ns}`, '--'] };
      ip(['netns', 'add', ns]);
      hosts.push(host);
      ip(['link', 'add', `${prefix}v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['link', 'set', `${prefix}v${i}`, 'master', bridge, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (err) {
    void destroy();
    throw err;
  }
  return {
    gateway: `${net}.1`,
    hosts,
    relay: (targetHost, targetPort) =>
      new Promise((resolve, reject) => {
        const server = createServer((client) => {
          const upstream = connect(targetPort, targetHost);
          sockets.add(client).add(upstream);
          const end = (): void => {
            client.destroy();
            upstream.destroy();
            sockets.delete(client);
            sockets.delete(upstream);
          };
          client.on('error', end).on('close', end);
          upstream.on('error', end).on('close', end);
          client.pipe(upstream);
          upstream.pipe(client);
        });
        relays.push(server);
        server.once('error', reject);
        server.listen(0, `${net}.1`, () => resolve((server.address() as { port: number }).port));
      }),
    pidsIn: (host) =>
      execFileSync('ip', ['netns', 'pids', host.ns], { encoding: 'utf8' })
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    destroy,
  };
}
