/**
 * `hoody events`: one line per transition, operation or terminal/display client as it happens, until Ctrl-C. The SDK
 * reconnects by itself (with Last-Event-ID), so a daemon restart loses and repeats nothing.
 */
import { Command, Option } from 'commander';
import type { ClientEvent, HoodyApiError, EventFilter, EventType, HoodyClient, HoodyEvent, OperationEvent, TransitionEvent } from '../sdk/index.ts';
import { integer, oneOrMoreOf } from './args.ts';
import { clientFor } from './context.ts';
import { statusText } from './output.ts';
import { containerId, projectId } from './resolve.ts';

const EVENT_TYPES = ['transition', 'operation', 'client'] as const satisfies readonly EventType[];

interface EventsOptions {
  container?: string;
  project?: string;
  types?: EventType[];
  since?: number;
  json?: boolean;
}

export function eventsCommand(): Command {
  return new Command('events')
    .description('follow transitions and operations as they happen, one line each, until Ctrl-C')
    .option('--container <container>', 'only this container (id or name)')
    .option('--project <project>', 'only this project (id or name)')
    .option('--types <types>', 'comma-separated: transition, operation, client (default all)', oneOrMoreOf(EVENT_TYPES))
    .option('--since <cursor>', 'first replay the transitions after this cursor (the #number of a line)', integer(0, Number.MAX_SAFE_INTEGER))
    .addOption(new Option('--json', 'one JSON object per line: the event as the API sends it'))
    .action(async (opts: EventsOptions, cmd: Command) => {
      const client = clientFor(cmd);
      const filter: EventFilter = {
        ...(opts.container ? { container_id: await containerId(client, opts.container) } : {}),
        ...(opts.project ? { project_id: await projectId(client, opts.project) } : {}),
        ...(opts.types ? { types: opts.types } : {}),
        ...(opts.since !== undefined ? { since: opts.since } : {}),
      };
      const names = opts.json ? undefined : await nameBook(client, filter.project_id);
      await follow(client, filter, async (event) => {
        const line = names ? eventLine(event, await names(event.container_id)) : JSON.stringify(event);
        process.stdout.write(`${line}\n`);
      });
    });
}

/**
 * Subscribes until Ctrl-C (or SIGTERM, or a closed stdout). A first connection that fails, or a
 * refusal (4xx) at any time, ends it with the error; later drops are reported on stderr and resumed.
 */
async function follow(client: HoodyClient, filter: EventFilter, write: (event: HoodyEvent) => Promise<void>): Promise<void> {
  let everOpen = false;
  let lost = false;
  let firstFailure: HoodyApiError | undefined;
  const subscription = client.events.subscribe(filter, write, {
    onOpen: () => {
      if (lost) process.stderr.write('hoody: event stream resumed\n');
      everOpen = true;
      lost = false;
    },
    onDisconnect: (err) => {
      if (!everOpen) {
        firstFailure = err;
        subscription.close();
        return;
      }
      if (!lost) process.stderr.write(`hoody: event stream lost (${err.message}); reconnecting…\n`);
      lost = true;
    },
  });
  const end = (): void => subscription.close();
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') throw err;
    end();
  };
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  process.stdout.on('error', onStdoutError);
  try {
    await subscription.done;
  } finally {
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
    process.stdout.off('error', onStdoutError);
  }
  if (firstFailure) throw firstFailure;
}

/** Container names by id, for the human lines: the visible containers now, then one read per new id. */
async function nameBook(client: HoodyClient, project_id: string | undefined): Promise<(id: string) => Promise<string>> {
  const names = new Map<string, string>();
  for (const c of (await client.api.containers.list(project_id ? { project_id } : {})).data.containers) names.set(c.id, c.name);
  return async (id) => {
    let name = names.get(id);
    if (name === undefined) {
      // created since, or gone already: its id then stands for it
      name = await client.api.containers.get(id).then(
        (r) => r.data.name,
        () => id,
      );
      names.set(id, name);
    }
    return name;
  };
}

/** `2026-11-28T14:00:00.000Z web running → paused (pause by user_ab12) #57`, or an operation's line. */
export function eventLine(event: HoodyEvent, name: string): string {
  return event.type === 'transition' ? transitionLine(event, name) : event.type === 'client' ? clientLine(event, name) : operationLine(event, name);
}

/** `… web terminal-1: user_ab12 from 127.0.0.1 attached (2 clients)`. */
function clientLine(e: ClientEvent, name: string): string {
  const who = `${e.client.user_id}${e.client.address ? ` from ${e.client.address}` : ''}${e.client.view_only ? ' (view only)' : ''}`;
  return `${e.at} ${name} ${e.program}-${e.index}: ${who} ${e.action} (${e.clients} client${e.clients === 1 ? '' : 's'})`;
}

function transitionLine(e: TransitionEvent, name: string): string {
  const l = e.log;
  const m = l.metadata;
  const notes = [m.reason && `reason: ${m.reason}`, m.exit_code !== undefined && `exit ${m.exit_code}`, m.error && `error: ${m.error}`].filter(Boolean);
  const why = [`${m.operation} by ${l.triggered_by}`, ...notes].join(', ');
  return `${l.transition_time} ${name} ${statusText(l.from_status)} → ${statusText(l.to_status)} (${why}) #${e.cursor}`;
}

function operationLine(e: OperationEvent, name: string): string {
  const outcome = e.phase === 'succeeded' && e.status ? ` → ${statusText(e.status)}` : e.phase === 'failed' && e.error ? `: ${e.error.message} (${e.error.code})` : '';
  return `${e.at} ${name} ${e.operation} ${e.phase}${outcome} (by ${e.triggered_by}) op ${e.operation_id}`;
}
