/**
 * A container's logs as the API serves them: the lines it wrote to stdout and stderr, oldest
 * first, narrowed by stream and time, the last `tail` of them; with `follow`, then every new line
 * as it is written (a read every FOLLOW_POLL_MS) until the container stops (or, with
 * `follow_restarts`, until it is deleted) or the reader goes.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { ContainerStatus } from '../api/schemas.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { LogParser, readAll, readLogRecords, type LogRecord, type LogStream } from '../runtime/log-files.ts';
import type { Actor } from './actor.ts';
import type { EventHub } from './event-hub.ts';
import { invalidInput } from './errors.ts';

export type { LogRecord } from '../runtime/log-files.ts';

export interface LogQuery {
  tail?: number;
  since?: string;
  until?: string;
  stream?: LogStream | 'all';
  follow?: boolean;
  follow_restarts?: boolean;
}

export interface LogDeps {
  /** The container the actor may see (NOT_FOUND otherwise). */
  get(actor: Actor, id: string): Promise<{ id: string; status: ContainerStatus }>;
  driver: Pick<RuntimeDriver, 'logFiles'>;
  events?: Pick<EventHub, 'subscribe'>;
}

/** How often a follower reads what was added. */
export const FOLLOW_POLL_MS = 50;

/** A time as the API takes it: RFC 3339, Unix seconds, or a duration before now (`90s`, `10m`, `2h`, `1d`); in ms since the epoch. */
export function parseLogTime(text: string, field: string, now = Date.now()): number {
  const relative = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text);
  if (relative) return now - Number(relative[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text) * 1000;
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? recordTime(text) : NaN;
  if (!Number.isFinite(ms)) throw invalidInput(`${field} must be an RFC 3339 time, Unix seconds or a duration like 10m, not "${text}"`, { field });
  return ms;
}

/** A record's time in ms (its nanoseconds cut to milliseconds). */
export function recordTime(time: string): number {
  return Date.parse(time.replace(/(\.\d{3})\d+/, '$1'));
}

export class ContainerLogs {
  constructor(private readonly deps: LogDeps) {}

  /** Refuses what `read` would refuse before it sends anything (NOT_FOUND, WRONG_SERVER). */
  async check(actor: Actor, id: string): Promise<void> {
    await this.deps.get(actor, id);
  }

  /**
   * Sends the actor's container's log records to `emit` (which may wait: the reader's pace), then
   * follows when asked. Resolves when done, or when `signal` aborts.
   */
  async read(actor: Actor, id: string, q: LogQuery, emit: (r: LogRecord) => Promise<void>, signal: AbortSignal): Promise<void> {
    const since = q.since === undefined ? undefined : parseLogTime(q.since, 'since');
    const until = q.until === undefined ? undefined : parseLogTime(q.until, 'until');
    // listening before the container is read: a stop between the read and the subscription is not missed
    let stopped = false;
    let deleted = false;
    const early = q.follow
      ? this.deps.events?.subscribe((e) => {
          if (e.type !== 'transition' || e.row.container_id !== id) return;
          if (e.row.metadata.operation === 'delete') deleted = true;
          // latched: a follower without follow_restarts ends at the first stop, even one a start followed at once
          if (e.row.to_status !== 'running') stopped = true;
        })
      : undefined;
    let c: { id: string; status: ContainerStatus };
    try {
      c = await this.deps.get(actor, id);
    } catch (err) {
      early?.close();
      throw err;
    }
    const wanted = (r: LogRecord): boolean => {
      if (q.stream && q.stream !== 'all' && r.stream !== q.stream) return false;
      if (since === undefined && until === undefined) return true;
      const t = recordTime(r.time);
      return (since === undefined || t >= since) && (until === undefined || t <= until);
    };
    // a follower hears of the stop before it reads the last lines: nothing written before the stop is missed
    const isEnded = (): boolean => !q.follow || deleted || (!q.follow_restarts && (stopped || c.status !== 'running')) || (until !== undefined && until <= Date.now());
    let ended = isEnded();
    const sub = early;
    try {
      const files = await this.deps.driver.logFiles(id);
      const { records, end } = await readLogRecords(files);
      let chosen = records.filter(wanted);
      if (q.tail !== undefined) chosen = q.tail === 0 ? [] : chosen.slice(-q.tail);
      for (const r of chosen) {
        if (signal.aborted) return;
        await emit(r);
      }
      if (ended || signal.aborted) return;
      await this.follow(id, end, (r) => (wanted(r) ? emit(r) : Promise.resolve()), () => (ended ||= isEnded()), signal);
    } finally {
      sub?.close();
    }
  }

  /** Reads what is added to the current log file (and to the next one after a rotation) until `done()` holds after a read, or `signal` aborts. */
  private async follow(id: string, from: { file: string; offset: number; ino: number } | undefined, emit: (r: LogRecord) => Promise<void>, done: () => boolean, signal: AbortSignal): Promise<void> {
    const parser = new LogParser();
    let handle: FileHandle | undefined;
    let ino = from?.ino;
    let offset = from?.offset ?? 0;
    try {
      if (from) handle = await open(from.file, 'r').catch(() => undefined);
      while (!signal.aborted) {
        // read after checking: the lines written before the stop are read on this last round
        const last = done();
        const current = (await this.deps.driver.logFiles(id)).at(-1);
        const now = current ? await stat(current).catch(() => undefined) : undefined;
        if (handle) {
          const out: LogRecord[] = [];
          offset = await readAll(handle, offset, (text) => out.push(...parser.push(text)));
          for (const r of out) await emit(r);
        }
        if (current && now && now.ino !== ino) {
          // rotated (or created): the old file was read to its end above
          await handle?.close();
          handle = await open(current, 'r').catch(() => undefined);
          ino = now.ino;
          offset = 0;
          continue;
        }
        if (last) return;
        await pause(FOLLOW_POLL_MS, signal);
      }
    } finally {
      await handle?.close();
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
