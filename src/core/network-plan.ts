/**
 * The pure part of container networking in the control plane: checking the published ports a
 * request asks for, choosing host ports for those that name none, and choosing an address from
 * the server's subnet. No store and no host here: callers pass what is taken and how to probe.
 */
import type { PortProtocol, PublishedPort } from '../network/types.ts';
import { containerAddressRange, formatIpv4, parseIpv4, type Ipv4Subnet } from '../network/ipv4.ts';
import { invalidInput } from './errors.ts';

/** One published port as a request asks for it: only the container port is required. */
export interface PortRequest {
  container_port: number;
  host_port?: number;
  protocol?: PortProtocol;
  host_ip?: string;
}

/** A port request with its defaults filled in; `host_port` is still absent when a free one is to be chosen. */
export interface CheckedPortRequest {
  container_port: number;
  host_port?: number;
  protocol: PortProtocol;
  host_ip: string;
}

/** Where host ports are chosen from when a request names none (inclusive). */
export const HOST_PORT_POOL = { first: 20000, last: 32767 } as const;

/** The host address a published port is reached on when the request names none: every address. */
export const ANY_HOST_IP = '0.0.0.0';

const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;

/**
 * Fills in the defaults (protocol `tcp`, host_ip `0.0.0.0`) and refuses (INVALID_INPUT) a port out
 * of 1..65535, a protocol other than tcp and udp, a host_ip that is not an IPv4 address, the same
 * (protocol, host_port) twice, or the same container port and protocol twice.
 */
export function checkPortRequests(requests: readonly PortRequest[]): CheckedPortRequest[] {
  const checked: CheckedPortRequest[] = [];
  const hostPorts = new Set<string>();
  const containerPorts = new Set<string>();
  requests.forEach((r, i) => {
    const where = `ports[${i}]`;
    if (!isPort(r.container_port)) throw invalidInput(`${where}.container_port must be an integer from 1 to 65535`, { field: `${where}.container_port` });
    if (r.host_port !== undefined && !isPort(r.host_port)) throw invalidInput(`${where}.host_port must be an integer from 1 to 65535`, { field: `${where}.host_port` });
    const protocol = r.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw invalidInput(`${where}.protocol must be tcp or udp`, { field: `${where}.protocol` });
    const hostIp = r.host_ip ?? ANY_HOST_IP;
    const ipNumber = parseIpv4(hostIp);
    if (ipNumber === undefined) throw invalidInput(`${where}.host_ip must be an IPv4 address (0.0.0.0 for every address of the host)`, { field: `${where}.host_ip` });
    const containerKey = `${protocol}/${r.container_port}`;
    if (containerPorts.has(containerKey)) throw invalidInput(`container port ${r.container_port}/${protocol} is published twice`, { field: `${where}.container_port` });
    containerPorts.add(containerKey);
    if (r.host_port !== undefined) {
      const hostKey = `${protocol}/${r.host_port}`;
      if (hostPorts.has(hostKey)) throw invalidInput(`host port ${r.host_port}/${protocol} is asked for twice`, { field: `${where}.host_port` });
      hostPorts.add(hostKey);
    }
    checked.push({ container_port: r.container_port, ...(r.host_port !== undefined ? { host_port: r.host_port } : {}), protocol, host_ip: formatIpv4(ipNumber) });
  });
  return checked;
}

/** Says whether nothing on the host is bound to this port (a bind to it on host_ip succeeds). */
export type HostPortProbe = (port: number, protocol: PortProtocol, hostIp: string) => Promise<boolean>;

/** Why a host port could not be given. */
export type PortChoiceFailure =
  | { kind: 'in-use'; protocol: PortProtocol; host_port: number; held_by: 'container' | 'host' }
  | { kind: 'pool-exhausted'; protocol: PortProtocol };

/**
 * Gives every request a host port. A host port the request names must not be held by another
 * container (`taken`, `protocol/port` keys) nor, unless the container already holds it (`own`),
 * be bound on the host. One it does not name is the first, from `start` and wrapping around the
 * pool, that is neither taken nor given to an earlier request nor bound on the host.
 */
export async function choosePorts(
  requests: readonly CheckedPortRequest[],
  opts: { taken: ReadonlySet<string>; own?: ReadonlySet<string>; probe: HostPortProbe; start?: number; pool?: { first: number; last: number } },
): Promise<{ ok: true; ports: PublishedPort[] } | { ok: false; failure: PortChoiceFailure }> {
  const pool = opts.pool ?? HOST_PORT_POOL;
  const given = new Set<string>();
  const key = (protocol: PortProtocol, port: number): string => `${protocol}/${port}`;
  // the named ports first: a chosen one must not take a port a later request names
  for (const r of requests) if (r.host_port !== undefined) given.add(key(r.protocol, r.host_port));
  const ports: PublishedPort[] = [];
  for (const r of requests) {
    if (r.host_port !== undefined) {
      const k = key(r.protocol, r.host_port);
      if (opts.taken.has(k)) return { ok: false, failure: { kind: 'in-use', protocol: r.protocol, host_port: r.host_port, held_by: 'container' } };
      if (!opts.own?.has(k) && !(await opts.probe(r.host_port, r.protocol, r.host_ip))) {
        return { ok: false, failure: { kind: 'in-use', protocol: r.protocol, host_port: r.host_port, held_by: 'host' } };
      }
      ports.push({ container_port: r.container_port, host_port: r.host_port, protocol: r.protocol, host_ip: r.host_ip });
      continue;
    }
    const size = pool.last - pool.first + 1;
    const start = opts.start === undefined ? 0 : (((opts.start - pool.first) % size) + size) % size;
    let chosen: number | undefined;
    for (let i = 0; i < size && chosen === undefined; i++) {
      const port = pool.first + ((start + i) % size);
      const k = key(r.protocol, port);
      if (opts.taken.has(k) || given.has(k)) continue;
      if (await opts.probe(port, r.protocol, r.host_ip)) chosen = port;
    }
    if (chosen === undefined) return { ok: false, failure: { kind: 'pool-exhausted', protocol: r.protocol } };
    given.add(key(r.protocol, chosen));
    ports.push({ container_port: r.container_port, host_port: chosen, protocol: r.protocol, host_ip: r.host_ip });
  }
  return { ok: true, ports };
}

/** The lowest address of the subnet's container range (the gateway is not in it) that is not taken; undefined when every one is. */
export function chooseAddress(subnet: Ipv4Subnet, taken: ReadonlySet<string>): string | undefined {
  const { first, last } = containerAddressRange(subnet);
  for (let n = first; n <= last; n++) {
    const address = formatIpv4(n);
    if (!taken.has(address)) return address;
  }
  return undefined;
}
