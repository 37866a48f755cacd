/**
 * The schema, as numbered additive migrations kept in code so it is visible in review.
 * A migration that has shipped is never edited: change the schema by adding the next number.
 */
import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import type { Database, SqlDialect } from './database.ts';
import { isSqliteBusy } from './sql-errors.ts';

/** Name of the unique (project_id, name) constraint of containers; NameTakenError is mapped from it. */
export const CONTAINER_NAME_CONSTRAINT = 'containers_project_id_name_unique';

/** Longest a SQLite migrator waits for another process that is migrating the same file. */
const SQLITE_LOCK_WAIT_MS = 5 * 60_000;

/** Every migration, by name; Kysely applies them in name order. */
function migrations(dialect: SqlDialect): Record<string, Migration> {
  return {
    '0001_initial': { up: (db) => createInitialSchema(db, dialect) },
    '0002_versions_and_idempotency': { up: (db) => addVersionsAndIdempotency(db) },
    '0003_status_log_projects': { up: (db) => addStatusLogProjects(db, dialect) },
    '0004_idempotency_owner': { up: (db) => addIdempotencyOwner(db) },
    '0005_restart_history': { up: (db) => addRestartHistory(db) },
    '0006_status_log_ordinal': { up: (db) => addStatusLogOrdinal(db, dialect) },
    '0007_container_image_id': { up: (db) => addContainerImageId(db) },
    '0008_container_network': { up: (db) => addContainerNetwork(db) },
    '0009_programs_and_aliases': { up: (db) => addProgramsAndAliases(db) },
    '0010_snapshots': { up: (db) => addSnapshots(db) },
    '0011_server_membership': { up: (db) => addServerMembership(db) },
    '0012_snapshot_replicas': { up: (db) => addSnapshotReplicas(db) },
    '0013_kit_programs': { up: (db) => addKitPrograms(db) },
  };
}

async function createInitialSchema(db: Kysely<unknown>, dialect: SqlDialect): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('read_only', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('automation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tokens_user_id').on('tokens').column('user_id').execute();

  await db.schema
    .createTable('projects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('projects_owner_id').on('projects').column('owner_id').execute();

  await db.schema
    .createTable('servers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('runtime', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('containers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('server_id', 'text', (c) => c.notNull().references('servers.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('desired_status', 'text', (c) => c.notNull())
    .addColumn('container_image', 'text', (c) => c.notNull())
    .addColumn('command', 'text') // JSON string[] or NULL
    .addColumn('environment_vars', 'text', (c) => c.notNull()) // JSON object
    .addColumn('autostart', 'integer', (c) => c.notNull())
    .addColumn('hoody_kit', 'integer', (c) => c.notNull())
    .addColumn('resources', 'text', (c) => c.notNull()) // JSON {cpu, memory_mb, pids}
    .addColumn('stop_timeout', 'integer', (c) => c.notNull())
    .addColumn('restart_policy', 'text', (c) => c.notNull())
    .addColumn('current_operation_id', 'text')
    .addColumn('current_operation', 'text')
    .addColumn('current_operation_started_at', 'text')
    .addColumn('exit_code', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint(CONTAINER_NAME_CONSTRAINT, ['project_id', 'name'])
    .execute();
  await db.schema.createIndex('containers_server_id').on('containers').column('server_id').execute();

  // No foreign key to containers: the audit trail outlives a deleted container.
  await db.schema
    .createTable('status_logs')
    .addColumn('seq', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
      dialect === 'postgres' ? c.generatedAlwaysAsIdentity().primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('from_status', 'text', (c) => c.notNull())
    .addColumn('to_status', 'text', (c) => c.notNull())
    .addColumn('transition_time', 'text', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('triggered_by', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull()) // JSON object
    .execute();
  await db.schema.createIndex('status_logs_container_id_seq').on('status_logs').columns(['container_id', 'seq']).execute();
}

/** A version per container (its ETag) and the answers kept for Idempotency-Key retries. */
async function addVersionsAndIdempotency(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('containers').addColumn('version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('scope', 'text', (c) => c.notNull()) // the caller: a user id
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status_code', 'integer') // NULL while the first request is in flight
    .addColumn('response_body', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
    .execute();
  await db.schema.createIndex('idempotency_keys_created_at').on('idempotency_keys').column('created_at').execute();
}

/**
 * The project of each status log row, so that a user's rows are read in SQL through an index
 * instead of filtering every tenant's rows afterwards. Existing rows take it from their
 * container, or, when the container is gone, from the `project_id` their metadata carries.
 */
async function addStatusLogProjects(db: Kysely<unknown>, dialect: SqlDialect): Promise<void> {
  await db.schema.alterTable('status_logs').addColumn('project_id', 'text').execute();
  const fromMetadata = dialect === 'postgres' ? sql`(status_logs.metadata::jsonb ->> 'project_id')` : sql`json_extract(status_logs.metadata, '$.project_id')`;
  await sql`update status_logs set project_id = coalesce((select c.project_id from containers c where c.id = status_logs.container_id), ${fromMetadata})`.execute(db);
  await db.schema.createIndex('status_logs_project_id_seq').on('status_logs').columns(['project_id', 'seq']).execute();
}

/** Which server answers an in-flight key, so that its daemon can release its own after a crash. */
async function addIdempotencyOwner(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('idempotency_keys').addColumn('server_id', 'text').execute();
  // the release at start reads one server's in-flight keys
  await db.schema.createIndex('idempotency_keys_server_id').on('idempotency_keys').columns(['server_id', 'status_code']).execute();
}

/** Each container's restart-policy history (attempts, last start, a pending restart), so it survives a daemon restart. */
async function addRestartHistory(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('containers').addColumn('restart_attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('containers').addColumn('last_started_at', 'text').execute();
  await db.schema.alterTable('containers').addColumn('restart_due_at', 'text').execute();
}

/** Name of the unique (container_id, ordinal) index of status_logs: a page of one container's log is a range on it. */
export const STATUS_LOG_ORDINAL_INDEX = 'status_logs_container_id_ordinal';

/**
 * Each status log row's position in its container's log (1..N, dense: rows are never deleted), so
 * that the total is one index seek (the highest position) and any page, however deep, is a range
 * instead of an OFFSET scan. Existing rows are numbered in seq order, per container.
 */
async function addStatusLogOrdinal(db: Kysely<unknown>, dialect: SqlDialect): Promise<void> {
  await db.schema.alterTable('status_logs').addColumn('ordinal', 'integer').execute();
  await sql`update status_logs set ordinal = numbered.n
    from (select seq, row_number() over (partition by container_id order by seq) as n from status_logs) as numbered
    where numbered.seq = status_logs.seq`.execute(db);
  await db.schema.createIndex(STATUS_LOG_ORDINAL_INDEX).on('status_logs').columns(['container_id', 'ordinal']).unique().execute();
  // several daemons share a PostgreSQL database: one of an older version, still running, must fail
  // its log writes loudly rather than add rows without a position, which no page would show
  if (dialect === 'postgres') await sql`alter table status_logs alter column ordinal set not null`.execute(db);
}

/**
 * The id of the image a container was created from (`sha256:…`, or `builtin:busybox`), so it
 * keeps running that image when its name is pulled again to another one; null for containers
 * made before images had ids (they run the image their name names).
 */
async function addContainerImageId(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('containers').addColumn('image_id', 'text').execute();
}

/** Name of the unique (server_id, ipv4_address) index of containers: AddressTakenError is mapped from it. */
export const CONTAINER_ADDRESS_INDEX = 'containers_server_id_ipv4_address_unique';
/** Name of the primary key of published_ports: PortTakenError is mapped from it. */
export const PUBLISHED_PORT_KEY = 'published_ports_pk';

/**
 * Each container's network: its mode (`bridge` or `none`; containers made before are `none`), its
 * address on the server's bridge (never two containers of a server with the same one) and its
 * published ports, as JSON on the row and as one `published_ports` row per host port, whose primary
 * key makes a host port of a server held by one container at most, even under concurrent creates.
 */
async function addContainerNetwork(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('containers').addColumn('network_mode', 'text', (c) => c.notNull().defaultTo('none')).execute();
  await db.schema.alterTable('containers').addColumn('ipv4_address', 'text').execute();
  await db.schema.alterTable('containers').addColumn('ports', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await db.schema.createIndex(CONTAINER_ADDRESS_INDEX).on('containers').columns(['server_id', 'ipv4_address']).unique().execute();
  await db.schema
    .createTable('published_ports')
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('host_port', 'integer', (c) => c.notNull())
    .addColumn('host_ip', 'text', (c) => c.notNull())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('container_port', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint(PUBLISHED_PORT_KEY, ['server_id', 'protocol', 'host_port'])
    .execute();
  await db.schema.createIndex('published_ports_container_id').on('published_ports').column('container_id').execute();
}

/** Name of the primary key of service_hosts: ServiceNameTakenError is mapped from it. */
export const SERVICE_HOST_KEY = 'service_hosts_pk';
/** Name of the unique index of proxy_aliases.alias: AliasTakenError is mapped from it. */
export const PROXY_ALIAS_UNIQUE = 'proxy_aliases_alias_unique';

/**
 * The programs a container serves (JSON on its row), their host labels (JSON on the row and one
 * `service_hosts` row each, whose primary key keeps a label of a server to one container even under
 * concurrent creates), and proxy aliases (an alias names one program instance of one container).
 */
async function addProgramsAndAliases(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('containers').addColumn('programs', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await db.schema.alterTable('containers').addColumn('service_labels', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await db.schema
    .createTable('service_hosts')
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint(SERVICE_HOST_KEY, ['server_id', 'label'])
    .execute();
  await db.schema.createIndex('service_hosts_container_id').on('service_hosts').column('container_id').execute();
  await db.schema
    .createTable('proxy_aliases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('program', 'text', (c) => c.notNull())
    .addColumn('program_index', 'integer', (c) => c.notNull())
    .addColumn('target_path', 'text', (c) => c.notNull())
    .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex(PROXY_ALIAS_UNIQUE).on('proxy_aliases').column('alias').unique().execute();
  await db.schema.createIndex('proxy_aliases_container_id').on('proxy_aliases').column('container_id').execute();
}

/** Name of the unique (container_id, alias) index of snapshots; SnapshotAliasTakenError is mapped from it. */
export const SNAPSHOT_ALIAS_UNIQUE = 'snapshots_container_id_alias_unique';

/** Snapshots of containers' files: their files live in the server's snapshot store, these rows say what each is. */
async function addSnapshots(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('snapshots')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('alias', 'text')
    .addColumn('image_id', 'text')
    .addColumn('container_image', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('files', 'integer', (c) => c.notNull())
    .addColumn('content_bytes', 'bigint', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('frozen_ms', 'real')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  // NULL aliases are distinct in both SQLite and PostgreSQL: many snapshots may have none
  await db.schema.createIndex(SNAPSHOT_ALIAS_UNIQUE).on('snapshots').columns(['container_id', 'alias']).unique().execute();
  await db.schema.createIndex('snapshots_server_id').on('snapshots').column('server_id').execute();
}

/** What servers tell each other: where their daemon and router answer, its version, what the server has and uses. */
async function addServerMembership(db: Kysely<unknown>): Promise<void> {
  for (const column of ['advertise_url', 'proxy_url', 'version', 'capacity', 'usage']) await db.schema.alterTable('servers').addColumn(column, 'text').execute();
}

/** Copies of snapshots' files kept on other servers than their own, for a server that is lost. */
async function addSnapshotReplicas(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('snapshot_replicas')
    .addColumn('snapshot_id', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('snapshot_replicas_pk', ['snapshot_id', 'server_id'])
    .execute();
  await db.schema.createIndex('snapshot_replicas_server_id').on('snapshot_replicas').column('server_id').execute();
}

/**
 * The kit grew from one terminal to KIT_PROGRAMS_0013 (terminal-1…3, display-1): the containers
 * made with `hoody_kit` before get the host labels of the new ones, after their terminal-1's label
 * (`{prefix}-terminal-1`), in the order kitPrograms lists them. A label another container already
 * holds is left empty (that host is not routed) rather than failing the upgrade.
 */
const KIT_PROGRAMS_0013 = ['terminal-1', 'terminal-2', 'terminal-3', 'display-1'];

async function addKitPrograms(db: Kysely<unknown>): Promise<void> {
  const rows = await sql<{ id: string; server_id: string; programs: string; service_labels: string }>`select id, server_id, programs, service_labels from containers where hoody_kit = 1`.execute(db);
  for (const row of rows.rows) {
    const declared = (JSON.parse(row.programs) as unknown[]).length;
    const labels = JSON.parse(row.service_labels) as string[];
    const old = labels[declared];
    if (labels.length !== declared + 1 || typeof old !== 'string' || !old.endsWith('-terminal-1')) continue;
    const prefix = old.slice(0, -'-terminal-1'.length);
    const next = labels.slice(0, declared);
    for (const kit of KIT_PROGRAMS_0013) {
      const label = `${prefix}-${kit}`;
      if (kit === 'terminal-1') {
        next.push(label);
        continue;
      }
      const taken = await sql<{ n: number }>`select count(*) as n from service_hosts where server_id = ${row.server_id} and label = ${label}`.execute(db);
      if (Number(taken.rows[0]?.n ?? 0) > 0) {
        next.push('');
        continue;
      }
      await sql`insert into service_hosts (server_id, label, container_id) values (${row.server_id}, ${label}, ${row.id})`.execute(db);
      next.push(label);
    }
    await sql`update containers set service_labels = ${JSON.stringify(next)} where id = ${row.id}`.execute(db);
  }
}

/**
 * Applies every pending migration. Two daemons starting at once take turns: on PostgreSQL
 * Kysely holds an advisory lock around the migration transaction; on SQLite the whole run is
 * one BEGIN IMMEDIATE transaction, so the second waits and then finds nothing left to do.
 */
export async function migrateToLatest(db: Kysely<Database>, dialect: SqlDialect): Promise<void> {
  if (dialect === 'postgres') return runMigrator(db, dialect);
  await db.connection().execute(async (conn) => {
    await beginImmediate(conn);
    let committed = false;
    try {
      await runMigrator(conn, dialect);
      await sql`commit`.execute(conn);
      committed = true;
    } finally {
      if (!committed) await sql`rollback`.execute(conn).catch(() => undefined);
    }
  });
}

async function runMigrator(db: Kysely<Database>, dialect: SqlDialect): Promise<void> {
  const provider = { getMigrations: () => Promise.resolve(migrations(dialect)) };
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(`migration failed: ${String(error)}`);
}

/**
 * Takes SQLite's write lock, waiting asynchronously: better-sqlite3 blocks the whole thread in
 * its busy handler, which would deadlock two stores of one process, so the handler is off here.
 */
async function beginImmediate(conn: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{ timeout: number }>`pragma busy_timeout`.execute(conn);
  const busyTimeout = rows[0]?.timeout ?? 0;
  await sql`pragma busy_timeout = 0`.execute(conn);
  try {
    const deadline = Date.now() + SQLITE_LOCK_WAIT_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 250)) {
      try {
        await sql`begin immediate`.execute(conn);
        return;
      } catch (err) {
        if (!isSqliteBusy(err)) throw err;
        if (Date.now() > deadline) throw new Error(`sqlite: another process held the migration lock for over ${SQLITE_LOCK_WAIT_MS / 1000} s`, { cause: err });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  } finally {
    await sql`pragma busy_timeout = ${sql.lit(busyTimeout)}`.execute(conn);
  }
}
