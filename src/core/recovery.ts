/**
 * At daemon start: every container of this server gets the status the runtime says is true, no
 * operation interrupted by a crash stays claimed, no start cut short leaves processes behind, no
 * Idempotency-Key of a request the crash cut stays "in progress", and after a server reboot the
 * containers meant to run are started again. Each correction is logged (`system` or `autostart`).
 */
import type { ContainerStatus } from '../api/schemas.ts';
import type { RuntimeDriver, RuntimeState } from '../runtime/driver.ts';
import { newestLogRow, type ContainerRecord, type Store } from '../store/store.ts';
import { SYSTEM, AUTOSTART } from './actor.ts';
import { observedStatus, type ContainerService, type ServerIdentity } from './container-service.ts';
import { newId, nowIso } from './ids.ts';
import type { CoreObserver } from './observer.ts';

export interface RecoveryDeps {
  store: Store;
  driver: RuntimeDriver;
  containers: ContainerService;
  server: ServerIdentity;
  /** Puts back the files a restore cut short had replaced (its log row was never written); true when it did. */
  undoCutRestore?: (containerId: string) => Promise<boolean>;
}

export interface RecoveryOptions {
  /** The runtime's state was lost since the last start (the server rebooted). */
  rebooted: boolean;
  /** How many containers autostart starts at once. */
  autostartConcurrency: number;
  warn?: (message: string, err?: unknown) => void;
  /** Told of each correction (metrics). */
  observer?: CoreObserver;
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
    let state = await driver.state(c.id).catch(() => undefined);
    let current: ContainerRecord | undefined = c;
    if (c.current_operation) {
      // the daemon died during this operation: a start it cut short is ended, the rest settled on what the runtime shows
      const removed = await abandonStart(driver, c, opts.warn);
      if (removed) state = await driver.state(c.id).catch(() => undefined);
      state = await thawIfFrozenForFiles(driver, c, state, opts.warn);
      // a restore cut short after its files were swapped in, before its row: the files go back with the configuration that stayed
      const undone =
        c.current_operation.operation === 'restore' && deps.undoCutRestore && !(await restoreRecorded(store, c))
          ? await deps.undoCutRestore(c.id).catch((err: unknown) => (opts.warn?.(`undoing the cut restore of container "${c.name}"`, err), false))
          : false;
      let truth: ContainerStatus = observedStatus(state) ?? 'failed';
      // a copy cut short has files half-written: failed, never copying
      if ((c.status === 'creating' && !state) || truth === 'creating' || c.status === 'copying') truth = 'failed';
      current = await settle(store, server, c, truth, removed ? c.exit_code : (state?.exitCode ?? null), {
        operation: 'reconcile',
        interrupted_operation: c.current_operation.operation,
        ...(undone ? { restore_undone: true } : {}),
        reason: removed ? `the daemon stopped during the operation; ${HALF_START_REMOVED}` : 'the daemon stopped during the operation',
      });
      if (current) {
        report.interrupted++;
        opts.observer?.driftCorrected('recovery');
      }
    } else if (state?.status === 'creating') {
      current = await removeHalfStart(deps, c, `a start nobody was carrying out any more; ${HALF_START_REMOVED}`, opts.warn);
      if (current !== c) {
        report.corrected++;
        opts.observer?.driftCorrected('recovery');
      }
    } else if ((c.status === 'running' || c.status === 'paused') && observedStatus(state) !== c.status) {
      const truth = observedStatus(state) ?? 'stopped';
      const reason = opts.rebooted ? 'the server restarted: the container no longer runs' : 'the runtime shows it ' + truth;
      current = await settle(store, server, c, truth, truth === 'stopped' ? (state?.exitCode ?? null) : null, {
        operation: 'reconcile',
        reason,
        ...(opts.rebooted && c.status === 'paused' ? { paused_state_lost: true } : {}),
      });
      if (current) {
        report.corrected++;
        opts.observer?.driftCorrected('recovery');
      }
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

/** Whether the restore that holds `c` wrote its log row (its files then stay): the last row is it, naming the operation. */
async function restoreRecorded(store: Store, c: ContainerRecord): Promise<boolean> {
  const last = await newestLogRow(store, c.id);
  return last?.metadata.operation === 'restore' && last.metadata.operation_id === c.current_operation?.id;
}

/** Operations that freeze a running container for a moment (the last pass of reading its files). */
const FREEZING_OPERATIONS: readonly string[] = ['snapshot', 'copy'];

/**
 * A snapshot or copy cut short may have left its running container frozen for its last pass:
 * thawed, it runs as before. Answers the runtime's state after.
 */
export async function thawIfFrozenForFiles(driver: RuntimeDriver, c: ContainerRecord, state: RuntimeState | undefined, warn?: (message: string, err?: unknown) => void): Promise<RuntimeState | undefined> {
  const op = c.current_operation?.operation;
  if (op === undefined || !FREEZING_OPERATIONS.includes(op) || c.status !== 'running' || state?.status !== 'paused') return state;
  await driver.resume(c.id).catch((err: unknown) => warn?.(`thawing container "${c.name}" after its ${op} was cut short`, err));
  return driver.state(c.id).catch(() => undefined);
}

const HALF_START_REMOVED = 'its half-made start (processes waiting to run) was removed';

/**
 * Ends a half-made start that no operation carries out (the runtime shows "creating" while the
 * record says otherwise) and logs it as `system`. The container is claimed first, so this never
 * races a start that is under way. Answers the record after the change, or `c` when nothing changed.
 */
export async function removeHalfStart(
  deps: Pick<RecoveryDeps, 'store' | 'driver' | 'server'>,
  c: ContainerRecord,
  reason: string,
  warn?: (message: string, err?: unknown) => void,
): Promise<ContainerRecord | undefined> {
  const { store, driver, server } = deps;
  const opId = newId();
  const claim = await store.beginOperation(c.id, { id: opId, operation: 'reconcile', started_at: nowIso() });
  if (!claim?.claimed) return c;
  try {
    const held = claim.container;
    if (!(await abandonStart(driver, held, warn))) return c;
    const truth = held.status === 'running' || held.status === 'paused' ? (observedStatus(await driver.state(c.id).catch(() => undefined)) ?? 'stopped') : held.status;
    return await settle(store, server, held, truth === 'creating' ? 'failed' : truth, held.exit_code, { operation: 'reconcile', reason });
  } finally {
    await store.finishOperation(c.id, opId).catch((err) => warn?.(`releasing the reconcile of ${c.id}`, err));
  }
}

/** driver.abandonStart, with a failure reported rather than thrown (the next sweep tries again). */
async function abandonStart(driver: RuntimeDriver, c: ContainerRecord, warn?: (message: string, err?: unknown) => void): Promise<boolean> {
  try {
    return await driver.abandonStart(c.id);
  } catch (err) {
    warn?.(`removing the half-made start of container "${c.name}"`, err);
    return false;
  }
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
