/**
 * At daemon start: every container of this server gets the status the runtime says is true, no
 * operation interrupted by a crash stays claimed, no Idempotency-Key of a request the crash cut
 * stays "in progress", and after a server reboot the containers meant to run are started again.
 * Each correction is logged (`system` or `autostart`).
 */
import type { ContainerStatus } from '../api/schemas.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import type { ContainerRecord, Store } from '../store/store.ts';
import { SYSTEM, AUTOSTART } from './actor.ts';
import { observedStatus, type ContainerService, type ServerIdentity } from './container-service.ts';
import { newId, nowIso } from './ids.ts';

export interface RecoveryDeps {
  store: Store;
  driver: RuntimeDriver;
  containers: ContainerService;
  server: ServerIdentity;
}

export interface RecoveryOptions {
  /** The runtime's state was lost since the last start (the server rebooted). */
  rebooted: boolean;
  /** How many containers autostart starts at once. */
  autostartConcurrency: number;
  warn?: (message: string, err?: unknown) => void;
}

export interface RecoveryReport {
  corrected: number;
  interrupted: number;
  autostarted: number;
  autostartFailed: number;
  /** Idempotency-Keys this server held when it stopped, released so that a retry runs. */
  idempotencyKeysReleased: number;
}

export async function recoverAtStart(deps: RecoveryDeps, opts: RecoveryOptions): Promise<RecoveryReport> {
  const { store, driver, containers, server } = deps;
  const report: RecoveryReport = { corrected: 0, interrupted: 0, autostarted: 0, autostartFailed: 0, idempotencyKeysReleased: 0 };
  // nothing of this daemon answers yet: a key it holds in flight belongs to a request that is gone
  report.idempotencyKeysReleased = await store.releaseInFlightIdempotencyKeys(server.id);
  const toStart: ContainerRecord[] = [];
  for (const c of await store.listContainers({ server_id: server.id })) {
    const state = await driver.state(c.id).catch(() => undefined);
    let current: ContainerRecord | undefined = c;
    if (c.current_operation) {
      // the daemon died during this operation: settle it on what the runtime shows
      let truth: ContainerStatus = observedStatus(state) ?? 'failed';
      if (c.status === 'creating' && !state) truth = 'failed';
      current = await settle(store, server, c, truth, state?.exitCode ?? null, {
        operation: 'reconcile',
        interrupted_operation: c.current_operation.operation,
        reason: 'the daemon stopped during the operation',
      });
      if (current) report.interrupted++;
    } else if ((c.status === 'running' || c.status === 'paused') && observedStatus(state) !== c.status) {
      const truth = observedStatus(state) ?? 'stopped';
      const reason = opts.rebooted ? 'the server restarted: the container no longer runs' : 'the runtime shows it ' + truth;
      current = await settle(store, server, c, truth, truth === 'stopped' ? (state?.exitCode ?? null) : null, {
        operation: 'reconcile',
        reason,
        ...(opts.rebooted && c.status === 'paused' ? { paused_state_lost: true } : {}),
      });
      if (current) report.corrected++;
    }
    // only what the reboot took away: containers recorded running or paused (not ones that had exited)
    const wasLive = c.status === 'running' || c.status === 'paused';
    if (opts.rebooted && wasLive && current && current.autostart && current.desired_status !== 'stopped' && (current.status === 'stopped' || current.status === 'failed')) {
      toStart.push(current);
    }
  }
  await runWithConcurrency(toStart, opts.autostartConcurrency, async (c) => {
    const lost = c.desired_status === 'paused' ? ' (its paused state was lost)' : '';
    try {
      await containers.operateAsSystem(c.id, 'start', AUTOSTART, `server reboot: autostart${lost}`);
      report.autostarted++;
    } catch (err) {
      report.autostartFailed++;
      opts.warn?.(`autostart of container "${c.name}"`, err);
    }
  });
  return report;
}

/** Writes the status the runtime shows, over any claim an interrupted operation left; logged as `system`. */
export async function settle(
  store: Store,
  server: ServerIdentity,
  c: ContainerRecord,
  truth: ContainerStatus,
  exitCode: number | null,
  metadata: { operation: string; [key: string]: unknown },
): Promise<ContainerRecord | undefined> {
  const stopped = truth === 'stopped' || truth === 'failed';
  return store.transition(c.id, {
    to_status: truth,
    operation_id: c.current_operation?.id,
    // if something else recorded a change meanwhile (an exit event), this correction is stale
    expect_status: c.status,
    finish_operation: true,
    exit_code: stopped ? exitCode : undefined,
    log: {
      id: newId(),
      from_status: c.status,
      to_status: truth,
      transition_time: nowIso(),
      duration_ms: c.current_operation ? Math.max(0, Date.now() - Date.parse(c.current_operation.started_at)) : 0,
      triggered_by: SYSTEM,
      metadata: { server_name: server.name, project_id: c.project_id, ...(stopped && exitCode !== null ? { exit_code: exitCode } : {}), ...metadata },
    },
  });
}

/** Runs `work` over items, at most `limit` at a time. */
async function runWithConcurrency<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}
