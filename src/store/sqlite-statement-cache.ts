/**
 * better-sqlite3 behind Kysely with its prepared statements kept: Kysely's SQLite driver prepares
 * every query anew, and on a hot read (a token, a container) preparing cost more than running.
 */
import type { Database as BetterSqlite3Database, Statement } from 'better-sqlite3';
import type { CompiledQuery, SqliteDatabase } from 'kysely';

/** How many distinct statements are kept; past it the least recently added goes (lists of ids make unbounded variety). */
const MAX_STATEMENTS = 500;

/**
 * The database as Kysely's SqliteDialect takes it, preparing each distinct SQL text once. A kept
 * statement is run by one query at a time: the store runs every query to completion (no streaming).
 */
export function withStatementCache(database: BetterSqlite3Database, max = MAX_STATEMENTS): SqliteDatabase {
  const statements = new Map<string, Statement>();
  return {
    close: () => {
      statements.clear();
      database.close();
    },
    prepare: (sql: string) => {
      let statement = statements.get(sql);
      if (statement) return statement;
      statement = database.prepare(sql);
      if (statements.size >= max) {
        const oldest = statements.keys().next().value;
        if (oldest !== undefined) statements.delete(oldest);
      }
      statements.set(sql, statement);
      return statement;
    },
  };
}

/**
 * Queries run on the connection synchronously, beside Kysely's driver: a transaction of a few
 * statements with no await between them, where Kysely's path pays a round of promises per statement.
 */
export interface SyncSqlite {
  /**
   * Runs `work` as one transaction without yielding, or answers undefined (running nothing) when a
   * transaction is open on the connection: one of Kysely's, between two of its awaits, which this
   * must not join. The caller then takes Kysely's path, which waits for it.
   */
  transaction<T>(work: (query: (q: CompiledQuery) => Record<string, unknown>[]) => T): { value: T } | undefined;
}

/** The synchronous side of a connection whose statements `cache` (withStatementCache's) keeps. */
export function syncSqlite(database: BetterSqlite3Database, cache: SqliteDatabase): SyncSqlite {
  const query = (q: CompiledQuery): Record<string, unknown>[] => {
    const statement = cache.prepare(q.sql) as unknown as Statement;
    if (statement.reader) return statement.all(q.parameters) as Record<string, unknown>[];
    statement.run(q.parameters);
    return [];
  };
  return {
    transaction: (work) => (database.inTransaction ? undefined : { value: database.transaction(() => work(query))() }),
  };
}
