/** The `hoody` command line. */
import { Command } from 'commander';
import { serveCommand } from './serve.ts';

const program = new Command('hoody').description('Hoody: run and manage containers on this server').showHelpAfterError();
program.addCommand(serveCommand());

await program.parseAsync(process.argv);
