/** One lifecycle operation over many containers, with bounded concurrency; one failure stops nothing. */
import type { BulkBody, BulkItemResult } from '../api/schemas.ts';
import { ERROR_CODES } from '../api/error-codes.ts';
import type { Actor } from './actor.ts';
import type { ContainerService } from './container-service.ts';
import { HoodyError, invalidInput } from './errors.ts';

export const BULK_CONCURRENCY = 8;

export async function runBulk(containers: ContainerService, actor: Actor, body: BulkBody, concurrency = BULK_CONCURRENCY): Promise<BulkItemResult[]> {
  if ((body.ids === undefined) === (body.filter === undefined)) throw invalidInput('give exactly one of "ids" and "filter"');
  const ids = body.ids ?? (await containers.list(actor, body.filter ?? {})).map((c) => c.id);
  const results: BulkItemResult[] = new Array(ids.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i] as string;
      try {
        const c = await containers.operate(actor, id, body.operation, { reason: body.reason, timeout: body.timeout });
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
