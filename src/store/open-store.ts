/**
 * Opens the store a daemon is configured for: the embedded SQLite file in its data dir, or a
 * shared PostgreSQL database when a URL is given. Migrations have run when it returns.
 */
import { chmod, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { Database } from './database.ts';
import { KyselyStore } from './kysely-store.ts';
import { withStatementCache } from './sqlite-statement-cache.ts';
import type { Store } from './store.ts';

/** The SQLite database in the data dir, and the files SQLite keeps beside it in WAL mode. */
export const SQLITE_FILE = 'hoody.db';
export const SQLITE_FILES = [SQLITE_FILE, `${SQLITE_FILE}-wal`, `${SQLITE_FILE}-shm`] as const;

/** Where the store keeps its data. */
export interface OpenStoreOptions {
  /** The daemon's data dir; the SQLite file is `<dataDir>/hoody.db`. */
  dataDir: string;
  /** `postgres://` or `postgresql://` URL; when unset or empty, SQLite is used. */
  databaseUrl?: string;
}

/** Opens (and migrates) the SQLite store in dataDir, or the PostgreSQL one at databaseUrl. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const store = options.databaseUrl ? await openPostgres(options.databaseUrl) : await openSqlite(options.dataDir);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

async function openSqlite(dataDir: string): Promise<KyselyStore> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await makePrivate(dataDir);
  // loaded here: a daemon on PostgreSQL needs none of it
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const database = new BetterSqlite3(join(dataDir, SQLITE_FILE));
  try {
    // busy_timeout first: the other pragmas may have to wait for a daemon that is writing.
    database.pragma('busy_timeout = 5000');
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
  } catch (err) {
    database.close();
    throw err;
  }
  const counted = withStatementCache(database);
  return new KyselyStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: counted }) }), 'sqlite', { sqliteWrites: counted.writes });
}

/**
 * Creates the database file 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
 * database file's mode), and tightens files an older version left readable, before any secret is written.
 */
async function makePrivate(dataDir: string): Promise<void> {
  const file = await open(join(dataDir, SQLITE_FILE), 'a', 0o600);
  await file.close();
  for (const name of SQLITE_FILES) {
    await chmod(join(dataDir, name), 0o600).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

async function openPostgres(databaseUrl: string): Promise<KyselyStore> {
  if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    // Quote the scheme only: the rest of the URL may hold a password.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(databaseUrl)?.[0];
    throw new Error(`database URL ${scheme ? `scheme "${scheme}"` : 'without a scheme'} is not supported: use postgres:// or postgresql://, or no URL for SQLite`);
  }
  // loaded here: a daemon on SQLite needs none of the driver (about 20 modules)
  const { default: pg } = await import('pg');
  // int8 (status log seq, COUNT) as a JS number, for this pool only: our values stay far below 2^53.
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  const pool = new pg.Pool({ connectionString: databaseUrl, types });
  // An idle client lost its connection (server restart): the pool replaces it, and the next
  // query reports a lasting outage. Without a listener the whole daemon would crash.
  pool.on('error', () => undefined);
  return new KyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres');
}
