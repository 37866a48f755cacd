/**
 * Records for the store contract tests, and the backends it runs on: SQLite in a fresh temp
 * data dir, PostgreSQL in a fresh database created from HOODY_TEST_POSTGRES_URL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ContainerStatus } from '../src/api/schemas.ts';
import type { OpenStoreOptions } from '../src/store/open-store.ts';
import type { ContainerRecord, NewStatusLog, ProjectRecord, ServerRecord, Store, TokenRecord, UserRecord } from '../src/store/store.ts';

/** A 24-hex-character id, as the API hands out. */
export const newId = (): string => randomBytes(12).toString('hex');
/** Now, as the store keeps times: ISO 8601 UTC with milliseconds. */
export const isoNow = (): string => new Date().toISOString();

/** A fresh, empty place for one test's data, and how to remove it. */
export interface StorePlace {
  options: OpenStoreOptions;
  remove(): Promise<void>;
}

/** A backend the contract runs against; `skip` says why it cannot run here. */
export interface StoreBackend {
  name: string;
  skip?: string;
  freshPlace(): Promise<StorePlace>;
  /** Releases what the backend holds for the whole file (admin connections). */
  finish(): Promise<void>;
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'hoody-store-'));
}

/** SQLite: `<fresh temp dir>/hoody.db`. */
export const sqliteBackend: StoreBackend = {
  name: 'SQLite',
  async freshPlace() {
    const dataDir = await tempDir();
    return { options: { dataDir }, remove: () => rm(dataDir, { recursive: true, force: true }) };
  },
  finish: () => Promise.resolve(),
};

/** PostgreSQL: a database `hoody_test_<hex>` per test, created and dropped through the admin URL. */
export function postgresBackend(adminUrl: string | undefined): StoreBackend {
  let admin: pg.Pool | undefined;
  const adminPool = (): pg.Pool => (admin ??= new pg.Pool({ connectionString: adminUrl, max: 1 }));
  return {
    name: 'PostgreSQL',
    ...(adminUrl ? {} : { skip: 'HOODY_TEST_POSTGRES_URL is not set' }),
    async freshPlace() {
      const name = `hoody_test_${randomBytes(6).toString('hex')}`;
      await adminPool().query(`create database ${name}`);
      const url = new URL(adminUrl ?? '');
      url.pathname = `/${name}`;
      const dataDir = await tempDir();
      return {
        options: { dataDir, databaseUrl: url.toString() },
        async remove() {
          await adminPool().query(`drop database if exists ${name} with (force)`);
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
    async finish() {
      await admin?.end();
    },
  };
}

/** A user, a project of theirs and a server: what every container needs to exist. */
export async function seed(store: Store, userName = 'alice'): Promise<{ user: UserRecord; project: ProjectRecord; server: ServerRecord }> {
  const user: UserRecord = { id: `user_${newId()}`, name: userName, is_admin: false, created_at: isoNow() };
  const project: ProjectRecord = { id: newId(), name: `${userName}-project`, owner_id: user.id, created_at: isoNow() };
  const server: ServerRecord = { id: newId(), name: 'node-1', status: 'ready', runtime: 'runc', last_seen_at: isoNow(), created_at: isoNow() };
  await store.createUser(user);
  await store.createProject(project);
  await store.upsertServer(server);
  return { user, project, server };
}

/** A container record with the API's defaults, overridden by `fields`. */
export function containerRecord(fields: Pick<ContainerRecord, 'name' | 'project_id' | 'server_id'> & Partial<ContainerRecord>): ContainerRecord {
  return {
    id: newId(),
    status: 'stopped',
    desired_status: 'stopped',
    container_image: 'busybox',
    command: null,
    environment_vars: {},
    autostart: true,
    hoody_kit: false,
    resources: { cpu: 1, memory_mb: 512, pids: 512 },
    stop_timeout: 10,
    restart_policy: 'no',
    version: 0,
    current_operation: null,
    exit_code: null,
    created_at: isoNow(),
    updated_at: isoNow(),
    network_mode: 'none',
    ipv4_address: null,
    ports: [],
    programs: [],
    service_labels: [],
    ...fields,
  };
}

/** A status log entry for a transition. */
export function logEntry(from: ContainerStatus, to: ContainerStatus, metadata: Partial<NewStatusLog['metadata']> = {}): NewStatusLog {
  return {
    id: newId(),
    from_status: from,
    to_status: to,
    transition_time: isoNow(),
    duration_ms: 12,
    triggered_by: 'user_test',
    metadata: { operation: 'start', server_name: 'node-1', ...metadata },
  };
}

/** A token of the user with a random secret hash. */
export function tokenRecord(userId: string, fields: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: newId(),
    name: 'ci',
    user_id: userId,
    secret_hash: randomBytes(32).toString('hex'),
    read_only: false,
    automation: false,
    created_at: isoNow(),
    ...fields,
  };
}
