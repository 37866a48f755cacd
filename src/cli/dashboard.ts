/**
 * `hoody dashboard`: the link that opens the dashboard signed in with the CLI's token. It is printed,
 * not handed to a browser: a command line is readable by every user of the machine (ps).
 */
import { Command } from 'commander';
import { API_PATH, apiBaseOf } from '../sdk/index.ts';
import { apiConfig, clientFor } from './context.ts';
import { print } from './output.ts';

/** `<daemon>/#token=<token>`: the fragment is never sent to a server, and the page removes it once read. */
export function dashboardLink(baseUrl: string, token: string | undefined): string {
  const root = apiBaseOf(baseUrl).slice(0, -API_PATH.length);
  return token ? `${root}/#token=${encodeURIComponent(token)}` : `${root}/`;
}

export function dashboardCommand(): Command {
  return new Command('dashboard')
    .description('print a link that opens the dashboard signed in with this token (it carries the token: keep it to yourself)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { baseUrl, token } = apiConfig(cmd);
      // the token is checked first: a link that signs in with a wrong one would only show the sign-in page
      if (token) await clientFor(cmd).api.containers.list({ limit: 1 });
      print(dashboardLink(baseUrl, token));
    });
}
