/** The `hoody` command tree: global API options, the resource commands, and `serve`. */
import { Command } from 'commander';
import { projectsCommand, tokensCommand, usersCommand } from './accounts.ts';
import { containersCommand } from './containers.ts';
import { dashboardCommand } from './dashboard.ts';
import { DEFAULT_API_URL } from './context.ts';
import { eventsCommand } from './events.ts';
import { operationsCommand } from './operations.ts';
import { serveCommand } from './serve.ts';
import { serversCommand } from './servers.ts';
import { snapshotsCommand } from './snapshots.ts';
import { imagesCommand } from './images.ts';
import { proxyCommand } from './proxy.ts';
import { PACKAGE_VERSION } from '../version.ts';

export function buildProgram(): Command {
  const program = new Command('hoody')
    .description('Hoody: run and manage containers on this server')
    .version(PACKAGE_VERSION, '-V, --version', 'print the version of hoody')
    .option('--api-url <url>', `where the API listens (env HOODY_API_URL, default ${DEFAULT_API_URL})`)
    .option('--token <token>', 'bearer token (prefer env HOODY_TOKEN: a command-line argument is visible to every local user in ps)');
  for (const command of [containersCommand(), snapshotsCommand(), operationsCommand(), eventsCommand(), projectsCommand(), tokensCommand(), usersCommand(), serversCommand(), imagesCommand(), proxyCommand(), dashboardCommand(), serveCommand()]) {
    program.addCommand(command);
  }
  // usage errors throw a CommanderError (exit code 2 in main.ts) instead of exiting from deep inside
  forEveryCommand(program, (c) => c.exitOverride().showHelpAfterError('(add --help for usage)'));
  return program;
}

function forEveryCommand(command: Command, apply: (c: Command) => void): void {
  apply(command);
  for (const sub of command.commands) forEveryCommand(sub, apply);
}
