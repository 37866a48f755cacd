/**
 * The `hoody` command line. Exit codes: 0 success, 1 the API (or the network) said no,
 * 2 a usage error (unknown command or option, bad option value). HOODY_DEBUG=1 adds stack traces.
 */
import { CommanderError } from 'commander';
import { describeError } from './context.ts';
import { buildProgram } from './program.ts';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander has already printed the message (or the help / version asked for)
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`${describeError(err)}\n`);
    if (process.env.HOODY_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}
