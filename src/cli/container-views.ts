/** How containers and their status logs look in a terminal. */
import type { Container, PublishedPort, RuntimeInfo, StatusLogEntry } from '../sdk/index.ts';
import { dash, formatBytes, renderFields, renderTable, shellJoin, statusText, yesNo, type Column } from './output.ts';

export const CONTAINER_COLUMNS: Column<Container>[] = [
  { header: 'ID', value: (c) => c.id },
  { header: 'NAME', value: (c) => c.name },
  { header: 'STATUS', value: (c) => c.status, paint: statusText },
  { header: 'IMAGE', value: (c) => c.container_image },
  { header: 'ADDRESS', value: (c) => dash(c.ip_address) },
  { header: 'PORTS', value: (c) => portsText(c.ports) },
  { header: 'SERVER', value: (c) => (c.server_status === 'offline' ? `${c.server_name} (offline)` : c.server_name) },
  { header: 'CREATED', value: (c) => c.created_at },
];

export const LOG_COLUMNS: Column<StatusLogEntry>[] = [
  { header: 'TIME', value: (l) => l.transition_time },
  { header: 'FROM', value: (l) => l.from_status },
  { header: 'TO', value: (l) => l.to_status, paint: statusText },
  { header: 'OPERATION', value: (l) => l.metadata.operation },
  { header: 'TRIGGERED BY', value: (l) => l.triggered_by },
  { header: 'DURATION', value: (l) => `${l.duration_ms} ms` },
  { header: 'NOTE', value: logNote },
];

function logNote(l: StatusLogEntry): string {
  const m = l.metadata;
  return [m.reason && `reason: ${m.reason}`, m.exit_code !== undefined && `exit ${m.exit_code}`, m.error && `error: ${m.error}`].filter(Boolean).join('; ');
}

/** Published ports as docker shows them: `0.0.0.0:28080->80/tcp, 127.0.0.1:5353->53/udp`. */
export const portsText = (ports: readonly PublishedPort[]): string => (ports.length ? ports.map((p) => `${p.host_ip}:${p.host_port}->${p.container_port}/${p.protocol}`).join(', ') : '-');

export function containerFields(c: Container): string {
  const env = Object.entries(c.environment_vars).map(([k, v]) => `${k}=${v}`);
  const r = c.resources;
  const fields: [string, string][] = [
    ['id', c.id],
    ['name', c.name],
    ['status', statusText(c.status)],
    ['project', c.project_id],
    ['server', `${c.server_name} (${c.server_id})${c.server_status === 'ready' ? '' : `, ${c.server_status}`}`],
    ['image', c.container_image],
    ['command', c.command ? shellJoin(c.command) : '(image default)'],
    ['environment', env.length ? env.join(' ') : '-'],
    ['autostart', yesNo(c.autostart)],
    ['restart policy', c.restart_policy],
    ['stop timeout', `${c.stop_timeout} s`],
    ['resources', `${r.cpu} cpu, ${r.memory_mb} MB memory, ${r.pids} pids`],
    ['network', c.network],
    ['address', dash(c.ip_address)],
    ['ports', portsText(c.ports)],
    ['operation', c.current_operation ? `${c.current_operation.operation} since ${c.current_operation.started_at}` : '-'],
    ['exit code', dash(c.exit_code)],
    ['created', c.created_at],
    ['updated', c.updated_at],
  ];
  return renderFields(fields);
}

export function runtimeFields(info: RuntimeInfo): string {
  const head = renderFields([
    ['pid', dash(info.pid)],
    ['memory', formatBytes(info.memory_bytes)],
    ['cpu time', `${(info.cpu_usage_ns / 1e9).toFixed(2)} s`],
    ['listening ports', info.listening_ports.length ? info.listening_ports.join(', ') : '-'],
    ['addresses', info.addresses.length ? info.addresses.map((a) => `${a.address}/${a.prefix_length} via ${a.gateway}`).join(', ') : '-'],
  ]);
  const processes = info.processes.length
    ? renderTable(info.processes, [
        { header: 'PID', value: (p) => String(p.pid) },
        { header: 'COMMAND', value: (p) => p.command },
      ])
    : 'no processes\n';
  return `\nruntime\n${indent(head)}\n${indent(processes)}`;
}

const indent = (text: string): string => text.replace(/^(?=.)/gm, '  ');

/** A container, and its runtime information when it was read with `?runtime=true`. */
export const containerView = (c: Container): string => containerFields(c) + (c.runtime_info ? runtimeFields(c.runtime_info) : '');
