/**
 * The server's network settings from `HOODY_NETWORK*`: the mode, the bridge's name, its subnet,
 * the nftables table the daemon owns and the name servers containers are given.
 */
import { readFileSync } from 'node:fs';
import { parseIpv4, parseIpv4Cidr } from './ipv4.ts';
import type { NetworkMode, NetworkSettings } from './types.ts';

export const DEFAULT_BRIDGE = 'hoody0';
export const DEFAULT_SUBNET = '10.210.0.0/16';
/** A Linux interface name: at most 15 bytes, and characters nft and iproute2 take unquoted. */
const INTERFACE_NAME = /^[a-zA-Z0-9_.-]{1,15}$/;
/** An nftables table name the daemon writes unquoted into its scripts. */
const TABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$/;
const MIN_PREFIX = 8;
const MAX_PREFIX = 30;

/**
 * Reads the settings; throws an Error naming the variable when a value is not usable.
 * `readFile` reads the host's resolv.conf (for the default name servers).
 */
export function networkSettingsFromEnv(env: NodeJS.ProcessEnv, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): NetworkSettings {
  const mode = (env.HOODY_NETWORK ?? 'bridge').trim() || 'bridge';
  if (mode !== 'bridge' && mode !== 'none') throw new Error(`HOODY_NETWORK must be "bridge" or "none", not "${mode}"`);
  const bridge = (env.HOODY_NETWORK_BRIDGE ?? '').trim() || DEFAULT_BRIDGE;
  if (!INTERFACE_NAME.test(bridge) || bridge === '.' || bridge === '..') {
    throw new Error(`HOODY_NETWORK_BRIDGE "${bridge}" is not an interface name: 1 to 15 characters of a-z, A-Z, 0-9, "_", "." and "-"`);
  }
  const subnetText = (env.HOODY_NETWORK_SUBNET ?? '').trim() || DEFAULT_SUBNET;
  const subnet = parseIpv4Cidr(subnetText);
  if (!subnet) throw new Error(`HOODY_NETWORK_SUBNET "${subnetText}" is not an IPv4 subnet such as ${DEFAULT_SUBNET} (no host bits set)`);
  if (subnet.prefixLength < MIN_PREFIX || subnet.prefixLength > MAX_PREFIX) {
    throw new Error(`HOODY_NETWORK_SUBNET "${subnetText}": the prefix length must be between ${MIN_PREFIX} and ${MAX_PREFIX}`);
  }
  const table = (env.HOODY_NETWORK_TABLE ?? '').trim() || bridge;
  if (!TABLE_NAME.test(table)) throw new Error(`HOODY_NETWORK_TABLE "${table}" is not a table name: a letter, then up to 63 of a-z, A-Z, 0-9, "_", "." and "-"`);
  return { mode: mode as NetworkMode, bridge, subnet: subnet.cidr, table, nameservers: nameservers(env.HOODY_NETWORK_NAMESERVERS, readFile) };
}

/** The list given (empty when set to ''), or the host's resolv.conf name servers without loopback ones. */
function nameservers(value: string | undefined, readFile: (path: string) => string): string[] {
  if (value !== undefined) {
    const list = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const ns of list) if (parseIpv4(ns) === undefined) throw new Error(`HOODY_NETWORK_NAMESERVERS: "${ns}" is not an IPv4 address`);
    return list;
  }
  let text = '';
  try {
    text = readFile('/etc/resolv.conf');
  } catch {
    return [];
  }
  return hostNameservers(text);
}

/** The IPv4 name servers of a resolv.conf, without loopback ones (a container's loopback is its own). */
export function hostNameservers(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const n = m ? parseIpv4(m[1]!) : undefined;
    if (n === undefined || n >>> 24 === 127) continue;
    if (!out.includes(m![1]!)) out.push(m![1]!);
  }
  return out;
}
