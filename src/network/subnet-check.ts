/** Whether the server's subnet collides with the host's own routes and addresses. Pure. */
import { formatIpv4, parseIpv4, parseIpv4Cidr, subnetsOverlap, type Ipv4Subnet } from './ipv4.ts';

interface RouteJson {
  dst?: string;
  dev?: string;
  type?: string;
}

interface LinkJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/**
 * The first route (`ip -j route`) or address (`ip -j addr`) of another interface that overlaps
 * `subnet`, described for an error message; undefined when none does. The bridge's own are not
 * collisions: they are what an earlier start made.
 */
export function subnetCollision(subnet: Ipv4Subnet, bridge: string, routesJson: string, addrsJson: string): string | undefined {
  const routes = parseJsonList<RouteJson>(routesJson);
  for (const r of routes) {
    if (r.dev === bridge || !r.dst || r.dst === 'default') continue;
    const dst = asSubnet(r.dst);
    if (dst && subnetsOverlap(subnet, dst)) return `the route to ${r.dst}${r.dev ? ` on ${r.dev}` : ''}`;
  }
  for (const link of parseJsonList<LinkJson>(addrsJson)) {
    if (link.ifname === bridge) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet' || !a.local || a.prefixlen === undefined) continue;
      const n = parseIpv4(a.local);
      if (n === undefined) continue;
      const mask = a.prefixlen === 0 ? 0 : (0xffffffff << (32 - a.prefixlen)) >>> 0;
      const net = { network: (n & mask) >>> 0, prefixLength: a.prefixlen, cidr: `${formatIpv4((n & mask) >>> 0)}/${a.prefixlen}` };
      if (subnetsOverlap(subnet, net)) return `the address ${a.local}/${a.prefixlen} of ${link.ifname ?? 'an interface'}`;
    }
  }
  return undefined;
}

function asSubnet(dst: string): Ipv4Subnet | undefined {
  if (dst.includes('/')) return parseIpv4Cidr(dst);
  return parseIpv4Cidr(`${dst}/32`);
}

function parseJsonList<T>(text: string): T[] {
  if (!text.trim()) return [];
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? (v as T[]) : [];
}
