/**
 * The continuous half of "state never drifts": a periodic sweep (exit events do the fast half)
 * that compares every container of this server with the runtime, and a watchdog that releases
 * any operation claim nobody is carrying out. Each correction is logged as `system`.
 */
import type { RuntimeDriver } from '../runtime/driver.ts';
import type { Store } from '../store/store.ts';
import { observedStatus, type ContainerService, type ServerIdentity } from './container-service.ts';
import { removeHalfStart, settle, thawIfFrozenForFiles } from './recovery.ts';
import type { CoreObserver } from './observer.ts';

export interface ReconcilerOptions {
  intervalMs: number;
  /** A claim not carried out by this process is released after this long (covers the claim-to-start gap). */
  orphanedAfterMs: number;
  /** Idempotency keys older than this are forgotten. */
  idempotencyTtlMs: number;
  warn?: (message: string, err?: unknown) => void;
  /** Told of each correction (metrics). */
  observer?: CoreObserver;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: { store: Store; driver: RuntimeDriver; containers: ContainerService; server: ServerIdentity },
    private readonly opts: ReconcilerOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.sweep(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over this server's containers; overlapping calls share the pass in progress. */
  sweep(): Promise<void> {
    this.running ??= this.pass()
      .catch((err) => this.opts.warn?.('reconcile sweep', err))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const { store, driver, containers, server } = this.deps;
    for (const c of await store.listContainers({ server_id: server.id })) {
      const op = c.current_operation;
      if (op) {
        const age = Date.now() - Date.parse(op.started_at);
        if (!containers.isInFlight(c.id, op.id) && age > this.opts.orphanedAfterMs) {
          let state = await driver.state(c.id).catch(() => undefined);
          // a start nobody carries out any more may have left processes waiting: end it first
          const removed = state?.status === 'creating' && (await driver.abandonStart(c.id).catch((err) => (this.opts.warn?.(`half-made start of ${c.id}`, err), false)));
          if (removed) state = await driver.state(c.id).catch(() => undefined);
          state = await thawIfFrozenForFiles(driver, c, state, this.opts.warn);
          const seen = observedStatus(state) ?? 'failed';
          // a copy nobody finishes has files half-written: failed, never copying
          const settled = await settle(store, server, c, seen === 'creating' || c.status === 'copying' ? 'failed' : seen, removed ? c.exit_code : (state?.exitCode ?? null), {
            operation: 'reconcile',
            interrupted_operation: op.operation,
            reason: `watchdog: no one was carrying out "${op.operation}" (claimed ${Math.round(age / 1000)} s ago)${removed ? '; its half-made start was removed' : ''}`,
          });
          if (settled) this.corrected();
        }
        continue;
      }
      const state = await driver.state(c.id).catch(() => undefined);
      if (state?.status === 'creating') {
        const after = await removeHalfStart(this.deps, c, 'the reconciler found a half-made start nobody was carrying out (processes waiting to run): removed', this.opts.warn);
        if (after !== c) this.corrected();
        continue;
      }
      if (c.status !== 'running' && c.status !== 'paused') continue;
      if (state && observedStatus(state) !== c.status && (await containers.reconcile(c.id, 'reconcile'))) this.corrected();
    }
    await store.purgeIdempotencyKeys(new Date(Date.now() - this.opts.idempotencyTtlMs).toISOString());
  }

  private corrected(): void {
    this.opts.observer?.driftCorrected('reconciler');
  }
}
