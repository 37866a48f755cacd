/** `hoody containers …`: list, get, create, update, delete, copy, manage (one, in the background, or --all), wait, status-logs, logs and services, over the SDK. */
import { Argument, Command, Option } from 'commander';
import { constants as osConstants } from 'node:os';
import { CONTAINER_STATUSES, NETWORK_MODES, PULL_POLICIES, RESTART_POLICIES, SORT_ORDERS, type RestartPolicy, type SortOrder } from '../api/schemas.ts';
import { HoodyApiError, LIFECYCLE_OPERATIONS, type ContainerStatus, type CreateContainerBody, type LifecycleOperation, type UpdateContainerBody } from '../sdk/index.ts';
import { boolean, collect, collectProgram, collectPublish, integer, keyValue, numberIn, positiveNumber, type ProgramSpec, type PublishSpec } from './args.ts';
import { clientFor } from './context.ts';
import { CONTAINER_COLUMNS, LOG_COLUMNS, containerView } from './container-views.ts';
import { jsonOption, print, printJson, renderTable, statusText } from './output.ts';
import { containerId, projectId, serverRef } from './resolve.ts';
import { attachTerminal } from './terminal.ts';
import { withSpinner } from './spinner.ts';
import { needsPull, pullShowingProgress } from './images.ts';

const PROGRESS: Record<LifecycleOperation, string> = {
  start: 'starting',
  stop: 'stopping',
  'force-stop': 'force-stopping',
  restart: 'restarting',
  pause: 'pausing',
  resume: 'resuming',
};

export function containersCommand(): Command {
  const containers = new Command('containers').alias('container').description('list, create, change, copy and operate containers');

  containers
    .command('list')
    .alias('ls')
    .description('list the containers this token may see')
    .addOption(new Option('--status <status>', 'only containers in this status').choices(CONTAINER_STATUSES))
    .option('--project <project>', 'only this project (id or name)')
    .option('--name <name>', 'only the container with this name')
    .addOption(jsonOption())
    .action(async (opts: { status?: ContainerStatus; project?: string; name?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const project_id = opts.project ? await projectId(client, opts.project) : undefined;
      const res = await withSpinner('listing containers', client.api.containers.list({ status: opts.status, project_id, name: opts.name }));
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.containers, CONTAINER_COLUMNS));
    });

  containers
    .command('get')
    .alias('show')
    .description('show one container; --runtime true adds its processes, memory, CPU and ports')
    .argument('<container>', 'container id or name')
    .addOption(new Option('--runtime [bool]', 'include runtime information').argParser(boolean))
    .addOption(jsonOption())
    .action(async (ref: string, opts: { runtime?: boolean; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const res = await withSpinner('reading container', client.api.containers.get(id, opts.runtime ? { runtime: true } : {}));
      if (opts.json) return printJson(res.data);
      print(containerView(res.data));
    });

  containers
    .command('logs')
    .description('print what the container wrote (its stdout lines to stdout, its stderr lines to stderr); -f goes on until it stops')
    .argument('<container>', 'container id or name')
    .option('-f, --follow', 'go on printing new lines until the container stops')
    .option('--follow-restarts', 'with -f: go on across stops and starts, until the container is deleted')
    .option('--tail <n>', 'only the last N lines', integer(0, 1_000_000))
    .option('--since <time>', 'lines from this time on: RFC 3339, Unix seconds, or a duration before now (10m, 2h)')
    .option('--until <time>', 'lines up to this time (same forms)')
    .option('-t, --timestamps', 'begin each line with its time')
    .addOption(new Option('--stream <stream>', 'only one stream').choices(['stdout', 'stderr']))
    .action(async (ref: string, opts: { follow?: boolean; followRestarts?: boolean; tail?: number; since?: string; until?: string; timestamps?: boolean; stream?: 'stdout' | 'stderr' }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const query = { tail: opts.tail, since: opts.since, until: opts.until, stream: opts.stream, follow: opts.follow, follow_restarts: opts.followRestarts };
      for await (const r of client.api.containers.logs(id, query)) {
        const text = `${opts.timestamps ? `${r.time} ` : ''}${r.line}\n`;
        const out = r.stream === 'stderr' ? process.stderr : process.stdout;
        // a slow terminal or pipe holds the stream, not this process's memory
        if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
      }
    });

  containers
    .command('terminal')
    .description('attach to the container\'s shared terminal session (the kit\'s terminal-N): others attached see what you type, you see the screen as it is; Ctrl-] detaches and leaves it running')
    .argument('<container>', 'container id or name')
    .option('--index <n>', 'which shared session (default 1: terminal-1); opened with a shell when there is none', integer(1, 3), 1)
    .action(async (ref: string, opts: { index: number }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      process.exitCode = await attachTerminal(client, id, [], { input: true, index: opts.index });
    });

  containers
    .command('exec')
    .description('run a command in a running container; its output is printed as it comes and its exit code is hoody\'s (-i: send this process\'s stdin)')
    .usage('[options] <container> -- <command...>')
    .argument('<container>', 'container id or name')
    .argument('<command...>', 'command and arguments (after --)')
    .option('-i, --interactive', 'send what this process reads on stdin to the command (without -t: read to its end first, at most 1 MiB)')
    .option('-t, --tty', 'run it on a terminal: keystrokes go to it as you type, its window follows yours (with -i, from a terminal)')
    .option('-e, --env <KEY=VALUE...>', 'environment variables', keyValue)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'name, uid, name:group or uid:gid')
    .option('--timeout <seconds>', 'kill it (and what it started) after this long (default 300)', integer(1, 86_400))
    .action(async (ref: string, command: string[], opts: { interactive?: boolean; tty?: boolean; env?: Record<string, string>; workdir?: string; user?: string; timeout?: number }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      if (opts.tty) {
        if (opts.env || opts.workdir || opts.user || opts.timeout) usage(cmd, '-t takes no --env, --workdir, --user or --timeout (the session runs as the container does)');
        // as docker exec: a terminal's input is keystrokes; piped input (whose end a terminal cannot pass on reliably) goes with -i alone
        if (opts.interactive && !process.stdin.isTTY) usage(cmd, 'the input device is not a TTY: to send piped input, use -i without -t');
        // as docker exec: -t alone runs on a terminal without reading this process's stdin
        process.exitCode = await attachTerminal(client, id, command, { input: opts.interactive === true });
        return;
      }
      let stdin: string | undefined;
      if (opts.interactive) {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        stdin = Buffer.concat(chunks).toString('base64');
      }
      // base64 both ways: bytes pass unchanged (`exec box -- cat /bin/busybox > copy`, `exec -i box -- tar x < a.tar`)
      const body = { command, encoding: 'base64' as const, ...(opts.env ? { env: opts.env } : {}), ...(opts.workdir ? { cwd: opts.workdir } : {}), ...(opts.user ? { user: opts.user } : {}), ...(opts.timeout ? { timeout: opts.timeout } : {}), ...(stdin !== undefined ? { stdin } : {}) };
      for await (const e of client.api.containers.execStream(id, body)) {
        if ('stream' in e) {
          const out = e.stream === 'stderr' ? process.stderr : process.stdout;
          if (!out.write(Buffer.from(e.data, 'base64'))) await new Promise((resolve) => out.once('drain', resolve));
        } else if ('exit' in e) {
          if (e.exit.timed_out) process.stderr.write(`hoody: the command ran past its timeout and was killed\n`);
          // a signal's end as a shell reports it: 128 + its number
          const signalNumber = e.exit.signal ? (osConstants.signals as Record<string, number>)[e.exit.signal] : undefined;
          process.exitCode = e.exit.exit_code ?? (signalNumber ? 128 + signalNumber : 1);
        } else {
          throw new HoodyApiError({ statusCode: e.error.statusCode, code: e.error.code as never, message: e.error.message });
        }
      }
    });

  containers
    .command('services')
    .description('show its service URLs: each program, whether it answers now, and a link that opens a private one in a browser')
    .argument('<container>', 'container id or name')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const res = await withSpinner('reading services', client.api.containers.services(id));
      if (opts.json) return printJson(res.data);
      if (res.data.services.length === 0) return print('it declares no program (create or update it with --program NAME:PORT)');
      print(
        renderTable(res.data.services, [
          { header: 'PROGRAM', value: (s) => `${s.program}-${s.index}` },
          { header: 'PORT', value: (s) => String(s.port) },
          { header: 'STATUS', value: (s) => s.status, paint: statusText },
          { header: 'ACCESS', value: (s) => (s.public ? 'public' : 'private') },
          { header: 'URL', value: (s) => s.url ?? `${s.host} (no router on this server)` },
        ]),
      );
      const links = res.data.services.filter((s) => s.open_url);
      if (links.length > 0) print(`\nopen in a browser (links work for 5 minutes):\n${links.map((s) => `  ${s.program}-${s.index}: ${s.open_url}`).join('\n')}`);
    });

  containers
    .command('manage')
    .description('run a lifecycle operation and wait for it to finish (--no-wait: start it and print its id; --all: on every matching container)')
    .usage('[options] <container> <operation>\n       hoody containers manage --all [--status S] [--project P] [--name N] <operation>')
    .argument('[container]', 'container id or name (with --all: leave it out)')
    .addArgument(new Argument('[operation]', 'what to do').choices(LIFECYCLE_OPERATIONS))
    .option('--reason <text>', 'why; kept in the status log')
    .option('--timeout <seconds>', 'stop: seconds between SIGTERM and SIGKILL (default: the container\'s stop timeout)', integer(0, 3600))
    .option('--no-wait', 'do not wait: print the operation id (follow it with `hoody operations get <id>`)')
    .option('--all', 'every container this token may see that matches --status, --project and --name (one bulk call)')
    .addOption(new Option('--status <status>', 'with --all: only containers in this status').choices(CONTAINER_STATUSES))
    .option('--project <project>', 'with --all: only this project (id or name)')
    .option('--name <name>', 'with --all: only containers with this name')
    .addOption(jsonOption())
    .action(async (first: string | undefined, second: string | undefined, opts: ManageOptions, cmd: Command) => {
      const body = { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}) };
      if (opts.all) return manageAll(cmd, first, second, opts, body);
      if (opts.status !== undefined || opts.project !== undefined || opts.name !== undefined) usage(cmd, '--status, --project and --name choose containers for --all; without --all, name one container');
      if (first === undefined) usage(cmd, "missing required argument 'container'");
      if (second === undefined) usage(cmd, "missing required argument 'operation'");
      const ref = first as string;
      const op = second as LifecycleOperation;
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      if (!opts.wait) {
        const accepted = await withSpinner(`${PROGRESS[op]} ${ref}`, client.api.containers.manageAsync(id, op, body));
        if (opts.json) return printJson(accepted.data.operation);
        return print(accepted.data.operation.id);
      }
      const res = await withSpinner(`${PROGRESS[op]} ${ref}`, client.api.containers.manage(id, op, body));
      if (opts.json) return printJson(res.data);
      print(`${res.message}: ${res.data.container_id} is ${statusText(res.data.status)}`);
    });

  containers
    .command('wait')
    .description('wait until a container has a status; the server answers the moment it does')
    .argument('<container>', 'container id or name')
    .addArgument(new Argument('<status>', 'the status to wait for').choices(CONTAINER_STATUSES))
    .option('--timeout <seconds>', 'give up after this many seconds, fractions allowed (0-300, default 30)', numberIn(0, 300))
    .addOption(jsonOption())
    .action(async (ref: string, status: ContainerStatus, opts: { timeout?: number; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const res = await withSpinner(`waiting for ${ref} to be ${status}`, client.api.containers.wait(id, status, { timeout: opts.timeout }));
      if (opts.json) return printJson(res.data);
      const exit = res.data.exit_code !== null && (res.data.status === 'stopped' || res.data.status === 'failed') ? ` (exit code ${res.data.exit_code})` : '';
      print(`${res.data.name} is ${statusText(res.data.status)}${exit}`);
    });

  withSpecOptions(
    containers
      .command('create')
    .description('create a container; it starts unless --no-autostart (command words may follow --)')
    .requiredOption('--name <name>', 'lowercase letters, digits and dashes')
    .requiredOption('--image <image>', 'image to run: a reference (nginx:1.27, ghcr.io/acme/api@sha256:…) or busybox (the built-in image)')
    .addOption(new Option('--pull <policy>', 'pull the image when missing (default), always, or never').choices(PULL_POLICIES))
    .argument('[command...]', 'command and arguments (after --), instead of the image default')
    .option('--command <word...>', 'command and arguments, instead of the image default', collect)
    .option('--env <KEY=VALUE...>', 'environment variables', keyValue)
    .option('--project <project>', 'project id or name (default: your default project)')
    .option('--server <server>', 'the server to create it on, by name or id (default: the ready server with the most free memory)')
      .option('--no-autostart', 'create it stopped (and do not start it on server boot)'),
  )
    .option('--publish <[ip:][host_port:]port[/udp]>', 'publish a port on the host: 80, 8080:80, 8080:80/udp, 127.0.0.1:8080:80 (repeatable; a free host port is chosen when none is given)', collectPublish)
    .option('--program <name[/index]:port[:public]>', 'a program it serves at its service URL: web:8080, web/2:8081, api:9000:public (repeatable)', collectProgram)
    .option('--kit', 'with the Hoody Kit: shared terminals (terminal-1…3) and a desktop (display-1) at its service URLs (docs/kit.md)')
    .addOption(jsonOption())
    .action(async (words: string[], opts: CreateOptions, cmd: Command) => {
      if (words.length && opts.command) cmd.error('error: give the command either with --command or after --, not both', { exitCode: 2, code: 'hoody.usage' });
      const client = clientFor(cmd);
      const spec: CreateContainerBody = {
        name: opts.name,
        container_image: opts.image,
        ...(opts.pull ? { pull: opts.pull } : {}),
        ...(opts.project ? { project_id: await projectId(client, opts.project) } : {}),
        ...(opts.server ? serverRef(opts.server) : {}),
        ...(words.length || opts.command ? { command: words.length ? words : opts.command } : {}),
        ...(opts.env ? { environment_vars: opts.env } : {}),
        autostart: opts.autostart,
        ...(opts.stopTimeout !== undefined ? { stop_timeout: opts.stopTimeout } : {}),
        ...(opts.restartPolicy ? { restart_policy: opts.restartPolicy } : {}),
        ...resourcesOf(opts),
        ...(opts.network ? { network: opts.network } : {}),
        ...(opts.publish ? { ports: opts.publish } : {}),
        ...(opts.program ? { programs: opts.program } : {}),
        ...(opts.kit ? { hoody_kit: true } : {}),
      };
      // as `docker run` does: a pull the create needs first, with its progress shown
      if (await needsPull(client, opts.image, opts.pull ?? 'missing')) {
        await pullShowingProgress(client, opts.image);
        // pulled just now: the server takes that image rather than asking the registry again
        if (spec.pull === 'always') spec.pull = 'missing';
      }
      const res = await withSpinner(`creating ${opts.name}`, client.api.containers.create(spec));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${containerView(res.data)}`);
    });

  withSpecOptions(
    containers
      .command('update')
    .description('change a stopped (or failed) container')
    .argument('<container>', 'container id or name')
    .option('--name <name>', 'new name')
    .option('--autostart', 'start it on server boot')
    .option('--no-autostart', 'do not start it on server boot')
    .option('--environment-vars <KEY=VALUE...>', 'replace the environment with these variables', keyValue)
    .option('--command <word...>', 'new command and arguments', collect)
      .option('--default-command', 'go back to the image default command'),
  )
    .option('--publish <[ip:][host_port:]port[/udp]>', 'publish these ports instead of those it publishes now (repeatable; forms as for create)', collectPublish)
    .option('--unpublish-all', 'publish no port')
    .option('--program <name[/index]:port[:public]>', 'serve these programs instead of those it serves now (repeatable; forms as for create)', collectProgram)
    .option('--no-programs', 'serve no program')
    .addOption(jsonOption())
    .action(async (ref: string, opts: UpdateOptions, cmd: Command) => {
      const patch: UpdateContainerBody = {
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.autostart !== undefined ? { autostart: opts.autostart } : {}),
        ...(opts.environmentVars ? { environment_vars: opts.environmentVars } : {}),
        ...(opts.command ? { command: opts.command } : opts.defaultCommand ? { command: null } : {}),
        ...(opts.stopTimeout !== undefined ? { stop_timeout: opts.stopTimeout } : {}),
        ...(opts.restartPolicy ? { restart_policy: opts.restartPolicy } : {}),
        ...resourcesOf(opts),
        ...(opts.network ? { network: opts.network } : {}),
        ...(opts.publish ? { ports: opts.publish } : opts.unpublishAll ? { ports: [] } : {}),
        ...(opts.program ? { programs: opts.program } : opts.programs === false ? { programs: [] } : {}),
      };
      if (opts.publish && opts.unpublishAll) usage(cmd, 'give either --publish or --unpublish-all, not both');
      if (opts.program && opts.programs === false) usage(cmd, 'give either --program or --no-programs, not both');
      if (Object.keys(patch).length === 0) cmd.error('error: nothing to update: give at least one option (see --help)', { exitCode: 2, code: 'hoody.usage' });
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const res = await withSpinner(`updating ${ref}`, client.api.containers.update(id, patch));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${containerView(res.data)}`);
    });

  containers
    .command('delete')
    .alias('rm')
    .description('delete a stopped (or failed) container; its status logs stay readable')
    .argument('<container>', 'container id or name')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const res = await withSpinner(`deleting ${ref}`, client.api.containers.delete(id));
      if (opts.json) return printJson(res.data);
      print(`${res.message}: ${res.data.container_id}`);
    });

  containers
    .command('move')
    .description('move a stopped container to another server, with its files, snapshots, id, status logs and aliases; a container of an offline server is recovered there from a snapshot kept elsewhere')
    .argument('<container>', 'container id or name (stopped or failed)')
    .requiredOption('--server <server>', 'the server to move it to (name or id)')
    .option('--snapshot <snapshot>', 'a container of an offline server: the snapshot to recover it from (id or alias; default: its newest one kept on a server that answers)')
    .option('--reason <text>', 'written in its status log')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { server: string; snapshot?: string; reason?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const server = serverRef(opts.server);
      const res = await withSpinner(`moving ${ref} to ${opts.server}`, client.api.containers.move(id, { ...server, ...(opts.snapshot ? { snapshot: opts.snapshot } : {}), ...(opts.reason ? { reason: opts.reason } : {}) }));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${containerView(res.data)}`);
    });

  containers
    .command('copy')
    .description('make a new container from this one: its files (as they are now, or a snapshot\'s) and configuration, not its published ports; left stopped unless --start')
    .argument('<container>', 'the source: container id or name (running, stopped or failed)')
    .requiredOption('--name <name>', 'the new container\'s name: lowercase letters, digits and dashes')
    .option('--project <project>', 'the new container\'s project (id or name; default: the source\'s)')
    .option('--snapshot <snapshot>', 'copy this snapshot of the source (id or alias) instead of its files as they are now')
    .option('--start', 'start the copy once it is made')
    .option('--server <server>', 'make the copy on this server (name or id; default: the source\'s)')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { name: string; project?: string; snapshot?: string; start?: boolean; server?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const body = {
        name: opts.name,
        ...(opts.project ? { project_id: await projectId(client, opts.project) } : {}),
        ...(opts.server ? serverRef(opts.server) : {}),
        ...(opts.snapshot !== undefined ? { snapshot_id: opts.snapshot } : {}),
        ...(opts.start ? { start: true } : {}),
      };
      const res = await withSpinner(`copying ${ref} to ${opts.name}`, client.api.containers.copy(id, body));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${containerView(res.data)}`);
    });

  containers
    .command('status-logs')
    .description('the audit trail of a container\'s status changes, newest first')
    .argument('<container>', 'container id (or name, while it exists)')
    .option('--page <n>', 'page number', integer(1, 1_000_000))
    .option('--limit <n>', 'entries per page (1-100, default 10)', integer(1, 100))
    .addOption(new Option('--sort-order <order>', 'asc or desc (default desc)').choices(SORT_ORDERS))
    .addOption(jsonOption())
    .action(async (ref: string, opts: { page?: number; limit?: number; sortOrder?: SortOrder; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const id = await containerId(client, ref);
      const res = await withSpinner('reading status logs', client.api.containers.statusLogs(id, { page: opts.page, limit: opts.limit, sort_order: opts.sortOrder }));
      if (opts.json) return printJson(res.data);
      const { total, page, totalPages } = res.data.pagination;
      print(renderTable(res.data.logs, LOG_COLUMNS) + `page ${page} of ${Math.max(totalPages, 1)} (${total} ${total === 1 ? 'entry' : 'entries'})`);
    });

  return containers;
}

interface ManageOptions {
  reason?: string;
  timeout?: number;
  wait: boolean;
  all?: boolean;
  status?: ContainerStatus;
  project?: string;
  name?: string;
  json?: boolean;
}

/** A usage error: exit code 2, as commander's own. */
function usage(cmd: Command, message: string): never {
  return cmd.error(`error: ${message}`, { exitCode: 2, code: 'hoody.usage' });
}

/** `manage --all … <operation>`: one bulk call, one line per container, a summary; exit 1 if any failed. */
async function manageAll(cmd: Command, first: string | undefined, second: string | undefined, opts: ManageOptions, body: { reason?: string; timeout?: number }): Promise<void> {
  if (second !== undefined) usage(cmd, `with --all, give only the operation (got "${first}" and "${second}")`);
  if (first === undefined) usage(cmd, "missing required argument 'operation'");
  if (!(LIFECYCLE_OPERATIONS as readonly string[]).includes(first as string)) {
    usage(cmd, `command-argument value '${first}' is invalid for argument 'operation'. Allowed choices are ${LIFECYCLE_OPERATIONS.join(', ')}.`);
  }
  if (!opts.wait) usage(cmd, '--no-wait cannot be used with --all (a bulk operation answers when every container is done)');
  const op = first as LifecycleOperation;
  const client = clientFor(cmd);
  const project_id = opts.project ? await projectId(client, opts.project) : undefined;
  const filter = { ...(opts.status ? { status: opts.status } : {}), ...(project_id ? { project_id } : {}), ...(opts.name !== undefined ? { name: opts.name } : {}) };
  const res = await withSpinner(`${PROGRESS[op]} every matching container`, client.api.containers.bulk({ operation: op, filter, ...body }));
  const { results, summary } = res.data;
  if (opts.json) printJson(res.data);
  else {
    const names = new Map((await client.api.containers.list(project_id ? { project_id } : {})).data.containers.map((c) => [c.id, c.name]));
    const rows = results.map((r) => ({ ...r, name: names.get(r.container_id) ?? '-' }));
    const table = rows.length
      ? renderTable(rows, [
          { header: 'ID', value: (r) => r.container_id },
          { header: 'NAME', value: (r) => r.name },
          { header: 'RESULT', value: (r) => (r.ok ? (r.status ?? 'ok') : `failed: ${r.error?.message ?? 'unknown error'} (${r.error?.code ?? 'UNKNOWN'})`), paint: (v) => (v.startsWith('failed') ? v : statusText(v)) },
        ])
      : '';
    const total = summary.total === 1 ? '1 container' : `${summary.total} containers`;
    print(`${table}${summary.total === 0 ? `${op}: no container matched` : `${op}: ${summary.succeeded} of ${total} succeeded, ${summary.failed} failed`}`);
  }
  if (summary.failed > 0) throw new Error(`${op} failed on ${summary.failed} of ${summary.total} containers`);
}

interface ResourceOptions {
  cpu?: number;
  memoryMb?: number;
  pids?: number;
}
interface CreateOptions extends ResourceOptions {
  name: string;
  image: string;
  pull?: (typeof PULL_POLICIES)[number];
  kit?: boolean;
  command?: string[];
  env?: Record<string, string>;
  project?: string;
  server?: string;
  autostart: boolean;
  stopTimeout?: number;
  restartPolicy?: RestartPolicy;
  network?: (typeof NETWORK_MODES)[number];
  publish?: PublishSpec[];
  program?: ProgramSpec[];
  json?: boolean;
}
interface UpdateOptions extends ResourceOptions {
  name?: string;
  autostart?: boolean;
  environmentVars?: Record<string, string>;
  command?: string[];
  defaultCommand?: boolean;
  stopTimeout?: number;
  restartPolicy?: RestartPolicy;
  network?: (typeof NETWORK_MODES)[number];
  publish?: PublishSpec[];
  unpublishAll?: boolean;
  program?: ProgramSpec[];
  /** false with --no-programs. */
  programs?: boolean;
  json?: boolean;
}

function resourcesOf(opts: ResourceOptions): { resources?: { cpu?: number; memory_mb?: number; pids?: number } } {
  const resources = {
    ...(opts.cpu !== undefined ? { cpu: opts.cpu } : {}),
    ...(opts.memoryMb !== undefined ? { memory_mb: opts.memoryMb } : {}),
    ...(opts.pids !== undefined ? { pids: opts.pids } : {}),
  };
  return Object.keys(resources).length ? { resources } : {};
}

/** The options create and update share: stop timeout, restart policy and resources. */
function withSpecOptions(cmd: Command): Command {
  return cmd
    .option('--stop-timeout <seconds>', 'grace period of a stop', integer(0, 3600))
    .addOption(new Option('--restart-policy <policy>', 'what to do when its process exits').choices(RESTART_POLICIES))
    .option('--cpu <cores>', 'CPU cores (fractions allowed)', positiveNumber)
    .option('--memory-mb <mb>', 'memory limit in MB', integer(4, 4_194_304))
    .option('--pids <n>', 'process limit', integer(1, 4_194_304))
    .addOption(new Option('--network <mode>', 'bridge: an address, published ports, the project\'s names; none: loopback only (default: the server\'s)').choices(NETWORK_MODES));
}
