/** `hoody servers …`: the daemons behind the API. */
import { Command } from 'commander';
import type { Server } from '../sdk/index.ts';
import { clientFor } from './context.ts';
import { jsonOption, print, printJson, renderFields, renderTable, statusText, type Column } from './output.ts';
import { withSpinner } from './spinner.ts';
import { serverId, serverRef } from './resolve.ts';

const SERVER_COLUMNS: Column<Server>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'NAME', value: (s) => s.name },
  { header: 'STATUS', value: (s) => s.status, paint: statusText },
  { header: 'RUNTIME', value: (s) => s.runtime },
  { header: 'CONTAINERS', value: (s) => (s.usage ? `${s.usage.running}/${s.usage.containers}` : '-') },
  { header: 'MEMORY', value: (s) => (s.usage && s.capacity ? `${s.usage.memory_mb}/${s.capacity.memory_mb} MB` : '-') },
  { header: 'VERSION', value: (s) => s.version ?? '-' },
  { header: 'LAST SEEN', value: (s) => s.last_seen_at },
];

export function serversCommand(): Command {
  const servers = new Command('servers').alias('server').description('the servers (daemons) sharing this control plane');

  servers
    .command('list')
    .alias('ls')
    .description('list servers and their status')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('listing servers', clientFor(cmd).api.servers.list());
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.servers, SERVER_COLUMNS));
    });

  servers
    .command('get')
    .description('show one server')
    .argument('<id>', 'server id')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('reading server', clientFor(cmd).api.servers.get(id));
      if (opts.json) return printJson(res.data);
      const s = res.data;
      print(
        renderFields([
          ['id', s.id],
          ['name', s.name],
          ['status', statusText(s.status)],
          ['address', s.advertise_url ?? '-'],
          ['version', s.version ?? '-'],
          ['runtime', s.runtime],
          ['capacity', s.capacity ? `${s.capacity.cpus} CPUs, ${s.capacity.memory_mb} MB` : '-'],
          ['usage', s.usage ? `${s.usage.running} running of ${s.usage.containers} containers, ${s.usage.memory_mb} MB of memory limits` : '-'],
          ['last seen', s.last_seen_at],
          ['created', s.created_at],
        ]),
      );
    });

  servers
    .command('maintenance')
    .description('put a server into maintenance (its running containers are stopped gracefully unless --keep-running), or take it out (--done: its autostart containers start again)')
    .argument('<server>', 'server id or name')
    .option('--done', 'leave maintenance')
    .option('--keep-running', 'entering: leave its containers running (no new ones are placed there)')
    .option('--reason <text>', 'written in the status logs of the containers stopped or started')
    .addOption(jsonOption())
    .action(async (server: string, opts: { done?: boolean; keepRunning?: boolean; reason?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await serverId(client, server);
      const body = { enabled: !opts.done, ...(opts.keepRunning ? { stop_containers: false } : {}), ...(opts.reason ? { reason: opts.reason } : {}) };
      const res = await withSpinner(opts.done ? 'ending maintenance' : 'entering maintenance', client.api.servers.maintenance(id, body));
      if (opts.json) return printJson(res.data);
      const failed = res.data.results.filter((r) => !r.ok);
      print(`${res.message}: ${res.data.summary.succeeded} container(s) ${opts.done ? 'started' : 'stopped'}${failed.length ? `, ${failed.length} failed` : ''}`);
      for (const r of failed) print(`  ${r.container_id}: ${r.error?.code} ${r.error?.message}`);
      if (failed.length) process.exitCode = 1;
    });

  servers
    .command('recover')
    .description('a server that is offline for good: make each of its containers again on another server from its newest snapshot kept elsewhere (HOODY_SNAPSHOT_REPLICAS); admin only')
    .argument('<server>', 'the lost server: id or name')
    .option('--to <server>', 'the server to recover them on (name or id; default: where a new container would go)')
    .option('--reason <text>', 'written in the status log of each container recovered')
    .addOption(jsonOption())
    .action(async (server: string, opts: { to?: string; reason?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await serverId(client, server);
      const body = { ...(opts.to ? serverRef(opts.to) : {}), ...(opts.reason ? { reason: opts.reason } : {}) };
      const res = await withSpinner(`recovering the containers of ${server}`, client.api.servers.recover(id, body));
      if (opts.json) return printJson(res.data);
      const failed = res.data.results.filter((r) => !r.ok);
      print(`${res.message}: ${res.data.summary.succeeded} of ${res.data.summary.total} container(s) recovered${failed.length ? `, ${failed.length} not` : ''}`);
      for (const r of failed) print(`  ${r.container_id}: ${r.error?.code} ${r.error?.message}`);
      if (failed.length) process.exitCode = 1;
    });

  return servers;
}
