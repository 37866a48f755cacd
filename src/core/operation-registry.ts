/** Operations started with `?wait=false`, kept in memory (the newest 10,000) for GET /operations/{id}. */
import type { OperationInfo } from '../api/schemas.ts';
import type { ContainerRecord } from '../store/store.ts';
import { HoodyError } from './errors.ts';
import { nowIso } from './ids.ts';

export interface TrackedOperation extends OperationInfo {
  project_id: string;
}

export class OperationRegistry {
  private readonly operations = new Map<string, TrackedOperation>();

  constructor(private readonly limit = 10_000) {}

  started(op: Omit<TrackedOperation, 'status' | 'finished_at' | 'result_status' | 'error'>): TrackedOperation {
    const tracked: TrackedOperation = { ...op, status: 'running', finished_at: null, result_status: null, error: null };
    this.operations.set(op.id, tracked);
    // Map keeps insertion order: the first key is the oldest
    while (this.operations.size > this.limit) this.operations.delete(this.operations.keys().next().value as string);
    return tracked;
  }

  settled(id: string, outcome: { ok: true; container: ContainerRecord } | { ok: false; error: unknown }): void {
    const op = this.operations.get(id);
    if (!op) return;
    op.finished_at = nowIso();
    if (outcome.ok) {
      op.status = 'succeeded';
      op.result_status = outcome.container.status;
    } else {
      op.status = 'failed';
      const err = outcome.error;
      op.error = err instanceof HoodyError ? { code: err.code, message: err.message } : { code: 'INTERNAL_ERROR', message: 'internal error' };
    }
  }

  get(id: string): TrackedOperation | undefined {
    return this.operations.get(id);
  }
}
