/** `hoody serve`: runs the daemon in the foreground until SIGTERM or SIGINT (a second one forces the exit). */
import module from 'node:module';
import { Command } from 'commander';

/** Exit status of a shutdown forced by a second signal (the work in flight was cut). */
const FORCED_EXIT_CODE = 1;

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the Hoody daemon (containers keep running when it stops; a second SIGTERM or SIGINT stops it at once)')
    .option('--host <host>', 'address to listen on (HOODY_HOST)')
    .option('--port <port>', 'TCP port (HOODY_PORT)', (v) => Number(v))
    .option('--data-dir <dir>', 'where the database, runtime state and images live (HOODY_DATA_DIR)')
    .option('--server-name <name>', 'this server\'s name in the API and logs (HOODY_SERVER_NAME)')
    .action(async (opts: { host?: string; port?: number; dataDir?: string; serverName?: string }) => {
      // Node 22.1+: the daemon's modules are compiled once and cached on disk (a no-op on Node 20)
      (module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
      // loaded here, not at the top: the client commands need none of the daemon's modules
      const { configFromEnv, startDaemon } = await import('../main.ts');
      const daemon = await startDaemon(configFromEnv(opts));
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
