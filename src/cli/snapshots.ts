/** `hoody snapshots …`: create, list, get, delete and restore a container's snapshots, over the SDK. */
import { Command } from 'commander';
import type { Program, Snapshot } from '../sdk/index.ts';
import { snapshotAlias } from './args.ts';
import { clientFor } from './context.ts';
import { dash, formatBytes, jsonOption, print, printJson, renderFields, renderTable, shellJoin, statusText, yesNo, type Column } from './output.ts';
import { containerId } from './resolve.ts';
import { withSpinner } from './spinner.ts';

export const SNAPSHOT_COLUMNS: Column<Snapshot>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'ALIAS', value: (s) => dash(s.alias) },
  { header: 'FILES', value: (s) => String(s.files) },
  { header: 'SIZE', value: (s) => formatBytes(s.size_bytes) },
  { header: 'CREATED', value: (s) => s.created_at },
  { header: 'BY', value: (s) => s.created_by },
];

/** How long a running container was frozen for the snapshot; `-` when it was not running. */
export const frozenText = (ms: number | null): string => (ms === null ? '- (it was not running)' : `${ms < 10 ? Number(ms.toFixed(1)) : Math.round(ms)} ms`);

/** Programs as `--program` takes them: `web:8080, web/2:8081, api:9000:public`. */
const programsText = (programs: readonly Program[]): string =>
  programs.length ? programs.map((p) => `${p.name}${p.index === 1 ? '' : `/${p.index}`}:${p.port}${p.public ? ':public' : ''}`).join(', ') : '-';

/** What `snapshots create` prints: the new snapshot's id, alias, files, size and freeze. */
export function snapshotSummary(s: Snapshot): string {
  return renderFields([
    ['id', s.id],
    ['alias', dash(s.alias)],
    ['files', `${s.files} (${formatBytes(s.content_bytes)})`],
    ['size', `${formatBytes(s.size_bytes)} added to the store`],
    ['frozen', frozenText(s.frozen_ms)],
  ]);
}

/** One snapshot as a key/value block, with the configuration a restore puts back. */
export function snapshotView(s: Snapshot): string {
  const c = s.config;
  const r = c.resources;
  const env = Object.entries(c.environment_vars).map(([k, v]) => `${k}=${v}`);
  return renderFields([
    ['id', s.id],
    ['alias', dash(s.alias)],
    ['container', s.container_id],
    ['server', s.server_id],
    ['replicas', s.replicas.length ? s.replicas.map((r) => r.server_id).join(', ') : '-'],
    ['image', c.container_image],
    ['files', `${s.files} (${formatBytes(s.content_bytes)})`],
    ['size', `${formatBytes(s.size_bytes)} added to the store`],
    ['frozen', frozenText(s.frozen_ms)],
    ['created', s.created_at],
    ['created by', s.created_by],
    ['command', c.command ? shellJoin(c.command) : '(image default)'],
    ['environment', env.length ? env.join(' ') : '-'],
    ['autostart', yesNo(c.autostart)],
    ['restart policy', c.restart_policy],
    ['stop timeout', `${c.stop_timeout} s`],
    ['resources', `${r.cpu} cpu, ${r.memory_mb} MB memory, ${r.pids} pids`],
    ['programs', programsText(c.programs)],
  ]);
}

export function snapshotsCommand(): Command {
  const snapshots = new Command('snapshots')
    .alias('snapshot')
    .description('snapshots of a container\'s files and configuration: create, list, get, delete, restore');

  snapshots
    .command('create')
    .description('snapshot a running, stopped or failed container (a running one is frozen only while the snapshot is cut)')
    .requiredOption('--container <container>', 'container id or name')
    .option('--alias <alias>', 'a name for it, unique per container (e.g. pre-deploy-2025-11-09); later commands take it instead of the id', snapshotAlias)
    .option('--reason <text>', 'why; kept with the snapshot')
    .addOption(jsonOption())
    .action(async (opts: { container: string; alias?: string; reason?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, opts.container);
      const body = { ...(opts.alias !== undefined ? { alias: opts.alias } : {}), ...(opts.reason !== undefined ? { reason: opts.reason } : {}) };
      const res = await withSpinner(`snapshotting ${opts.container}`, client.api.containers.createSnapshot(id, body));
      if (opts.json) return printJson(res.data);
      print(snapshotSummary(res.data.snapshot));
    });

  snapshots
    .command('list')
    .alias('ls')
    .description('list a container\'s snapshots, oldest first')
    .requiredOption('--container <container>', 'container id or name')
    .addOption(jsonOption())
    .action(async (opts: { container: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, opts.container);
      const res = await withSpinner('listing snapshots', client.api.containers.listSnapshots(id));
      if (opts.json) return printJson(res.data);
      if (res.data.snapshots.length === 0) return print(`${opts.container} has no snapshot (make one with \`hoody snapshots create --container ${opts.container}\`)`);
      print(renderTable(res.data.snapshots, SNAPSHOT_COLUMNS));
    });

  snapshots
    .command('get')
    .alias('show')
    .description('show one snapshot: its files, size, freeze and the configuration a restore puts back')
    .requiredOption('--container <container>', 'container id or name')
    .argument('<snapshot>', 'snapshot id or alias')
    .addOption(jsonOption())
    .action(async (snapshot: string, opts: { container: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, opts.container);
      const res = await withSpinner('reading snapshot', client.api.containers.getSnapshot(id, snapshot));
      if (opts.json) return printJson(res.data);
      print(snapshotView(res.data.snapshot));
    });

  snapshots
    .command('delete')
    .alias('rm')
    .description('delete a snapshot and free the disk only it used')
    .requiredOption('--container <container>', 'container id or name')
    .argument('<snapshot>', 'snapshot id or alias')
    .addOption(jsonOption())
    .action(async (snapshot: string, opts: { container: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, opts.container);
      const res = await withSpinner(`deleting snapshot ${snapshot}`, client.api.containers.deleteSnapshot(id, snapshot));
      if (opts.json) return printJson(res.data);
      print(`deleted snapshot ${res.data.snapshot_id}, reclaimed ${formatBytes(res.data.reclaimed_bytes)}`);
    });

  snapshots
    .command('restore')
    .description('put a stopped (or failed) container\'s files and configuration back as they were in a snapshot; an autostart container is started again')
    .requiredOption('--container <container>', 'container id or name (stop it first)')
    .argument('<snapshot>', 'snapshot id or alias')
    .option('--reason <text>', 'why; kept in the status log')
    .addOption(jsonOption())
    .action(async (snapshot: string, opts: { container: string; reason?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, opts.container);
      const body = opts.reason !== undefined ? { reason: opts.reason } : {};
      const res = await withSpinner(`restoring ${opts.container} from ${snapshot}`, client.api.containers.restoreSnapshot(id, snapshot, body));
      if (opts.json) return printJson(res.data);
      print(`restored ${res.data.name} from ${snapshot}: it is ${statusText(res.data.status)}`);
    });

  return snapshots;
}
