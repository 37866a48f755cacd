/**
 * Restart policies in motion: after an exit the user did not ask for, decides (restart-policy.ts)
 * whether to start the container again, keeps each container's history of restarts in the store
 * (so a daemon restart keeps the back-off and the retry count), and holds the back-off timers.
 * The lifecycle engine tells it when a run begins and when one ends.
 */
import type { ContainerRecord, Store } from '../store/store.ts';
import { decideRestart, type RestartPolicySettings } from './restart-policy.ts';
import { nowIso } from './ids.ts';

export interface RestartSchedulerDeps {
  store: Store;
  /** Starts the container as the restart policy (the lifecycle engine's system start). */
  start: (id: string, reason: string, extra: Record<string, unknown>) => Promise<unknown>;
  settings?: RestartPolicySettings;
  warn?: (message: string, err?: unknown) => void;
}

export class RestartScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly deps: RestartSchedulerDeps) {}

  /** A run of the container has begun (any start: the user's, autostart's or the policy's). */
  async runStarted(id: string): Promise<void> {
    await this.deps.store.saveRestartHistory(id, { last_started_at: nowIso(), restart_due_at: null });
  }

  /** After an exit the user did not ask for: schedules a restart when the container's policy says so. */
  async exited(c: ContainerRecord): Promise<void> {
    // also while closing: the decision is recorded, and the next start of the daemon carries it out
    const history = await this.deps.store.getRestartHistory(c.id);
    if (!history) return;
    const startedAt = history.last_started_at ? Date.parse(history.last_started_at) : 0;
    const ranFor = startedAt ? Date.now() - startedAt : Number.POSITIVE_INFINITY;
    const decision = decideRestart(c.restart_policy, c.exit_code, ranFor, history, c.desired_status === 'stopped', this.deps.settings);
    if (!decision.restart) {
      await this.deps.store.saveRestartHistory(c.id, { attempts: 0, restart_due_at: null });
      return;
    }
    const due = Date.now() + decision.delayMs;
    await this.deps.store.saveRestartHistory(c.id, { attempts: decision.attempt, restart_due_at: new Date(due).toISOString() });
    this.schedule(c.id, decision.attempt, decision.delayMs);
  }

  /** At daemon start: the restarts a previous run of the daemon had decided are scheduled again, when they were due. */
  async resume(serverId: string): Promise<number> {
    const pending = await this.deps.store.listPendingRestarts(serverId);
    for (const p of pending) this.schedule(p.id, p.attempts, Math.max(0, Date.parse(p.restart_due_at) - Date.now()));
    return pending.length;
  }

  /** Forgets a pending restart (the user stopped the container, or changed the settings it was decided under). */
  async cancel(id: string): Promise<void> {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    await this.deps.store.saveRestartHistory(id, { restart_due_at: null });
  }

  /** Cancels every timer and sets no more; pending restarts stay recorded for the next start of the daemon. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(id: string, attempt: number, delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(() => {
      this.timers.delete(id);
      void this.restartNow(id, attempt).catch((err) => this.deps.warn?.(`restart of ${id}`, err));
    }, delayMs);
    timer.unref();
    this.timers.set(id, timer);
  }

  private async restartNow(id: string, attempt: number): Promise<void> {
    if (this.closed) return;
    const c = await this.deps.store.getContainer(id);
    if (!c) return;
    // the pending restart is used up, whatever comes of it
    await this.deps.store.saveRestartHistory(id, { restart_due_at: null });
    // only while nothing else changed it: still stopped by itself, still meant to run
    if (c.status !== 'stopped' || c.desired_status === 'stopped' || c.current_operation) return;
    // the policy may have been changed (to "no", say) during the back-off
    if (decideRestart(c.restart_policy, c.exit_code, 0, { attempts: attempt - 1 }, false, this.deps.settings).restart === false) return;
    await this.deps.start(id, `restart policy "${c.restart_policy}" after exit code ${c.exit_code ?? 'unknown'}`, { attempt });
  }
}
