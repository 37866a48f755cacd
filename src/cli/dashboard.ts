/** `hoody dashboard`: the link that opens the dashboard signed in with the CLI's token (or opens it). */
import { spawn } from 'node:child_process';
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
    .option('--open', 'open it in the desktop\'s browser (xdg-open) instead of printing it')
    .action(async (opts: { open?: boolean }, cmd: Command) => {
      const { baseUrl, token } = apiConfig(cmd);
      // the token is checked first: a link that signs in with a wrong one would only show the sign-in page
      if (token) await clientFor(cmd).api.containers.list({ limit: 1 });
      const link = dashboardLink(baseUrl, token);
      if (!opts.open) return print(link);
      await new Promise<void>((resolve, reject) => {
        const child = spawn('xdg-open', [link], { stdio: 'ignore', detached: true });
        child.once('error', (err) => reject(new Error(`could not run xdg-open (${err.message}); open this link yourself: ${link}`)));
        child.once('spawn', () => {
          child.unref();
          resolve();
        });
      });
    });
}
