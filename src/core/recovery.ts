/**
 * At daemon start: every container of this server gets the status the runtime says is true,
 * and no operation interrupted by a crash stays claimed. Each correction is logged as `system`.
 */
import type { ContainerStatus } from '../api/schemas.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import type { Store } from '../store/store.ts';
import { SYSTEM } from './actor.ts';
import { observedStatus, type ContainerService, type ServerIdentity } from './container-service.ts';
import { newId, nowIso } from './ids.ts';

export interface RecoveryDeps {
  store: Store;
  driver: RuntimeDriver;
  containers: ContainerService;
  server: ServerIdentity;
}

export async function recoverAtStart({ store, driver, containers, server }: RecoveryDeps): Promise<{ corrected: number }> {
  let corrected = 0;
  for (const c of await store.listContainers({ server_id: server.id })) {
    const state = await driver.state(c.id).catch(() => undefined);
    if (c.current_operation) {
      // the daemon died during this operation: settle it on what the runtime shows
      let truth: ContainerStatus = observedStatus(state) ?? 'failed';
      if (c.status === 'creating' && !state) truth = 'failed';
      const updated = await store.transition(c.id, {
        to_status: truth,
        operation_id: c.current_operation.id,
        finish_operation: true,
        exit_code: truth === 'stopped' || truth === 'failed' ? (state?.exitCode ?? null) : undefined,
        log: {
          id: newId(),
          from_status: c.status,
          to_status: truth,
          transition_time: nowIso(),
          duration_ms: Math.max(0, Date.now() - Date.parse(c.current_operation.started_at)),
          triggered_by: SYSTEM,
          metadata: { operation: 'reconcile', server_name: server.name, interrupted_operation: c.current_operation.operation, reason: 'the daemon stopped during the operation' },
        },
      });
      if (updated) corrected++;
      continue;
    }
    const truth = observedStatus(state);
    if ((c.status === 'running' || c.status === 'paused') && truth !== c.status) {
      await containers.reconcile(c.id, 'reconcile');
      corrected++;
    }
  }
  return { corrected };
}
