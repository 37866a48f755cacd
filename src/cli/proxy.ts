/** `hoody proxy …`: proxy aliases, names (`{alias}.{domain}`) served by one program instance of a container. */
import { Command } from 'commander';
import type { ProxyAlias } from '../sdk/index.ts';
import { integer } from './args.ts';
import { clientFor } from './context.ts';
import { jsonOption, print, printJson, renderFields, renderTable, type Column } from './output.ts';
import { containerId } from './resolve.ts';
import { withSpinner } from './spinner.ts';

const ALIAS_COLUMNS: Column<ProxyAlias>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'ALIAS', value: (a) => a.alias },
  { header: 'CONTAINER', value: (a) => a.container_id },
  { header: 'PROGRAM', value: (a) => `${a.program}-${a.index}` },
  { header: 'PATH', value: (a) => a.target_path },
  { header: 'ACCESS', value: (a) => (a.public ? 'public' : 'private') },
  { header: 'URL', value: (a) => a.url ?? a.host },
];

const aliasView = (a: ProxyAlias): string =>
  renderFields([
    ['id', a.id],
    ['alias', a.alias],
    ['url', a.url ?? `${a.host} (no router on this server)`],
    ['container', a.container_id],
    ['program', `${a.program} (index ${a.index})`],
    ['target path', a.target_path],
    ['access', a.public ? 'public' : 'private'],
    ['created', a.created_at],
  ]);

export function proxyCommand(): Command {
  const proxy = new Command('proxy').description('proxy aliases: names that serve one program of a container (point one elsewhere by delete + create)');

  proxy
    .command('create')
    .description('make an alias serve a program of a container, from now on')
    .requiredOption('--container-id <container>', 'container id or name')
    .requiredOption('--alias <alias>', 'the name: lowercase letters, digits and dashes (served at <alias>.<domain>)')
    .requiredOption('--program <name>', 'one of the container\'s programs')
    .option('--index <n>', 'which instance of the program', integer(1, 99), 1)
    .option('--target-path <path>', 'path prefix requests are sent to', '/')
    .option('--public', 'serve it to anyone, without a token')
    .addOption(jsonOption())
    .action(async (opts: { containerId: string; alias: string; program: string; index: number; targetPath: string; public?: boolean; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, opts.containerId);
      const res = await withSpinner(`creating alias ${opts.alias}`, client.api.proxyAliases.create({ container_id: id, alias: opts.alias, program: opts.program, index: opts.index, target_path: opts.targetPath, ...(opts.public ? { public: true } : {}) }));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${aliasView(res.data)}`);
    });

  proxy
    .command('list')
    .alias('ls')
    .description('list your proxy aliases')
    .option('--container-id <container>', 'only those of one container (id or name)')
    .addOption(jsonOption())
    .action(async (opts: { containerId?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const container_id = opts.containerId ? await containerId(client, opts.containerId) : undefined;
      const res = await withSpinner('listing aliases', client.api.proxyAliases.list({ container_id }));
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.aliases, ALIAS_COLUMNS));
    });

  proxy
    .command('get')
    .description('show one proxy alias')
    .argument('<alias-id>', 'alias id')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('reading alias', clientFor(cmd).api.proxyAliases.get(id));
      if (opts.json) return printJson(res.data);
      print(aliasView(res.data));
    });

  proxy
    .command('delete')
    .alias('rm')
    .description('delete a proxy alias (its name answers 503 for 30 s, then 404, until it is created again)')
    .argument('<alias-id>', 'alias id')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('deleting alias', clientFor(cmd).api.proxyAliases.delete(id));
      if (opts.json) return printJson(res.data);
      print(res.message);
    });

  return proxy;
}
