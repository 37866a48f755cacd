/** `hoody serve`: runs the daemon in the foreground until SIGTERM or SIGINT (a second one forces the exit). */
import { Command } from 'commander';
import { describeError } from './context.ts';
import { enableCompileCacheIn, flushCompileCache } from '../compile-cache.ts';

/** Exit status of a shutdown forced by a second signal (the work in flight was cut). */
const FORCED_EXIT_CODE = 1;

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the Hoody daemon (containers keep running when it stops; a second SIGTERM or SIGINT stops it at once)')
    .option('--host <host>', 'address to listen on (HOODY_HOST)')
    .option('--port <port>', 'TCP port (HOODY_PORT)', (v) => Number(v))
    .option('--data-dir <dir>', 'where the database, runtime state and images live (HOODY_DATA_DIR)')
    .option('--server-name <name>', 'this server\'s name in the API and logs (HOODY_SERVER_NAME)')
    .option('--proxy-port <port>', 'TCP port of the service-URL router (HOODY_PROXY_PORT; no router without it)')
    .option('--advertise-url <url>', 'where the other servers\' daemons reach this one, e.g. http://10.0.0.5:8080 (HOODY_ADVERTISE_URL; with HOODY_CLUSTER_SECRET)')
    .action(async (opts: { host?: string; port?: number; dataDir?: string; serverName?: string; proxyPort?: string; advertiseUrl?: string }) => {
      // before the daemon's code loads: a restart reads it compiled from the data folder (Node ≥ 22)
      enableCompileCacheIn(opts.dataDir ?? process.env.HOODY_DATA_DIR ?? './data');
      // loaded here, not at the top: the client commands need none of the daemon's modules
      const { configFromEnv, startDaemon } = await import('../main.ts');
      let daemon: Awaited<ReturnType<typeof startDaemon>>;
      try {
        const { proxyPort, ...flags } = opts;
        const env = proxyPort === undefined ? process.env : { ...process.env, HOODY_PROXY_PORT: proxyPort };
        daemon = await startDaemon(configFromEnv(flags, env));
      } catch (err) {
        // what a failed start left open (the exit watcher, the store) would keep the process alive,
        // serving nothing: a service manager must see it exit and restart it
        process.stderr.write(`${describeError(err)}\n`);
        if (process.env.HOODY_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
        process.exit(1);
      }
      // a daemon killed without a chance to exit cleanly still leaves the next start its compiled code
      flushCompileCache();
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) {
          // an operation in flight may take minutes (a long stop_timeout): the operator can cut it
          daemon.log.warn(`${signal} again: exiting now; containers keep running, and the next start settles the operations cut here`);
          process.exit(FORCED_EXIT_CODE);
        }
        stopping = true;
        daemon.log.info(`${signal}: finishing in-flight requests; containers keep running (send SIGTERM or SIGINT again to exit at once)`);
        daemon.close().then(
          () => {
            daemon.log.info('stopped');
            process.exit(0);
          },
          (err: unknown) => {
            daemon.log.error({ err }, 'closing failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
