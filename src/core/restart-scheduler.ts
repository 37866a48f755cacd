/**
 * Restart policies in motion: after an exit the user did not ask for, decides (restart-policy.ts)
 * whether to start the container again, keeps each container's history of restarts, and holds
 * the back-off timers. The lifecycle engine tells it when a run begins and when one ends.
 */
import type { ContainerRecord, Store } from '../store/store.ts';
import { decideRestart, type RestartPolicySettings } from './restart-policy.ts';

export interface RestartSchedulerDeps {
  store: Store;
  /** Starts the container as the restart policy (the lifecycle engine's system start). */
  start: (id: string, reason: string, extra: Record<string, unknown>) => Promise<unknown>;
  settings?: RestartPolicySettings;
  warn?: (message: string, err?: unknown) => void;
}

export class RestartScheduler {
  /** Per container: consecutive restarts and when the current run began. */
  private readonly history = new Map<string, { attempts: number; startedAt: number }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly deps: RestartSchedulerDeps) {}

  /** A run of the container has begun (any start: the user's, autostart's or the policy's). */
  runStarted(id: string): void {
    const history = this.history.get(id);
    this.history.set(id, { attempts: history?.attempts ?? 0, startedAt: Date.now() });
  }

  /** After an exit the user did not ask for: schedules a restart when the container's policy says so. */
  exited(c: ContainerRecord): void {
    if (this.closed) return;
    const history = this.history.get(c.id) ?? { attempts: 0, startedAt: 0 };
    const ranFor = history.startedAt ? Date.now() - history.startedAt : Number.POSITIVE_INFINITY;
    const decision = decideRestart(c.restart_policy, c.exit_code, ranFor, history, c.desired_status === 'stopped', this.deps.settings);
    if (!decision.restart) {
      this.history.delete(c.id);
      return;
    }
    this.history.set(c.id, { attempts: decision.attempt, startedAt: 0 });
    this.schedule(c.id, decision.attempt, c.exit_code, decision.delayMs);
  }

  /** Forgets a pending restart (its decision was made under settings that just changed). */
  cancel(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Cancels every pending restart; none is scheduled after this. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(id: string, attempt: number, exitCode: number | null, delayMs: number): void {
    this.cancel(id);
    const timer = setTimeout(() => {
      this.timers.delete(id);
      void this.restartNow(id, attempt, exitCode).catch((err) => this.deps.warn?.(`restart of ${id}`, err));
    }, delayMs);
    timer.unref();
    this.timers.set(id, timer);
  }

  private async restartNow(id: string, attempt: number, exitCode: number | null): Promise<void> {
    const c = await this.deps.store.getContainer(id);
    // only while nothing else changed it: still stopped by itself, still meant to run
    if (!c || c.status !== 'stopped' || c.desired_status === 'stopped' || c.current_operation || this.closed) return;
    // the policy may have been changed (to "no", say) during the back-off
    if (decideRestart(c.restart_policy, exitCode, 0, { attempts: attempt - 1 }, false, this.deps.settings).restart === false) return;
    await this.deps.start(id, `restart policy "${c.restart_policy}" after exit code ${exitCode ?? 'unknown'}`, { attempt });
  }
}
