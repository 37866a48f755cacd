/**
 * The daemon's own nftables table, `table ip <name>`, as scripts for one `nft -f` each (one
 * kernel transaction):
 *
 * - published ports: maps from host port (or host address and port) to the container's address
 *   and port; DNAT in prerouting and output for local destinations;
 * - masquerade of containers' outbound traffic, and of loopback-sourced and hairpin traffic
 *   DNAT'ed back out of the bridge;
 * - isolation of groups in the forward hook: each container's address maps to a jump to its
 *   group's chain, which drops new traffic to a container outside the group. Traffic bridged
 *   between two containers passes this hook through br_netfilter (which the manager turns on
 *   for its bridge); replies and traffic to a published port (DNAT'ed) are accepted first.
 *
 * Elements are kept as nft text (`28500`, `10.1.0.2 . 80`, `jump g_1a2b`) so that what the kernel
 * lists and what the daemon adds compare as strings. Pure: no process is run here.
 */
import { createHash } from 'node:crypto';
import type { PublishedPort } from './types.ts';

/** Every element lives in the ip family table; the family is kept so a listing names it. */
export type TableFamily = 'ip';

/** One element of one of the daemon's sets or maps. */
export interface TableElement {
  family: TableFamily;
  /** The set or map it belongs to. */
  set: string;
  key: string;
  /** A map element's value; absent for a set element. */
  value?: string;
}

/** The table's names and the values its fixed rules are written with. */
export interface TableConfig {
  table: string;
  bridge: string;
  /** The containers' subnet, CIDR. */
  subnet: string;
}

/** What a container contributes to the tables. */
export interface ContainerEntries {
  address: string;
  group: string;
  ports: readonly PublishedPort[];
}

const PORT_MAPS = ['tcp_ports', 'udp_ports', 'tcp_addr_ports', 'udp_addr_ports'] as const;
const GROUP_PREFIX = 'g_';
const MEMBER_PREFIX = 'm_';

/** The chain of a group (`g_<hash>`); its member set is `m_<hash>`. */
export function groupChain(group: string): string {
  return `${GROUP_PREFIX}${createHash('sha256').update(group).digest('hex').slice(0, 16)}`;
}

export const memberSet = (chain: string): string => `${MEMBER_PREFIX}${chain.slice(GROUP_PREFIX.length)}`;

/** An element's identity: the same key in the same set is the same element, whatever its value. */
export const elementId = (e: TableElement): string => `${e.family} ${e.set} ${e.key}`;

/** The elements a container needs. */
export function containerElements({ address, group, ports }: ContainerEntries): TableElement[] {
  const chain = groupChain(group);
  const out: TableElement[] = [
    { family: 'ip', set: 'containers', key: address },
    { family: 'ip', set: memberSet(chain), key: address },
    { family: 'ip', set: 'groups', key: address, value: `jump ${chain}` },
  ];
  for (const p of ports) {
    const any = p.host_ip === '0.0.0.0' || p.host_ip === '';
    out.push({
      family: 'ip',
      set: `${p.protocol}_${any ? '' : 'addr_'}ports`,
      key: any ? String(p.host_port) : `${p.host_ip} . ${p.host_port}`,
      value: `${address} . ${p.container_port}`,
    });
  }
  return out;
}

/** Whether the element is there for the container at `address`. */
export function ownedBy(e: TableElement, address: string): boolean {
  if (e.set === 'containers' || e.set === 'groups' || e.set.startsWith(MEMBER_PREFIX)) return e.key === address;
  return e.value !== undefined && e.value.split(' . ')[0] === address;
}

/** The group chains (`g_…`) the elements jump to. */
export function groupChains(elements: Iterable<TableElement>): Set<string> {
  const out = new Set<string>();
  for (const e of elements) if (e.set === 'groups' && e.value?.startsWith('jump ')) out.add(e.value.slice(5));
  return out;
}

/** The fixed part of the table, with `chains` group chains and `elements`, replacing whatever was there. */
export function tableScript(cfg: TableConfig, chains: Iterable<string>, elements: Iterable<TableElement>): string {
  const { table, bridge, subnet } = cfg;
  const dnat = [
    `    fib daddr type local dnat ip addr . port to ip daddr . tcp dport map @tcp_addr_ports`,
    `    fib daddr type local dnat ip addr . port to ip daddr . udp dport map @udp_addr_ports`,
    `    fib daddr type local dnat ip addr . port to tcp dport map @tcp_ports`,
    `    fib daddr type local dnat ip addr . port to udp dport map @udp_ports`,
  ];
  // a packet from outside to 127.0.0.0/8 (a neighbour routing loopback addresses at this host) is
  // never forwarded to a container: loopback-only ports stay loopback-only, the kernel drops it
  const outsideLoopback = `    ip daddr 127.0.0.0/8 return`;
  const lines = [
    // add + delete: the table goes whether or not it was there, in the same transaction as the new one
    `add table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    `  map tcp_ports { type inet_service : ipv4_addr . inet_service; }`,
    `  map udp_ports { type inet_service : ipv4_addr . inet_service; }`,
    `  map tcp_addr_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }`,
    `  map udp_addr_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }`,
    `  set containers { type ipv4_addr; }`,
    `  map groups { type ipv4_addr : verdict; }`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    outsideLoopback,
    ...dnat,
    `  }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    ...dnat,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${subnet} ip daddr != ${subnet} oifname != "${bridge}" masquerade`,
    `    oifname "${bridge}" ct status dnat ip saddr 127.0.0.0/8 masquerade`,
    `    oifname "${bridge}" ct status dnat ip saddr ${subnet} masquerade`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    ct state established,related accept`,
    // a published port is public: reached through the host, from any group
    `    ct status dnat accept`,
    `    ip saddr vmap @groups`,
    // fails closed: between two ports of the bridge, only what a group chain accepted passes
    // (a container the table does not know, or an address no container has, reaches no one)
    `    iifname "${bridge}" oifname "${bridge}" drop`,
    `  }`,
    `}`,
  ];
  for (const chain of chains) lines.push(...groupLines(table, chain));
  lines.push(...elementLines('add', table, elements));
  return `${lines.join('\n')}\n`;
}

function groupLines(table: string, chain: string): string[] {
  return [
    `add set ip ${table} ${memberSet(chain)} { type ipv4_addr; }`,
    `add chain ip ${table} ${chain}`,
    `add rule ip ${table} ${chain} ip daddr @${memberSet(chain)} accept`,
    `add rule ip ${table} ${chain} ip daddr @containers drop`,
  ];
}

function elementLines(op: 'add' | 'delete', table: string, elements: Iterable<TableElement>): string[] {
  const lines: string[] = [];
  for (const e of elements) {
    const body = op === 'delete' || e.value === undefined ? e.key : `${e.key} : ${e.value}`;
    lines.push(`${op} element ${e.family} ${table} ${e.set} { ${body} }`);
  }
  return lines;
}

/** A change of elements and group chains, as one script; empty when there is nothing to do. */
export function changeScript(
  table: string,
  change: { addChains?: Iterable<string>; add?: Iterable<TableElement>; remove?: Iterable<TableElement>; removeChains?: Iterable<string> },
): string {
  const lines: string[] = [];
  // removals first: a key that changes its value is removed and added again
  lines.push(...elementLines('delete', table, change.remove ?? []));
  for (const chain of change.removeChains ?? []) lines.push(`delete chain ip ${table} ${chain}`, `delete set ip ${table} ${memberSet(chain)}`);
  for (const chain of change.addChains ?? []) lines.push(...groupLines(table, chain));
  lines.push(...elementLines('add', table, change.add ?? []));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** What `nft -j list table <family> <table>` says, as the elements of the daemon's sets and maps and its group chains. */
export function parseListing(family: TableFamily, json: string): { elements: TableElement[]; chains: string[] } {
  const doc = JSON.parse(json) as { nftables?: Record<string, { name?: string; elem?: unknown[] }>[] };
  const elements: TableElement[] = [];
  const chains: string[] = [];
  for (const item of doc.nftables ?? []) {
    if (item.chain?.name?.startsWith(GROUP_PREFIX)) chains.push(item.chain.name);
    const set = item.set ?? item.map;
    if (!set?.name || !known(set.name)) continue;
    for (const elem of set.elem ?? []) {
      if (item.map && Array.isArray(elem)) elements.push({ family, set: set.name, key: nftText(elem[0]), value: nftText(elem[1]) });
      else elements.push({ family, set: set.name, key: nftText(elem) });
    }
  }
  return { elements, chains };
}

function known(set: string): boolean {
  return (PORT_MAPS as readonly string[]).includes(set) || set === 'containers' || set === 'groups' || set.startsWith(MEMBER_PREFIX);
}

/** nft's JSON for a key or value, written as nft text. */
function nftText(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (v && typeof v === 'object') {
    const o = v as { concat?: unknown[]; jump?: { target: string }; goto?: { target: string }; elem?: { val: unknown } };
    if (o.concat) return o.concat.map(nftText).join(' . ');
    if (o.jump) return `jump ${o.jump.target}`;
    if (o.goto) return `goto ${o.goto.target}`;
    if (o.elem) return nftText(o.elem.val);
  }
  return JSON.stringify(v);
}
