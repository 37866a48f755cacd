/**
 * The daemon's Prometheus metrics (prom-client), one registry per daemon: operations and their
 * latency (told by core through CoreObserver), drift corrected, containers by status and open
 * event streams and waits (read at scrape time), HTTP requests, and the process's own.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CONTAINER_STATUSES, type ContainerStatus } from '../api/schemas.ts';
import type { CoreObserver, DriftSource, OperationResult } from '../core/observer.ts';
import type { SessionLimits } from '../core/token-sessions.ts';
import { RequestHistogram } from './request-histogram.ts';

/** What the metrics read when scraped. */
export interface MetricsSources {
  /** This server's containers by status, in one grouped count. */
  containersByStatus(): Promise<Partial<Record<ContainerStatus, number>>>;
  /** Event streams and waits open on this daemon. */
  sessionsOpen(): SessionLimits;
}

/** Operation latency buckets, seconds: a pause takes milliseconds, a graceful stop up to its timeout. */
const OPERATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** HTTP latency buckets, seconds: a read answers in under a millisecond. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

export class Metrics implements CoreObserver {
  readonly registry = new Registry();
  private readonly operationDuration: Histogram<'operation' | 'result'>;
  private readonly operations: Counter<'operation' | 'result'>;
  private readonly drift: Counter<'source'>;
  private readonly requestDuration: RequestHistogram;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.operationDuration = new Histogram({ name: 'hoody_operation_duration_seconds', help: 'Duration of container operations, from claim to recorded outcome', labelNames: ['operation', 'result'], buckets: OPERATION_BUCKETS, registers });
    this.operations = new Counter({ name: 'hoody_operations_total', help: 'Container operations carried out, by outcome', labelNames: ['operation', 'result'], registers });
    this.drift = new Counter({ name: 'hoody_reconcile_drift_total', help: 'Recorded statuses corrected to what the runtime shows', labelNames: ['source'], registers });
    for (const source of ['reconciler', 'recovery'] as const) this.drift.inc({ source }, 0);
    this.requestDuration = new RequestHistogram('hoody_http_request_duration_seconds', 'HTTP requests answered, by route and status code', HTTP_BUCKETS, this.registry);
    new Gauge({
      name: 'hoody_containers',
      help: "This server's containers by status",
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await sources.containersByStatus();
        for (const status of CONTAINER_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    });
    new Gauge({
      name: 'hoody_event_streams_open',
      help: 'Event streams (GET /events) open on this daemon',
      registers,
      collect() {
        this.set(sources.sessionsOpen().stream);
      },
    });
    new Gauge({
      name: 'hoody_waits_open',
      help: 'Waits (GET /containers/{id}/wait) open on this daemon',
      registers,
      collect() {
        this.set(sources.sessionsOpen().wait);
      },
    });
  }

  operationFinished(operation: string, result: OperationResult, seconds: number): void {
    this.operations.inc({ operation, result });
    this.operationDuration.observe({ operation, result }, seconds);
  }

  driftCorrected(source: DriftSource): void {
    this.drift.inc({ source });
  }

  /** One answered request; `route` is the route's pattern (never the raw URL, which would make a series per id). */
  requestAnswered(method: string, route: string, statusCode: number, seconds: number): void {
    this.requestDuration.seriesFor(`${method} ${statusCode} ${route}`, { method, route, status_code: statusCode }).observe(seconds);
  }

  /** The text exposition and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Stops the process collectors' timers with the daemon. */
  close(): void {
    this.registry.clear();
  }
}
