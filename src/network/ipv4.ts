/**
 * IPv4 addresses and subnets as plain numbers: parsing, the n-th address of a subnet, and overlap.
 * Shared by the control plane (which allocates addresses) and the host network layer (which
 * checks the subnet against the host's routes and configures the bridge).
 */

export interface Ipv4Subnet {
  /** The network address as a 32-bit unsigned number. */
  network: number;
  prefixLength: number;
  /** The subnet as written back in canonical form (`10.210.0.0/16`). */
  cidr: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** `10.1.2.3` as a number; undefined when it is not a dotted-quad IPv4 address. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** `10.210.0.0/16` parsed; undefined when malformed or when host bits are set. */
export function parseIpv4Cidr(text: string): Ipv4Subnet | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const address = parseIpv4(m[1]!);
  const prefixLength = Number(m[2]);
  if (address === undefined || prefixLength > 32) return undefined;
  if ((address & ~mask(prefixLength)) >>> 0 !== 0) return undefined;
  return { network: address, prefixLength, cidr: `${formatIpv4(address)}/${prefixLength}` };
}

/** How many addresses the subnet spans (network and broadcast included). */
export function subnetSize(s: Ipv4Subnet): number {
  return 2 ** (32 - s.prefixLength);
}

/** The subnet's gateway: its first usable address (the bridge's address). */
export function gatewayOf(s: Ipv4Subnet): string {
  return formatIpv4(s.network + 1);
}

/**
 * The host addresses containers may take, in order: from the second usable address (the first is
 * the gateway) to the last before the broadcast address.
 */
export function containerAddressRange(s: Ipv4Subnet): { first: number; last: number } {
  return { first: s.network + 2, last: s.network + subnetSize(s) - 2 };
}

export function ipv4InSubnet(address: string, s: Ipv4Subnet): boolean {
  const n = parseIpv4(address);
  return n !== undefined && (n & mask(s.prefixLength)) >>> 0 === s.network;
}

/** Whether two subnets share any address. */
export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  const p = Math.min(a.prefixLength, b.prefixLength);
  return (a.network & mask(p)) >>> 0 === (b.network & mask(p)) >>> 0;
}
