/**
 * A capture or restore run in its own process, stopped at a step so that its parent can SIGKILL
 * it there: `capture <store> <upper> <id> <step>` or `restore <store> <id> <target> <file index>`.
 * Prints `at <step>` when it gets there, then waits to be killed.
 */
import { SnapshotStore } from '../src/snapshots/store.ts';

const [mode, storeRoot, a, b, at] = process.argv.slice(2);
const halt = async (what: string): Promise<never> => {
  process.stdout.write(`at ${what}\n`);
  return new Promise<never>(() => setInterval(() => undefined, 1000));
};
const store = await SnapshotStore.open(storeRoot!);
if (mode === 'capture') {
  await store.capture(a!, b!, { onStep: async (step) => (step === at ? halt(step) : undefined) });
} else {
  let placed = 0;
  await store.restore(a!, b!, { onFile: async () => (++placed === Number(at) ? halt(`file ${placed}`) : undefined) });
}
process.stdout.write('done\n');
