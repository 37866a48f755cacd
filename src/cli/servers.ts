/** `hoody servers …`: the daemons behind the API. */
import { Command } from 'commander';
import type { Server } from '../sdk/index.ts';
import { clientFor } from './context.ts';
import { jsonOption, print, printJson, renderFields, renderTable, statusText, type Column } from './output.ts';
import { withSpinner } from './spinner.ts';

const SERVER_COLUMNS: Column<Server>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'NAME', value: (s) => s.name },
  { header: 'STATUS', value: (s) => s.status, paint: statusText },
  { header: 'RUNTIME', value: (s) => s.runtime },
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
      print(renderFields([['id', s.id], ['name', s.name], ['status', statusText(s.status)], ['runtime', s.runtime], ['last seen', s.last_seen_at], ['created', s.created_at]]));
    });

  return servers;
}
