/** One lifecycle operation over many containers, with bounded concurrency; one failure stops nothing. */
import type { BulkBody, BulkItemResult, ContainerStatus, LifecycleBody, LifecycleOperation } from '../api/schemas.ts';
import { ERROR_CODES } from '../api/error-codes.ts';
import type { Actor } from './actor.ts';
import type { ContainerService } from './container-service.ts';
import { HoodyError, invalidInput } from './errors.ts';

export const BULK_CONCURRENCY = 8;

/** Carries out one container's operation; answers the status it ends in. */
export type OperateOne = (actor: Actor, id: string, operation: LifecycleOperation, body: LifecycleBody) => Promise<{ status: ContainerStatus }>;

export async function runBulk(containers: ContainerService, actor: Actor, body: BulkBody, opts: { concurrency?: number; operate?: OperateOne } = {}): Promise<BulkItemResult[]> {
  if ((body.ids === undefined) === (body.filter === undefined)) throw invalidInput('give exactly one of "ids" and "filter"');
  const ids = body.ids ?? (await containers.list(actor, body.filter ?? {})).map((c) => c.id);
  const operate: OperateOne = opts.operate ?? ((a, id, op, b) => containers.operate(a, id, op, b));
  return runEach(ids, (id) => operate(actor, id, body.operation, { reason: body.reason, timeout: body.timeout }), opts.concurrency);
}

/** `run` for each container id, at most `concurrency` at once: each one's status or error, in order. */
export async function runEach(ids: readonly string[], run: (id: string) => Promise<{ status: ContainerStatus }>, concurrency = BULK_CONCURRENCY): Promise<BulkItemResult[]> {
  const results: BulkItemResult[] = new Array(ids.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i] as string;
      try {
        const c = await run(id);
        results[i] = { container_id: id, ok: true, status: c.status };
      } catch (err) {
        const e = err instanceof HoodyError ? err : new HoodyError('INTERNAL_ERROR', 'internal error');
        results[i] = { container_id: id, ok: false, error: { statusCode: ERROR_CODES[e.code].status, code: e.code, message: e.message } };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, ids.length)) }, lane));
  return results;
}
