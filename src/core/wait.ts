/** Waiting for a container to reach a status without polling: the event feed wakes the waiter. */
import type { ContainerStatus } from '../api/schemas.ts';
import type { ContainerRecord, Store } from '../store/store.ts';
import type { Actor } from './actor.ts';
import type { ContainerService } from './container-service.ts';
import type { EventHub } from './event-hub.ts';
import { HoodyError, notFound } from './errors.ts';

/**
 * Resolves with the container once its status is `status` (at once if it already is); throws
 * WAIT_TIMEOUT after `timeoutMs`. Subscribing before reading the status leaves no gap between them.
 */
export async function waitForStatus(
  deps: { store: Store; containers: ContainerService; events: EventHub },
  actor: Actor,
  id: string,
  status: ContainerStatus,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ContainerRecord> {
  await deps.containers.get(actor, id);
  let wake: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (wake = resolve));
  const sub = deps.events.subscribe((e) => {
    if (e.type === 'transition' && e.row.container_id === id && e.row.to_status === status) wake();
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const now = await deps.store.getContainer(id);
    if (!now) throw notFound('container', id);
    if (now.status === status) return now;
    const outcome = await Promise.race([
      reached.then(() => 'reached' as const),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
      new Promise<'aborted'>((resolve) => {
        onAbort = () => resolve('aborted');
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    const after = await deps.store.getContainer(id);
    if (!after) throw notFound('container', id);
    if (outcome === 'reached' || after.status === status) return after;
    throw new HoodyError('WAIT_TIMEOUT', `container "${after.name}" did not become ${status} within ${timeoutMs / 1000} s: it is ${after.status}`, { status: after.status });
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    sub.close();
  }
}
