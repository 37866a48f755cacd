/**
 * better-sqlite3 behind Kysely with its prepared statements kept: Kysely's SQLite driver prepares
 * every query anew, and on a hot read (a token, a container) preparing cost more than running.
 */
import type { Database as BetterSqlite3Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** How many distinct statements are kept; past it the least recently added goes (lists of ids make unbounded variety). */
const MAX_STATEMENTS = 500;

/** The database as Kysely takes it, counting the statements that may write. */
export interface CountingSqliteDatabase extends SqliteDatabase {
  /** How many statements that may change the database have been prepared to run (Kysely prepares each statement it runs, just before running it). */
  writes(): number;
}

/**
 * The database as Kysely's SqliteDialect takes it, preparing each distinct SQL text once. A kept
 * statement is run by one query at a time: the store runs every query to completion (no streaming).
 */
export function withStatementCache(database: BetterSqlite3Database, max = MAX_STATEMENTS): CountingSqliteDatabase {
  const statements = new Map<string, Statement>();
  let writes = 0;
  return {
    writes: () => writes,
    close: () => {
      statements.clear();
      database.close();
    },
    prepare: (sql: string) => {
      let statement = statements.get(sql);
      if (statement) {
        // counted before it runs: a row read before this statement is not reused after it
        if (!statement.readonly) writes++;
        return statement;
      }
      statement = database.prepare(sql);
      if (!statement.readonly) writes++;
      if (statements.size >= max) {
        const oldest = statements.keys().next().value;
        if (oldest !== undefined) statements.delete(oldest);
      }
      statements.set(sql, statement);
      return statement;
    },
  };
}
