import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { changeScript, containerElements, elementId, groupChain, groupChains, ownedBy, parseListing, tableScript } from './nft-table.ts';

const ports = [
  { container_port: 80, host_port: 28500, protocol: 'tcp' as const, host_ip: '0.0.0.0' },
  { container_port: 53, host_port: 28501, protocol: 'udp' as const, host_ip: '127.0.0.1' },
];

describe('nftables table scripts', () => {
  it('gives a container its group membership and one map element per published port', () => {
    const chain = groupChain('project-a');
    assert.match(chain, /^g_[0-9a-f]{16}$/);
    assert.notEqual(groupChain('project-b'), chain);
    const els = containerElements({ address: '10.1.0.2', group: 'project-a', ports });
    assert.deepEqual(
      els.map((e) => `${elementId(e)}${e.value === undefined ? '' : ` : ${e.value}`}`),
      [
        'ip containers 10.1.0.2',
        `ip m_${chain.slice(2)} 10.1.0.2`,
        `ip groups 10.1.0.2 : jump ${chain}`,
        'ip tcp_ports 28500 : 10.1.0.2 . 80',
        'ip udp_addr_ports 127.0.0.1 . 28501 : 10.1.0.2 . 53',
      ],
    );
    assert.ok(els.every((e) => ownedBy(e, '10.1.0.2')));
    assert.ok(!els.some((e) => ownedBy(e, '10.1.0.20')));
    assert.deepEqual([...groupChains(els)], [chain]);
  });

  it('replaces the table in one script: masquerade, DNAT for local destinations, isolation after replies and DNAT', () => {
    const chain = groupChain('p');
    const script = tableScript({ table: 'hoody0', bridge: 'hoody0', subnet: '10.210.0.0/16' }, [chain], containerElements({ address: '10.210.0.2', group: 'p', ports }));
    const lines = script.split('\n');
    assert.deepEqual(lines.slice(0, 2), ['add table ip hoody0', 'delete table ip hoody0']);
    assert.ok(lines.includes('    ip saddr 10.210.0.0/16 ip daddr != 10.210.0.0/16 oifname != "hoody0" masquerade'));
    assert.ok(lines.includes('    oifname "hoody0" ct status dnat ip saddr 127.0.0.0/8 masquerade'));
    assert.equal(lines.filter((l) => l.includes('fib daddr type local dnat')).length, 8, 'tcp and udp, by port and by address, in prerouting and output');
    const forward = lines.indexOf('  chain forward {');
    assert.deepEqual(lines.slice(forward + 2, forward + 6), ['    ct state established,related accept', '    ct status dnat accept', '    ip saddr vmap @groups', '    iifname "hoody0" oifname "hoody0" drop']);
    // within the group accepted, to any other container dropped; what no group chain accepted between two bridge ports is dropped above
    const accept = lines.indexOf(`add rule ip hoody0 ${chain} ip daddr @m_${chain.slice(2)} accept`);
    assert.ok(accept > 0 && lines[accept + 1] === `add rule ip hoody0 ${chain} ip daddr @containers drop`);
    // loopback destinations from outside are never translated, before any DNAT
    const prerouting = lines.indexOf('  chain prerouting {');
    assert.equal(lines[prerouting + 2], '    ip daddr 127.0.0.0/8 return');
    // the group's set and chain come before the elements that name them
    assert.ok(lines.findIndex((l) => l.startsWith(`add chain ip hoody0 ${chain}`)) < lines.findIndex((l) => l.includes('jump')));
  });

  it('removes before it adds, so a key that changes its value is replaced in the same transaction', () => {
    const [old] = containerElements({ address: '10.1.0.3', group: 'g', ports: [ports[0]!] }).slice(3);
    const [now] = containerElements({ address: '10.1.0.2', group: 'g', ports: [ports[0]!] }).slice(3);
    assert.equal(
      changeScript('t', { remove: [old!], add: [now!], removeChains: ['g_1'] }),
      'delete element ip t tcp_ports { 28500 }\ndelete chain ip t g_1\ndelete set ip t m_1\nadd element ip t tcp_ports { 28500 : 10.1.0.2 . 80 }\n',
    );
    assert.equal(changeScript('t', {}), '');
  });

  it('reads the elements and group chains back from nft\'s JSON listing', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { table: { family: 'ip', name: 't' } },
        { map: { family: 'ip', name: 'tcp_ports', table: 't', type: 'inet_service', map: 'ipv4_addr . inet_service', elem: [[28500, { concat: ['10.9.0.2', 80] }]] } },
        { map: { family: 'ip', name: 'udp_addr_ports', table: 't', type: ['ipv4_addr', 'inet_service'], map: 'ipv4_addr . inet_service', elem: [[{ concat: ['127.0.0.1', 28501] }, { concat: ['10.9.0.2', 53] }]] } },
        { set: { family: 'ip', name: 'containers', table: 't', type: 'ipv4_addr', elem: ['10.9.0.2'] } },
        { map: { family: 'ip', name: 'groups', table: 't', type: 'ipv4_addr', map: 'verdict', elem: [['10.9.0.2', { jump: { target: 'g_abc' } }]] } },
        { set: { family: 'ip', name: 'm_abc', table: 't', type: 'ipv4_addr' } },
        { set: { family: 'ip', name: 'someone_elses', table: 't', type: 'ipv4_addr', elem: ['1.2.3.4'] } },
        { chain: { family: 'ip', table: 't', name: 'g_abc' } },
        { chain: { family: 'ip', table: 't', name: 'forward' } },
      ],
    });
    const { elements, chains } = parseListing('ip', json);
    assert.deepEqual(chains, ['g_abc']);
    assert.deepEqual(elements, [
      { family: 'ip', set: 'tcp_ports', key: '28500', value: '10.9.0.2 . 80' },
      { family: 'ip', set: 'udp_addr_ports', key: '127.0.0.1 . 28501', value: '10.9.0.2 . 53' },
      { family: 'ip', set: 'containers', key: '10.9.0.2' },
      { family: 'ip', set: 'groups', key: '10.9.0.2', value: 'jump g_abc' },
    ]);
  });
});
