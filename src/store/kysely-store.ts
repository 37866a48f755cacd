/**
 * The Store over Kysely: one implementation for SQLite and PostgreSQL, branching on the dialect
 * only where the SQL differs (migration locking, the status log's commit order, error codes).
 */
import { CompiledQuery, sql, type Kysely, type Selectable, type Transaction as KyselyTransaction, type Updateable } from 'kysely';
import type { ContainerStatus, SortOrder } from '../api/schemas.ts';
import type { ContainersTable, Database, SqlDialect } from './database.ts';
import { CONTAINER_ADDRESS_INDEX, CONTAINER_NAME_CONSTRAINT, PROXY_ALIAS_UNIQUE, PUBLISHED_PORT_KEY, SERVICE_HOST_KEY, SNAPSHOT_ALIAS_UNIQUE, migrateToLatest } from './migrations.ts';
import {
  containerFromRow,
  containerToRow,
  patchToRow,
  portRows,
  projectFromRow,
  proxyAliasFromRow,
  proxyAliasToRow,
  serverFromRow,
  snapshotFromRow,
  snapshotToRow,
  statusLogFromRow,
  statusLogToRow,
  tokenFromRow,
  tokenToRow,
  userFromRow,
  userToRow,
} from './row-codec.ts';
import { isUniqueViolation } from './sql-errors.ts';
import { SqliteContainerRows } from './sqlite-container-rows.ts';
import type { PortProtocol, PublishedPort } from '../network/types.ts';
import {
  AddressTakenError,
  AliasTakenError,
  ContainerLimitError,
  NameTakenError,
  OwnerLimitError,
  PortTakenError,
  ServiceNameTakenError,
  SnapshotAliasTakenError,
  type ContainerFilter,
  type CreateContainerOptions,
  type ContainerPatch,
  type ContainerRecord,
  type IdempotencyRecord,
  type NewStatusLog,
  type ProjectRecord,
  type ProxyAliasFilter,
  type ProxyAliasRecord,
  type RestartHistoryRecord,
  type SnapshotFilter,
  type SnapshotReplica,
  type ContainerMove,
  type RestorableConfig,
  type SnapshotReplicaFilter,
  type SnapshotRecord,
  type ServerRecord,
  type ServerUsage,
  type StatusLogRecord,
  type StatusLogScope,
  type Store,
  type TokenRecord,
  type Transition,
  type UserRecord,
} from './store.ts';

/** Advisory lock that makes status log rows commit in seq order on PostgreSQL (any constant int8). */
const STATUS_LOG_APPEND_LOCK = 0x686f6f64795f6c6fn; // "hoody_lo"
/** First key of the per-user lock around each capped count of a create (the second is the user's hash). */
const OWNED_COUNT_LOCKS = { containers: 0x686f6f64, projects: 0x686f6f70, tokens: 0x686f6f74 } as const; // "hood", "hoop", "hoot"

/** How often beginOperation re-tries when the holder finished between the claim and the read. */
const CLAIM_ATTEMPTS = 5;

/** Changes whenever another connection to the SQLite file commits. */
const DATA_VERSION = CompiledQuery.raw('pragma data_version');

const NAME_UNIQUE = { constraint: CONTAINER_NAME_CONSTRAINT, table: 'containers', columns: ['project_id', 'name'] };
const ADDRESS_UNIQUE = { constraint: CONTAINER_ADDRESS_INDEX, table: 'containers', columns: ['server_id', 'ipv4_address'] };
const PORT_KEY = { constraint: PUBLISHED_PORT_KEY, table: 'published_ports', columns: ['server_id', 'protocol', 'host_port'] };
const SERVICE_KEY = { constraint: SERVICE_HOST_KEY, table: 'service_hosts', columns: ['server_id', 'label'] };
const ALIAS_UNIQUE = { constraint: PROXY_ALIAS_UNIQUE, table: 'proxy_aliases', columns: ['alias'] };
const SNAPSHOT_ALIAS_KEY = { constraint: SNAPSHOT_ALIAS_UNIQUE, table: 'snapshots', columns: ['container_id', 'alias'] };
const now = (): string => new Date().toISOString();

/** The Store implementation for every SQL backend Kysely speaks to. */
export class KyselyStore implements Store {
  private logListener: ((row: StatusLogRecord) => void) | undefined;
  /** The read of one container by id, built and compiled once: it runs on every GET of a container, and building it cost more than running it. */
  private readonly containerById: CompiledQuery<Selectable<ContainersTable>>;
  /** SQLite only: the rows of that read, reused while the database is proven unchanged (see SqliteContainerRows). */
  private readonly containerRows: SqliteContainerRows | undefined;

  /** `sqliteWrites`: on SQLite, how many statements that may write the store's one connection has run (see CountingSqliteDatabase). */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
    options: { sqliteWrites?: () => number } = {},
  ) {
    this.containerById = db.selectFrom('containers').selectAll().where('id', '=', '').compile();
    this.containerRows = options.sqliteWrites && dialect === 'sqlite' ? new SqliteContainerRows(options.sqliteWrites) : undefined;
  }

  migrate(): Promise<void> {
    return migrateToLatest(this.db, this.dialect);
  }

  close(): Promise<void> {
    return this.db.destroy();
  }

  async createUser(user: UserRecord): Promise<void> {
    await this.db.insertInto('users').values(userToRow(user)).execute();
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && userFromRow(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(userFromRow);
  }

  async createToken(token: TokenRecord, maxPerUser?: number): Promise<void> {
    if (maxPerUser === undefined) {
      await this.db.insertInto('tokens').values(tokenToRow(token)).execute();
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      const count = await this.countOwned(trx, 'tokens', token.user_id);
      if (count >= maxPerUser) throw new OwnerLimitError('tokens', count, maxPerUser);
      await trx.insertInto('tokens').values(tokenToRow(token)).execute();
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row && tokenFromRow(row);
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
    return row && tokenFromRow(row);
  }

  async listTokens(userId?: string): Promise<TokenRecord[]> {
    let q = this.db.selectFrom('tokens').selectAll();
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(tokenFromRow);
  }

  async deleteToken(id: string): Promise<boolean> {
    const { numDeletedRows } = await this.db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
    return numDeletedRows > 0n;
  }

  async existingTokenIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.selectFrom('tokens').select('id').where('id', 'in', [...ids]).execute();
    return new Set(rows.map((r) => r.id));
  }

  async createProject(project: ProjectRecord, maxPerOwner?: number): Promise<void> {
    if (maxPerOwner === undefined) {
      await this.db.insertInto('projects').values(project).execute();
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      const count = await this.countOwned(trx, 'projects', project.owner_id);
      if (count >= maxPerOwner) throw new OwnerLimitError('projects', count, maxPerOwner);
      await trx.insertInto('projects').values(project).execute();
    });
  }

  /** How many containers, projects or tokens a user has, inside a creating transaction; PostgreSQL serializes creates per user with a lock. */
  private async countOwned(trx: KyselyTransaction<Database>, what: keyof typeof OWNED_COUNT_LOCKS, userId: string): Promise<number> {
    if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${sql.lit(OWNED_COUNT_LOCKS[what])}, hashtext(${userId}))`.execute(trx);
    const total = sql<number | string>`count(*)`.as('total');
    const row =
      what === 'containers'
        ? await trx.selectFrom('containers').select(total).where('project_id', 'in', trx.selectFrom('projects').select('id').where('owner_id', '=', userId)).executeTakeFirstOrThrow()
        : what === 'projects'
          ? await trx.selectFrom('projects').select(total).where('owner_id', '=', userId).executeTakeFirstOrThrow()
          : await trx.selectFrom('tokens').select(total).where('user_id', '=', userId).executeTakeFirstOrThrow();
    return Number(row.total);
  }

  async getProject(id: string): Promise<ProjectRecord | undefined> {
    const row = await this.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    return row && projectFromRow(row);
  }

  async listProjects(ownerId?: string): Promise<ProjectRecord[]> {
    let q = this.db.selectFrom('projects').selectAll();
    if (ownerId !== undefined) q = q.where('owner_id', '=', ownerId);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(projectFromRow);
  }

  async upsertServer(server: ServerRecord): Promise<void> {
    const row = {
      id: server.id,
      name: server.name,
      status: server.status,
      runtime: server.runtime,
      last_seen_at: server.last_seen_at,
      created_at: server.created_at,
      advertise_url: server.advertise_url ?? null,
      proxy_url: server.proxy_url ?? null,
      version: server.version ?? null,
      capacity: server.capacity ? JSON.stringify(server.capacity) : null,
      usage: server.usage ? JSON.stringify(server.usage) : null,
    };
    await this.db
      .insertInto('servers')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          status: eb.ref('excluded.status'),
          runtime: eb.ref('excluded.runtime'),
          last_seen_at: eb.ref('excluded.last_seen_at'),
          advertise_url: eb.ref('excluded.advertise_url'),
          proxy_url: eb.ref('excluded.proxy_url'),
          version: eb.ref('excluded.version'),
          capacity: eb.ref('excluded.capacity'),
          usage: eb.ref('excluded.usage'),
        })),
      )
      .execute();
  }

  async touchServer(id: string, lastSeenAt: string, usage: ServerUsage): Promise<boolean> {
    const r = await this.db.updateTable('servers').set({ last_seen_at: lastSeenAt, usage: JSON.stringify(usage) }).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setServerStatus(id: string, status: ServerRecord['status']): Promise<boolean> {
    const r = await this.db.updateTable('servers').set({ status }).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async getServer(id: string): Promise<ServerRecord | undefined> {
    const row = await this.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    return row && serverFromRow(row);
  }

  async listServers(): Promise<ServerRecord[]> {
    const rows = await this.db.selectFrom('servers').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(serverFromRow);
  }

  async createContainer(container: ContainerRecord, firstLog?: NewStatusLog, opts: CreateContainerOptions = {}): Promise<void> {
    try {
      const logged = await this.db.transaction().execute(async (trx) => {
        if (opts.ownerLimit) {
          const count = await this.countOwned(trx, 'containers', opts.ownerLimit.owner_id);
          if (count >= opts.ownerLimit.max) throw new ContainerLimitError(count, opts.ownerLimit.max);
        }
        await trx.insertInto('containers').values(containerToRow(container)).execute();
        await this.insertPorts(trx, container, container.ports);
        await this.insertServiceLabels(trx, container, container.service_labels ?? []);
        return firstLog && (await this.appendLog(trx, container.id, container.project_id, firstLog));
      });
      if (logged) this.handOver(logged);
    } catch (err) {
      if (isUniqueViolation(err, this.dialect, NAME_UNIQUE)) throw new NameTakenError(container.name);
      throw this.networkClash(err, container);
    }
  }

  /** Inserts a container's published ports rows one by one, so a clash names the port that is taken. */
  private async insertPorts(trx: KyselyTransaction<Database>, c: Pick<ContainerRecord, 'id' | 'server_id'>, ports: readonly PublishedPort[]): Promise<void> {
    for (const row of portRows(c, ports)) {
      try {
        await trx.insertInto('published_ports').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err, this.dialect, PORT_KEY)) throw new PortTakenError(row.protocol as PortProtocol, row.host_port);
        throw err;
      }
    }
  }

  /** Inserts a container's service_hosts rows one by one, so a clash names the label that is taken. */
  private async insertServiceLabels(trx: KyselyTransaction<Database>, c: Pick<ContainerRecord, 'id' | 'server_id'>, labels: readonly string[]): Promise<void> {
    // an empty label holds no host (an upgrade found it taken by another container)
    for (const label of labels.filter((l) => l !== '')) {
      try {
        await trx.insertInto('service_hosts').values({ server_id: c.server_id, label, container_id: c.id }).execute();
      } catch (err) {
        if (isUniqueViolation(err, this.dialect, SERVICE_KEY)) throw new ServiceNameTakenError(label);
        throw err;
      }
    }
  }

  async createProxyAlias(alias: ProxyAliasRecord): Promise<void> {
    try {
      await this.db.insertInto('proxy_aliases').values(proxyAliasToRow(alias)).execute();
    } catch (err) {
      if (isUniqueViolation(err, this.dialect, ALIAS_UNIQUE)) throw new AliasTakenError(alias.alias);
      throw err;
    }
  }

  async getProxyAlias(id: string): Promise<ProxyAliasRecord | undefined> {
    const row = await this.db.selectFrom('proxy_aliases').selectAll().where('id', '=', id).executeTakeFirst();
    return row && proxyAliasFromRow(row);
  }

  async listProxyAliases(filter: ProxyAliasFilter): Promise<ProxyAliasRecord[]> {
    let q = this.db.selectFrom('proxy_aliases').selectAll();
    if (filter.owner_id !== undefined) {
      q = q.where(
        'container_id',
        'in',
        this.db.selectFrom('containers').select('id').where('project_id', 'in', this.db.selectFrom('projects').select('id').where('owner_id', '=', filter.owner_id)),
      );
    }
    if (filter.container_id !== undefined) q = q.where('container_id', '=', filter.container_id);
    if (filter.server_id !== undefined) q = q.where('server_id', '=', filter.server_id);
    if (filter.alias !== undefined) q = q.where('alias', '=', filter.alias);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(proxyAliasFromRow);
  }

  async deleteProxyAlias(id: string): Promise<boolean> {
    const gone = await this.db.deleteFrom('proxy_aliases').where('id', '=', id).returning('id').executeTakeFirst();
    return gone !== undefined;
  }

  async createSnapshot(snapshot: SnapshotRecord): Promise<void> {
    try {
      await this.db.insertInto('snapshots').values(snapshotToRow(snapshot)).execute();
    } catch (err) {
      if (snapshot.alias !== null && isUniqueViolation(err, this.dialect, SNAPSHOT_ALIAS_KEY)) throw new SnapshotAliasTakenError(snapshot.alias);
      throw err;
    }
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    const row = await this.db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
    return row && snapshotFromRow(row);
  }

  async listSnapshots(filter: SnapshotFilter): Promise<SnapshotRecord[]> {
    let q = this.db.selectFrom('snapshots').selectAll();
    if (filter.container_id !== undefined) q = q.where('container_id', '=', filter.container_id);
    if (filter.server_id !== undefined) q = q.where('server_id', '=', filter.server_id);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(snapshotFromRow);
  }

  async deleteSnapshot(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('snapshots').where('id', '=', id).returning('id').executeTakeFirst();
      await trx.deleteFrom('snapshot_replicas').where('snapshot_id', '=', id).execute();
      return gone !== undefined;
    });
  }

  async addSnapshotReplica(r: SnapshotReplica): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // the snapshot row is read (locked on PostgreSQL, whose default isolation would let a delete
      // commit in between) in the same transaction: a replica of a snapshot deleted meanwhile is not recorded
      const read = trx.selectFrom('snapshots').select('id').where('id', '=', r.snapshot_id);
      const exists = await (this.dialect === 'postgres' ? read.forUpdate() : read).executeTakeFirst();
      if (!exists) return false;
      await trx.insertInto('snapshot_replicas').values(r).onConflict((oc) => oc.columns(['snapshot_id', 'server_id']).doNothing()).execute();
      return true;
    });
  }

  async listSnapshotReplicas(filter: SnapshotReplicaFilter): Promise<SnapshotReplica[]> {
    let q = this.db.selectFrom('snapshot_replicas').selectAll('snapshot_replicas');
    if (filter.snapshot_id !== undefined) q = q.where('snapshot_replicas.snapshot_id', '=', filter.snapshot_id);
    if (filter.server_id !== undefined) q = q.where('snapshot_replicas.server_id', '=', filter.server_id);
    if (filter.container_id !== undefined) {
      const ofContainer = this.db.selectFrom('snapshots').select('id').where('container_id', '=', filter.container_id);
      q = q.where('snapshot_replicas.snapshot_id', 'in', ofContainer);
    }
    return q.orderBy('created_at').orderBy('snapshot_id').orderBy('server_id').execute();
  }

  async deleteSnapshotReplica(snapshotId: string, serverId: string): Promise<boolean> {
    const gone = await this.db.deleteFrom('snapshot_replicas').where('snapshot_id', '=', snapshotId).where('server_id', '=', serverId).returning('snapshot_id').executeTakeFirst();
    return gone !== undefined;
  }

  /** An address clash as AddressTakenError; anything else as it is. */
  private networkClash(err: unknown, c: Pick<ContainerRecord, 'ipv4_address'>): unknown {
    if (isUniqueViolation(err, this.dialect, ADDRESS_UNIQUE)) return new AddressTakenError(c.ipv4_address ?? '');
    return err;
  }

  async takenAddresses(serverId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('containers').select('ipv4_address').where('server_id', '=', serverId).where('ipv4_address', 'is not', null).execute();
    return rows.map((r) => r.ipv4_address as string);
  }

  async takenHostPorts(serverId: string): Promise<{ protocol: PortProtocol; host_port: number; container_id: string }[]> {
    const rows = await this.db.selectFrom('published_ports').select(['protocol', 'host_port', 'container_id']).where('server_id', '=', serverId).orderBy('protocol').orderBy('host_port').execute();
    return rows.map((r) => ({ protocol: r.protocol as PortProtocol, host_port: Number(r.host_port), container_id: r.container_id }));
  }

  async getRestartHistory(id: string): Promise<RestartHistoryRecord | undefined> {
    const row = await this.db.selectFrom('containers').select(['restart_attempts', 'last_started_at', 'restart_due_at']).where('id', '=', id).executeTakeFirst();
    return row && { attempts: Number(row.restart_attempts), last_started_at: row.last_started_at, restart_due_at: row.restart_due_at };
  }

  async saveRestartHistory(id: string, history: Partial<RestartHistoryRecord>): Promise<void> {
    const set = {
      ...(history.attempts !== undefined ? { restart_attempts: history.attempts } : {}),
      ...(history.last_started_at !== undefined ? { last_started_at: history.last_started_at } : {}),
      ...(history.restart_due_at !== undefined ? { restart_due_at: history.restart_due_at } : {}),
    };
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('containers').set(set).where('id', '=', id).execute();
  }

  async listPendingRestarts(serverId: string): Promise<{ id: string; attempts: number; restart_due_at: string }[]> {
    const rows = await this.db
      .selectFrom('containers')
      .select(['id', 'restart_attempts', 'restart_due_at'])
      .where('server_id', '=', serverId)
      .where('restart_due_at', 'is not', null)
      .orderBy('restart_due_at')
      .execute();
    return rows.map((r) => ({ id: r.id, attempts: Number(r.restart_attempts), restart_due_at: r.restart_due_at as string }));
  }

  async getContainer(id: string): Promise<ContainerRecord | undefined> {
    const kept = this.containerRows;
    if (!kept) {
      const row = await this.containerRow(id);
      return row && containerFromRow(row);
    }
    const { rows } = await this.db.executeQuery<{ data_version: number }>(DATA_VERSION);
    // taken before the row is read: a change after this point makes the next read miss
    const at = kept.now(Number(rows[0]?.data_version));
    const row = kept.get(id, at) ?? (await this.containerRow(id));
    kept.set(id, at, row);
    return row && containerFromRow(row);
  }

  private async containerRow(id: string): Promise<Selectable<ContainersTable> | undefined> {
    const { rows } = await this.db.executeQuery<Selectable<ContainersTable>>({ ...this.containerById, parameters: [id] });
    return rows[0];
  }

  async listContainers(filter: ContainerFilter, page?: { limit: number; offset: number }): Promise<ContainerRecord[]> {
    let q = this.filteredContainers(filter).selectAll().orderBy('created_at').orderBy('id');
    if (page) q = q.limit(page.limit).offset(page.offset);
    return (await q.execute()).map(containerFromRow);
  }

  async countContainers(filter: ContainerFilter): Promise<number> {
    const { total } = await this.filteredContainers(filter)
      .select((eb) => eb.fn.countAll<number | string>().as('total'))
      .executeTakeFirstOrThrow();
    return Number(total);
  }

  async countContainersByStatus(serverId: string): Promise<Partial<Record<ContainerStatus, number>>> {
    const rows = await this.db
      .selectFrom('containers')
      .select(['status', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('server_id', '=', serverId)
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  private filteredContainers(filter: ContainerFilter) {
    let q = this.db.selectFrom('containers');
    if (filter.owner_id !== undefined) {
      q = q.where('project_id', 'in', this.db.selectFrom('projects').select('id').where('owner_id', '=', filter.owner_id));
    }
    if (filter.project_id !== undefined) q = q.where('project_id', '=', filter.project_id);
    if (filter.server_id !== undefined) q = q.where('server_id', '=', filter.server_id);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.name !== undefined) q = q.where('name', '=', filter.name);
    return q;
  }

  async updateContainer(id: string, patch: ContainerPatch): Promise<ContainerRecord | undefined> {
    const set = { ...patchToRow(patch), updated_at: now(), version: sql<number>`version + 1` };
    try {
      const { ports, service_labels: labels } = patch;
      if (ports === undefined && labels === undefined) {
        const row = await this.db.updateTable('containers').set(set).where('id', '=', id).returningAll().executeTakeFirst();
        return row && containerFromRow(row);
      }
      // the ports and service hosts rows are replaced in the transaction that writes the container's ports and labels
      const row = await this.db.transaction().execute(async (trx) => {
        const updated = await trx.updateTable('containers').set(set).where('id', '=', id).returningAll().executeTakeFirst();
        if (!updated) return undefined;
        if (ports !== undefined) {
          await trx.deleteFrom('published_ports').where('container_id', '=', id).execute();
          await this.insertPorts(trx, updated, ports);
        }
        if (labels !== undefined) {
          await trx.deleteFrom('service_hosts').where('container_id', '=', id).execute();
          await this.insertServiceLabels(trx, updated, labels);
        }
        return updated;
      });
      return row && containerFromRow(row);
    } catch (err) {
      if (isUniqueViolation(err, this.dialect, NAME_UNIQUE)) throw new NameTakenError(patch.name ?? '');
      throw this.networkClash(err, { ipv4_address: patch.ipv4_address ?? null });
    }
  }

  async deleteContainer(id: string, finalLog?: NewStatusLog): Promise<boolean> {
    const outcome = await this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('containers').where('id', '=', id).returning('project_id').executeTakeFirst();
      if (!gone) return { deleted: false };
      await trx.deleteFrom('published_ports').where('container_id', '=', id).execute();
      await trx.deleteFrom('service_hosts').where('container_id', '=', id).execute();
      await trx.deleteFrom('proxy_aliases').where('container_id', '=', id).execute();
      await trx.deleteFrom('snapshot_replicas').where('snapshot_id', 'in', trx.selectFrom('snapshots').select('id').where('container_id', '=', id)).execute();
      await trx.deleteFrom('snapshots').where('container_id', '=', id).execute();
      return { deleted: true, logged: finalLog && (await this.appendLog(trx, id, gone.project_id, finalLog)) };
    });
    if (outcome.logged) this.handOver(outcome.logged);
    return outcome.deleted;
  }

  async beginOperation(
    id: string,
    op: { id: string; operation: string; started_at: string },
  ): Promise<{ claimed: true; container: ContainerRecord } | { claimed: false; container: ContainerRecord } | undefined> {
    let current: ContainerRecord | undefined;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      // The compare-and-set: one UPDATE whose WHERE only matches while nobody holds the container.
      const row = await this.db
        .updateTable('containers')
        .set({ current_operation_id: op.id, current_operation: op.operation, current_operation_started_at: op.started_at })
        .where('id', '=', id)
        .where('current_operation_id', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (row) return { claimed: true, container: containerFromRow(row) };
      current = await this.getContainer(id);
      if (!current) return undefined;
      if (current.current_operation) return { claimed: false, container: current };
      // The holder finished between our UPDATE and SELECT: the container is free again, claim anew.
    }
    return current && { claimed: false, container: current };
  }

  async finishOperation(id: string, operationId: string): Promise<void> {
    await this.db
      .updateTable('containers')
      .set({ current_operation_id: null, current_operation: null, current_operation_started_at: null })
      .where('id', '=', id)
      .where('current_operation_id', '=', operationId)
      .execute();
  }

  async transition(id: string, t: Transition): Promise<ContainerRecord | undefined> {
    const set: Updateable<ContainersTable> = { status: t.to_status, updated_at: now() };
    if (t.exit_code !== undefined) set.exit_code = t.exit_code;
    if (t.desired_status !== undefined) set.desired_status = t.desired_status;
    if (t.finish_operation) Object.assign(set, { current_operation_id: null, current_operation: null, current_operation_started_at: null });
    if (t.config) Object.assign(set, restorableRow(t.config));
    const done = await this.db.transaction().execute(async (trx) => {
      let update = trx
        .updateTable('containers')
        .set(set)
        .set({ version: sql<number>`version + 1` })
        .where('id', '=', id);
      if (t.operation_id !== undefined) update = update.where('current_operation_id', '=', t.operation_id);
      if (t.expect_status !== undefined) update = update.where('status', '=', t.expect_status);
      const row = await update.returningAll().executeTakeFirst();
      if (!row) return undefined; // gone, or the operation is no longer current: nothing was written
      return { container: containerFromRow(row), logged: await this.appendLog(trx, id, row.project_id, t.log) };
    });
    if (!done) return undefined;
    this.handOver(done.logged);
    return done.container;
  }

  async moveContainer(id: string, m: ContainerMove): Promise<ContainerRecord | undefined> {
    const set: Updateable<ContainersTable> = { server_id: m.to_server, ipv4_address: null, current_operation_id: null, current_operation: null, current_operation_started_at: null, restart_due_at: null, updated_at: now() };
    const recovery = m.recovery;
    if (recovery) Object.assign(set, { status: 'stopped', desired_status: 'stopped', exit_code: null }, restorableRow(recovery.config));
    const done = await this.db.transaction().execute(async (trx) => {
      if (recovery && this.dialect === 'postgres') {
        // the lost server's row, locked while its heartbeat is still stale: a heartbeat of its return
        // waits for this transaction (and then finds the container gone), or this one finds it fresh
        const lost = await trx.selectFrom('servers').select('id').where('id', '=', m.from_server).where('last_seen_at', '<', recovery.stale_before).forUpdate().executeTakeFirst();
        if (!lost) return undefined;
      }
      let update = trx
        .updateTable('containers')
        // a restart the old server's policy had pending is not the new server's to carry out
        .set(set)
        .set({ version: sql<number>`version + 1` })
        .where('id', '=', id)
        .where('server_id', '=', m.from_server);
      if (m.operation_id !== undefined) update = update.where('current_operation_id', '=', m.operation_id);
      // a lost server that came back meanwhile keeps its container
      if (recovery) update = update.where(({ exists, selectFrom }) => exists(selectFrom('servers').select('id').where('id', '=', m.from_server).where('last_seen_at', '<', recovery.stale_before)));
      const row = await update.returningAll().executeTakeFirst();
      if (!row) return undefined;
      const container = containerFromRow(row);
      await trx.deleteFrom('published_ports').where('container_id', '=', id).execute();
      await this.insertPorts(trx, container, container.ports);
      await trx.deleteFrom('service_hosts').where('container_id', '=', id).execute();
      await this.insertServiceLabels(trx, container, container.service_labels ?? []);
      await trx.updateTable('proxy_aliases').set({ server_id: m.to_server }).where('container_id', '=', id).execute();
      // the snapshots the old server held went with the files (a recovery: those the new server holds)
      const moving = recovery ? recovery.snapshot_ids : undefined;
      if (moving?.length !== 0) {
        let ofContainer = trx.selectFrom('snapshots').select('id').where('container_id', '=', id);
        // only those re-homed: a replica here of a snapshot still another server's stays one
        ofContainer = moving ? ofContainer.where('id', 'in', moving) : ofContainer.where('server_id', '=', m.from_server);
        // replicas the new server kept are its own snapshots now
        await trx.deleteFrom('snapshot_replicas').where('server_id', '=', m.to_server).where('snapshot_id', 'in', ofContainer).execute();
        let snaps = trx.updateTable('snapshots').set({ server_id: m.to_server }).where('container_id', '=', id);
        snaps = moving ? snaps.where('id', 'in', moving) : snaps.where('server_id', '=', m.from_server);
        await snaps.execute();
      }
      return { container, logged: await this.appendLog(trx, id, row.project_id, m.log) };
    });
    if (!done) return undefined;
    this.handOver(done.logged);
    return done.container;
  }

  async swapClaim(id: string, operationId: string, next: { id: string; operation: string; started_at: string } | null): Promise<boolean> {
    const r = await this.db
      .updateTable('containers')
      .set({ current_operation_id: next?.id ?? null, current_operation: next?.operation ?? null, current_operation_started_at: next?.started_at ?? null })
      .where('id', '=', id)
      .where('current_operation_id', '=', operationId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async claimForRecovery(id: string, c: { from_server: string; operation_id: string; started_at: string; stale_before: string; claim_stale_before: string }): Promise<ContainerRecord | undefined> {
    const row = await this.db
      .updateTable('containers')
      .set({ current_operation_id: c.operation_id, current_operation: 'recover', current_operation_started_at: c.started_at })
      .where('id', '=', id)
      .where('server_id', '=', c.from_server)
      .where((eb) => eb.or([eb('current_operation', 'is', null), eb('current_operation', '<>', 'recover'), eb('current_operation_started_at', '<', c.claim_stale_before)]))
      .where(({ exists, selectFrom }) => exists(selectFrom('servers').select('id').where('id', '=', c.from_server).where('last_seen_at', '<', c.stale_before)))
      .returningAll()
      .executeTakeFirst();
    return row && containerFromRow(row);
  }

  async claimIdempotencyKey(rec: IdempotencyRecord): Promise<{ claimed: true } | { claimed: false; existing: IdempotencyRecord }> {
    const inserted = await this.db
      .insertInto('idempotency_keys')
      .values(rec)
      .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) return { claimed: true };
    const row = await this.db.selectFrom('idempotency_keys').selectAll().where('scope', '=', rec.scope).where('key', '=', rec.key).executeTakeFirst();
    // the other holder released it in between: try once more
    if (!row) return this.claimIdempotencyKey(rec);
    return { claimed: false, existing: { ...row, status_code: row.status_code === null ? null : Number(row.status_code) } };
  }

  async completeIdempotencyKey(scope: string, key: string, statusCode: number, responseBody: string): Promise<void> {
    await this.db.updateTable('idempotency_keys').set({ status_code: statusCode, response_body: responseBody }).where('scope', '=', scope).where('key', '=', key).execute();
  }

  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    await this.db.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).execute();
  }

  async releaseInFlightIdempotencyKeys(serverId: string): Promise<number> {
    const { numDeletedRows } = await this.db.deleteFrom('idempotency_keys').where('server_id', '=', serverId).where('status_code', 'is', null).executeTakeFirst();
    return Number(numDeletedRows);
  }

  async purgeIdempotencyKeys(createdBefore: string): Promise<number> {
    const { numDeletedRows } = await this.db.deleteFrom('idempotency_keys').where('created_at', '<', createdBefore).executeTakeFirst();
    return Number(numDeletedRows);
  }

  async listStatusLogs(containerId: string, q: { page: number; limit: number; sort_order: SortOrder }): Promise<{ logs: StatusLogRecord[]; total: number }> {
    // rows are numbered 1..N per container without gaps: the total is the highest number (one
    // index seek) and a page is a range of numbers, as cheap a thousand pages deep as on the first
    const head = await this.db
      .selectFrom('status_logs')
      .select((eb) => eb.fn.max('ordinal').as('total'))
      .where('container_id', '=', containerId)
      .executeTakeFirst();
    const total = Number(head?.total ?? 0);
    const skip = (q.page - 1) * q.limit;
    // positions [from, to] of the page, counted from the oldest row
    const [from, to] = q.sort_order === 'asc' ? [skip + 1, skip + q.limit] : [total - skip - q.limit + 1, total - skip];
    if (to < 1 || from > total) return { logs: [], total };
    const rows = await this.db
      .selectFrom('status_logs')
      .selectAll()
      .where('container_id', '=', containerId)
      .where('ordinal', '>=', from)
      .where('ordinal', '<=', to)
      .orderBy('ordinal', q.sort_order)
      .execute();
    return { logs: rows.map(statusLogFromRow), total };
  }

  async statusLogsSince(seq: number, limit: number, scope: StatusLogScope = {}): Promise<StatusLogRecord[]> {
    const rows = await this.scopedLogs(seq, scope).selectAll().orderBy('seq', 'asc').limit(limit).execute();
    return rows.map(statusLogFromRow);
  }

  async countStatusLogsSince(seq: number, scope: StatusLogScope, atMost: number): Promise<number> {
    // counts over a LIMIT subquery: the cost stops at `atMost` rows however long the log is
    const capped = this.scopedLogs(seq, scope).select('seq').limit(atMost).as('capped');
    const row = await this.db.selectFrom(capped).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  onLogAppended(listener: ((row: StatusLogRecord) => void) | undefined): void {
    this.logListener = listener;
  }

  /** Gives a committed row to the listener: whatever it does, the write that made the row has succeeded. */
  private handOver(row: StatusLogRecord): void {
    try {
      this.logListener?.(row);
    } catch {
      // the listener's own reads catch up with the log (see EventHub)
    }
  }

  async statusLogHead(): Promise<number> {
    const row = await this.db.selectFrom('status_logs').select((eb) => eb.fn.max('seq').as('head')).executeTakeFirst();
    return row?.head === null || row?.head === undefined ? 0 : Number(row.head);
  }

  /** The rows after `seq` in `scope`; the owner's projects are matched through the (project_id, seq) index. */
  private scopedLogs(seq: number, scope: StatusLogScope) {
    let q = this.db.selectFrom('status_logs').where('seq', '>', seq);
    if (scope.through !== undefined) q = q.where('seq', '<=', scope.through);
    if (scope.container_id !== undefined) q = q.where('container_id', '=', scope.container_id);
    if (scope.project_id !== undefined) q = q.where('project_id', '=', scope.project_id);
    if (scope.owner_id !== undefined) q = q.where('project_id', 'in', this.db.selectFrom('projects').select('id').where('owner_id', '=', scope.owner_id));
    return q;
  }

  /** Inserts a log row inside the caller's transaction; answers the row as a read of it would (for onLogAppended, after the commit). */
  private async appendLog(trx: KyselyTransaction<Database>, containerId: string, projectId: string, log: NewStatusLog): Promise<StatusLogRecord> {
    // PostgreSQL hands out identity values before commit, so concurrent transactions could commit
    // seq 8 before seq 7 and a reader of statusLogsSince(6) would skip 7 for good. Holding this lock
    // until commit makes seq order commit order. SQLite has one writer at a time already.
    // The same lock (and SQLite's single writer) serializes the appends of one container, so the
    // next position read here is still free at commit: positions stay 1..N with no gap or repeat.
    if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${sql.lit(STATUS_LOG_APPEND_LOCK)})`.execute(trx);
    const ordinal = sql<number>`(select coalesce(max(ordinal), 0) + 1 from status_logs where container_id = ${containerId})`;
    const values = statusLogToRow(containerId, projectId, log);
    const { seq } = await trx
      .insertInto('status_logs')
      .values({ ...values, ordinal })
      .returning('seq')
      .executeTakeFirstOrThrow();
    // through the same decoding as a read, so a listener gets what statusLogsSince would give
    return statusLogFromRow({ ...values, project_id: projectId, seq, ordinal: 0 }); // the record has no ordinal
  }
}

/** The columns of a configuration a snapshot puts back (a restore's, or a recovery's). */
function restorableRow(c: RestorableConfig): Updateable<ContainersTable> {
  return {
    ...patchToRow({ command: c.command, environment_vars: c.environment_vars, autostart: c.autostart, resources: c.resources, stop_timeout: c.stop_timeout, restart_policy: c.restart_policy }),
    hoody_kit: c.hoody_kit ? 1 : 0,
    container_image: c.container_image,
    image_id: c.image_id ?? null,
  };
}
