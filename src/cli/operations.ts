/** `hoody operations get <id>`: an operation started with `hoody containers manage … --no-wait`. */
import { Command } from 'commander';
import type { OperationInfo } from '../sdk/index.ts';
import { clientFor } from './context.ts';
import { dash, jsonOption, print, printJson, renderFields, statusText } from './output.ts';
import { withSpinner } from './spinner.ts';

export function operationsCommand(): Command {
  const operations = new Command('operations').alias('operation').description('follow operations started in the background (manage --no-wait)');

  operations
    .command('get')
    .alias('show')
    .description('show an operation: running, succeeded (and the status it left) or failed (and why)')
    .argument('<id>', 'the operation id that manage --no-wait printed')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('reading operation', clientFor(cmd).api.operations.get(id));
      if (opts.json) return printJson(res.data);
      print(operationView(res.data));
    });

  return operations;
}

export function operationView(op: OperationInfo): string {
  return renderFields([
    ['id', op.id],
    ['container', op.container_id],
    ['operation', op.operation],
    ['status', op.status],
    ['result status', op.result_status ? statusText(op.result_status) : '-'],
    ['error', op.error ? `${op.error.message} (${op.error.code})` : '-'],
    ['triggered by', op.triggered_by],
    ['started', op.started_at],
    ['finished', dash(op.finished_at)],
  ]);
}
