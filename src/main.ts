/**
 * Composition root: config → store → runtime driver → services → reconcile → listen.
 * `startDaemon` is what `hoody serve` runs; tests start it the same way in a child process.
 */
import { mkdir, readFile, writeFile, realpath } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/store.ts';
import { RuncDriver, cgroupPrefixFor } from './runtime/runc/runc-driver.ts';
import { ImageStore } from './runtime/image-store.ts';
import { AuthService } from './core/auth-service.ts';
import { ProjectService } from './core/project-service.ts';
import { ContainerService, type ServerIdentity } from './core/container-service.ts';
import { recoverAtStart } from './core/recovery.ts';
import { newId, nowIso } from './core/ids.ts';
import { buildApp } from './server/app.ts';

export interface DaemonConfig {
  host: string;
  port: number;
  dataDir: string;
  serverName: string;
  adminToken?: string;
  databaseUrl?: string;
  /** Cgroup path prefix; derived from the data folder when not given. */
  cgroupPrefix?: string;
}

/** Reads the daemon's settings from the environment, with flags taking precedence. */
export function configFromEnv(flags: Partial<DaemonConfig> = {}, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const port = flags.port ?? Number(env.HOODY_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`port "${env.HOODY_PORT}" is not a valid TCP port`);
  return {
    host: flags.host ?? env.HOODY_HOST ?? '127.0.0.1',
    port,
    dataDir: resolve(flags.dataDir ?? env.HOODY_DATA_DIR ?? './data'),
    serverName: flags.serverName ?? env.HOODY_SERVER_NAME ?? hostname(),
    adminToken: flags.adminToken ?? (env.HOODY_ADMIN_TOKEN || undefined),
    databaseUrl: flags.databaseUrl ?? (env.HOODY_DATABASE_URL || undefined),
    cgroupPrefix: flags.cgroupPrefix ?? (env.HOODY_CGROUP_PREFIX || undefined),
  };
}

export interface Daemon {
  app: FastifyInstance;
  url: string;
  store: Store;
  driver: RuncDriver;
  server: ServerIdentity;
  /** Stops accepting requests, lets in-flight ones finish, closes the store. Containers keep running. */
  close(): Promise<void>;
}

export async function startDaemon(config: DaemonConfig, log: (line: string) => void = console.log): Promise<Daemon> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const dataDir = await realpath(config.dataDir);
  const store = await openStore({ dataDir, databaseUrl: config.databaseUrl });
  const images = new ImageStore(join(dataDir, 'images'));
  const driver = await RuncDriver.open({ stateDir: join(dataDir, 'runtime'), images, cgroupPrefix: config.cgroupPrefix ?? cgroupPrefixFor(dataDir) });
  const health = await driver.health();
  if (!health.ok) log(`warning: runtime is not healthy: ${health.problems.join('; ')}`);

  const server = await registerServer(store, dataDir, config.serverName, driver.name);
  const auth = new AuthService(store);
  const projects = new ProjectService(store);
  const containers = new ContainerService({
    store,
    driver,
    projects,
    server,
    images: { exists: async (name) => (await images.list()).some((i) => i.name === name) },
    warn: (message, err) => log(`warning: ${message}: ${err instanceof Error ? err.message : String(err)}`),
  });

  const { generatedSecret } = await auth.bootstrap(config.adminToken);
  if (generatedSecret) {
    const file = join(dataDir, 'admin-token');
    await writeFile(file, `${generatedSecret}\n`, { mode: 0o600 });
    log(`admin token (also in ${file}): ${generatedSecret}`);
  }

  containers.watchExits();
  const recovered = await recoverAtStart({ store, driver, containers, server });
  if (recovered.corrected > 0) log(`reconciled ${recovered.corrected} container(s) with the runtime`);

  const app = await buildApp({ store, auth, containers, projects, images, driver, server });
  const address = await app.listen({ host: config.host, port: config.port });
  log(`hoody serving ${address}/api/v1 (server "${server.name}", data ${dataDir}, runtime ${health.version})`);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await app.close();
      containers.close();
      await driver.close();
      await store.upsertServer({ ...(await store.getServer(server.id))!, status: 'offline', last_seen_at: nowIso() }).catch(() => undefined);
      await store.close();
    })());
  return { app, url: address, store, driver, server, close };
}

/** This daemon's server row; its id is kept in the data folder so it survives restarts. */
async function registerServer(store: Store, dataDir: string, name: string, runtime: string): Promise<ServerIdentity> {
  const file = join(dataDir, 'server-id');
  let id = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!/^[0-9a-f]{24}$/.test(id)) {
    id = newId();
    await writeFile(file, `${id}\n`);
  }
  const existing = await store.getServer(id);
  const now = nowIso();
  await store.upsertServer({ id, name, status: 'ready', runtime, last_seen_at: now, created_at: existing?.created_at ?? now });
  return { id, name };
}
