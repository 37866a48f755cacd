/** Removing a folder of any depth: GNU rm walks by descriptor (Node's recursive rm fails past PATH_MAX), in a child process. */
import { runCommand } from '../runtime/run-command.ts';

/** `rm -rf --one-file-system` of `path` (nothing when it does not exist). */
export async function removeTree(path: string): Promise<void> {
  await runCommand('rm', ['-rf', '--one-file-system', '--', path], undefined, 600_000);
}
