/**
 * Recognising driver errors by category: better-sqlite3 and pg report the same conditions with
 * different codes, and only this file knows both.
 */
import type { SqlDialect } from './database.ts';

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

const asDriverError = (err: unknown): DriverError => (typeof err === 'object' && err !== null ? (err as DriverError) : {});

/** True when SQLite could not take a lock because another connection holds it. */
export function isSqliteBusy(err: unknown): boolean {
  const { code } = asDriverError(err);
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** True when the error is a violation of the named unique constraint (or primary key) over `table(columns)`. */
export function isUniqueViolation(err: unknown, dialect: SqlDialect, target: { constraint: string; table: string; columns: string[] }): boolean {
  const { code, constraint, message } = asDriverError(err);
  if (dialect === 'postgres') return code === '23505' && constraint === target.constraint;
  // SQLite names the columns, not the constraint: "UNIQUE constraint failed: containers.project_id, containers.name".
  const columns = target.columns.map((c) => `${target.table}.${c}`).join(', ');
  return (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') && typeof message === 'string' && message.endsWith(`: ${columns}`);
}
