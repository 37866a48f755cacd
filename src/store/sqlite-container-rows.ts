/**
 * Container rows as last read from SQLite, for the read of one container that every GET makes. A
 * row is reused only while nothing can have changed it since it was read: no statement that may
 * write has run on the daemon's connection (`writes`), and SQLite's `data_version`, which changes
 * whenever another connection commits, is the same. This is no time-to-live: the first read after
 * any change, by this daemon or by anyone else, reads the table again.
 */
import type { Selectable } from 'kysely';
import type { ContainersTable } from './database.ts';

/** How many rows are kept; past it the one read first goes. */
const MAX_ROWS = 1000;

/** What proves the database unchanged: the connection's count of writes and SQLite's data_version, taken before a row is read. */
export interface Freshness {
  writes: number;
  dataVersion: number;
}

/** The container rows read last, each with the freshness it was read under. */
export class SqliteContainerRows {
  private readonly rows = new Map<string, { at: Freshness; row: Selectable<ContainersTable> }>();

  /** `writes`: how many statements that may write the connection has prepared to run. */
  constructor(
    private readonly writes: () => number,
    private readonly max = MAX_ROWS,
  ) {}

  /** The freshness now, given the data_version just read on the connection. */
  now(dataVersion: number): Freshness {
    return { writes: this.writes(), dataVersion };
  }

  /** The row read under exactly this freshness, if kept. */
  get(id: string, at: Freshness): Selectable<ContainersTable> | undefined {
    const kept = this.rows.get(id);
    return kept && kept.at.writes === at.writes && kept.at.dataVersion === at.dataVersion ? kept.row : undefined;
  }

  /** Keeps a row read after `at` was taken (or forgets the id when there is no such row). */
  set(id: string, at: Freshness, row: Selectable<ContainersTable> | undefined): void {
    this.rows.delete(id);
    if (!row) return;
    if (this.rows.size >= this.max) {
      const oldest = this.rows.keys().next().value;
      if (oldest !== undefined) this.rows.delete(oldest);
    }
    this.rows.set(id, { at, row });
  }
}
