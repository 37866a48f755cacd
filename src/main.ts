/**
 * Composition root: config → store → runtime driver → services → reconcile → listen.
 * `startDaemon` is what `hoody serve` runs; tests start it the same way in a child process.
 */
import { readFile, rm } from 'node:fs/promises';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openStore } from './store/open-store.ts';
import type { ServerUsage, Store } from './store/store.ts';
import { RuncDriver, cgroupPrefixFor } from './runtime/runc/runc-driver.ts';
import { ImageStore } from './runtime/image-store.ts';
import { openImageParts } from './image-parts.ts';
import { defaultCredentialFiles } from './images/credentials.ts';
import { imageLimitsFromEnv, type ImageLimits } from './images/limits.ts';
import { imageCatalog } from './server/image-errors.ts';
import { assertIdRangeFree, idRangeFromEnv, readHostIdFiles, type HostIdFiles, type IdRange } from './runtime/id-range.ts';
import { AuthService } from './core/auth-service.ts';
import { adminTokenWeakness } from './core/admin-token.ts';
import { ADMIN_TOKEN_FILE, SERVER_ID_FILE, securePrivateDataDir } from './data-dir.ts';
import { writePrivateFile } from './runtime/fs.ts';
import { ProjectService } from './core/project-service.ts';
import { ContainerService, type ServerIdentity } from './core/container-service.ts';
import { recoverAtStart } from './core/recovery.ts';
import { Reconciler } from './core/reconciler.ts';
import { EventHub } from './core/event-hub.ts';
import { EventStreams, FANOUT_IDLE_MS, type FanoutMode } from './server/sse/event-streams.ts';
import { isWriteShare } from './server/sse/fanout.ts';
import { OperationRegistry } from './core/operation-registry.ts';
import { TokenSessions } from './core/token-sessions.ts';
import { DEFAULT_RESTART_SETTINGS } from './core/restart-policy.ts';
import { newId, nowIso } from './core/ids.ts';
import { buildApp } from './server/app.ts';
import { Metrics } from './server/metrics.ts';
import { listenForMetrics, type MetricsListener } from './server/metrics-listener.ts';
import { createLogger, warnTo, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.ts';
import { PACKAGE_VERSION } from './version.ts';
import { DEFAULT_OFFLINE_AFTER_MS, localCapacity, Membership } from './cluster/membership.ts';
import { ClusterClient } from './cluster/client.ts';
import { MIN_SECRET_LENGTH } from './cluster/signature.ts';
import type { Cluster } from './server/forwarding.ts';
import { MADE_HERE } from './server/routes/move.ts';
import { removeMovedAway } from './cluster/leftovers.ts';
import { isLoopbackHost } from './images/registry-http.ts';
import { networkSettingsFromEnv } from './network/settings.ts';
import { NetworkManager } from './network/manager.ts';
import type { NetworkSettings } from './network/types.ts';
import { allPrograms, dnsLabel, type ServiceUrls } from './core/services.ts';
import { ProxyAliasService } from './core/proxy-alias-service.ts';
import { ContainerLogs } from './core/container-logs.ts';
import { ContainerExec } from './core/container-exec.ts';
import { SnapshotService } from './core/snapshot-service.ts';
import { SnapshotStore } from './snapshots/store.ts';
import { settleRestore } from './snapshots/restore.ts';
import { shiftTree } from './runtime/id-shift.ts';
import { TerminalSessions } from './core/terminals.ts';
import { KitDisplays } from './core/kit.ts';
import { DisplayServers } from './runtime/display.ts';
import { detectCgroupLayout } from './runtime/cgroups.ts';
import type { Actor } from './core/actor.ts';
import type { ContainerRecord } from './store/store.ts';
import { HoodyError } from './core/errors.ts';
import { ProxyAccess } from './proxy/access.ts';
import { RouteTable } from './proxy/route-table.ts';
import { ServiceRouter } from './proxy/router.ts';

export interface DaemonConfig {
  host: string;
  port: number;
  dataDir: string;
  serverName: string;
  adminToken?: string;
  databaseUrl?: string;
  /** Cgroup path prefix; derived from the data folder when not given. */
  cgroupPrefix?: string;
  /** The runc binary containers run under; the driver's default path when not given. */
  runcBinary?: string;
  /**
   * Host ids container ids 0… map to (container root is not host root): HOODY_USERNS_RANGE
   * (`START:SIZE`), else root's range in /etc/subuid and /etc/subgid, else 1000000:65536.
   * configFromEnv refuses a range another user or group of the host holds ids of.
   */
  idRange?: IdRange;
  /** How many containers start at once after a server reboot. */
  autostartConcurrency?: number;
  /** How often the reconciler compares every container with the runtime. */
  reconcileIntervalMs?: number;
  /** A claimed operation nobody carries out is released after this long. */
  orphanedOperationMs?: number;
  /** Registries (`host[:port]`) images may be pulled from over plain HTTP besides loopback ones: HOODY_INSECURE_REGISTRIES, a comma list. */
  insecureRegistries?: string[];
  /**
   * Token realm hosts (`host` or `host:port`) that may receive a registry's credentials besides the
   * registry's own host (`auth.docker.io` for `docker.io` always may): HOODY_REGISTRY_AUTH_HOSTS, a comma list.
   */
  registryAuthHosts?: string[];
  /** What one image pull or import may cost: HOODY_IMAGE_IMPORT_MAX_BYTES, HOODY_IMAGE_MAX_LAYERS, HOODY_IMAGE_MAX_BYTES, HOODY_IMAGE_MAX_UNPACKED_BYTES, HOODY_IMAGE_MAX_ENTRIES. */
  imageLimits?: Partial<ImageLimits>;
  /** Size at which a container's log file is rotated (the file before is kept, so up to twice this per container): HOODY_LOG_FILE_MAX_BYTES. */
  logFileMaxBytes?: number;
  /** Restart policy: first back-off delay and the retry limit of on-failure. */
  restartBackoffMs?: number;
  restartMaxRetries?: number;
  /** Where the other daemons of the cluster reach this one (HOODY_ADVERTISE_URL, --advertise-url): `http(s)://host:port`. */
  advertiseUrl?: string;
  /** The secret daemons of one cluster sign forwarded requests with (HOODY_CLUSTER_SECRET, 32+ characters); no forwarding without it. */
  clusterSecret?: string;
  /** A server whose heartbeat is older than this is offline (HOODY_SERVER_OFFLINE_AFTER_MS, 15 s). */
  serverOfflineAfterMs?: number;
  /** How many other servers keep a copy of each new snapshot (HOODY_SNAPSHOT_REPLICAS, 0). */
  snapshotReplicas?: number;
  /** Heartbeat interval of event streams. */
  heartbeatMs?: number;
  /** Where event streams are written: a child process (default) or the daemon's own process. */
  eventsFanout?: FanoutMode;
  /** With many event streams, the largest share of one CPU their writing may take (0.01 ≤ s ≤ 1). */
  eventsWriteShare?: number;
  /** How long the fan-out process stays once its last event stream is gone. */
  eventsFanoutIdleMs?: number;
  /** The most event streams one user may hold open on this daemon. */
  maxStreamsPerUser?: number;
  /** The most waits (GET /containers/{id}/wait) one user may hold open on this daemon. */
  maxWaitsPerUser?: number;
  /** The most followed logs (GET /containers/{id}/logs?follow=true) one user may hold open on this daemon. */
  maxLogFollowsPerUser?: number;
  /** The most execs one user may have running at once on this daemon. */
  maxExecsPerUser?: number;
  /** The most terminal sessions one user may hold open on this daemon. */
  maxTerminalsPerUser?: number;
  /** The most WebSocket (upgraded) connections to private programs one user may hold open through this daemon's router. */
  maxTunnelsPerUser?: number;
  /** The most one container may ask for: CPU cores, memory and processes. */
  maxCpu?: number;
  maxMemoryMb?: number;
  maxPids?: number;
  /** How many containers one user may have. */
  maxContainersPerUser?: number;
  /** How many projects one user may have. */
  maxProjectsPerUser?: number;
  /** How many tokens one user may have. */
  maxTokensPerUser?: number;
  /** How many snapshots one container may have. */
  maxSnapshotsPerContainer?: number;
  /** A request (headers and body) not fully received after this long is answered 408 and closed. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs?: number;
  /** The quietest level logged. */
  logLevel?: LogLevel;
  /** JSON lines, or text for a person (the default on a terminal). */
  logFormat?: LogFormat;
  /** Where GET /metrics is served without a token, apart from the API (off when not given). */
  metricsListen?: { host: string; port: number };
  /**
   * The service-URL router: where it listens (HOODY_PROXY_PORT, `--proxy-port`; none when not
   * given; HOODY_PROXY_HOST, the API's host when not given), the domain of its host names
   * (HOODY_PROXY_DOMAIN, `localhost` by default: `*.localhost` reaches loopback without DNS), and
   * how URLs are written for users (HOODY_PROXY_URL_SCHEME http or https; HOODY_PROXY_URL_PORT,
   * the router's port with http and none with https by default: a TLS terminator in front on 443).
   */
  proxy?: ProxyConfig;
  /** The containers' network: HOODY_NETWORK (bridge or none), HOODY_NETWORK_BRIDGE, _SUBNET, _TABLE, _NAMESERVERS; none when not given. */
  network?: NetworkSettings;
}

export interface ProxyConfig {
  host?: string;
  port?: number;
  domain: string;
  urlScheme: 'http' | 'https';
  urlPort?: number;
}

/** Per-user caps on open event streams, waits, followed logs, running execs, terminal sessions and the router's tunnels to private programs, unless configured. */
const DEFAULT_SESSION_LIMITS = { stream: 32, wait: 64, follow: 32, exec: 16, terminal: 16, tunnel: 256 } as const;

/** How often the tokens of open event streams, waits, followed logs, execs, terminals and tunnels are checked, so that a token deleted through another daemon ends them too. */
const TOKEN_RECHECK_MS = 500;

/** How long a token that authenticated is trusted without a store read: a token deleted through another daemon of the same database stops working within this long. */
const TOKEN_REMEMBER_MS = 500;

/** The limits a daemon applies when its configuration does not say: sized to the host. */
export const DEFAULT_LIMITS = {
  maxCpu: availableParallelism(),
  maxMemoryMb: Math.floor(totalmem() / 1024 / 1024),
  // twice Podman's default pids limit (2048): far below a host's pid_max, so one container cannot take them all
  maxPids: 4096,
  maxContainersPerUser: 100,
  maxProjectsPerUser: 100,
  maxTokensPerUser: 100,
  maxSnapshotsPerContainer: 100,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  logLevel: 'info',
} as const;

/**
 * Reads the daemon's settings from the environment, with flags taking precedence; `hostIds` are
 * the host's /etc/subuid, /etc/subgid, /etc/passwd and /etc/group, the id range is checked against.
 */
export function configFromEnv(flags: Partial<DaemonConfig> = {}, env: NodeJS.ProcessEnv = process.env, hostIds: HostIdFiles = readHostIdFiles()): DaemonConfig {
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
    runcBinary: flags.runcBinary ?? (env.HOODY_RUNC_BINARY || undefined),
    insecureRegistries: flags.insecureRegistries ?? registryList(env.HOODY_INSECURE_REGISTRIES),
    registryAuthHosts: flags.registryAuthHosts ?? registryList(env.HOODY_REGISTRY_AUTH_HOSTS),
    imageLimits: imageLimitsFromEnv(env),
    // before any container starts: ids another host user can map would make them container root
    idRange: flags.idRange ? assertIdRangeFree(flags.idRange, hostIds) : idRangeFromEnv(env, hostIds),
    autostartConcurrency: positiveInt(env.HOODY_AUTOSTART_CONCURRENCY, 'HOODY_AUTOSTART_CONCURRENCY') ?? 4,
    reconcileIntervalMs: positiveInt(env.HOODY_RECONCILE_INTERVAL_MS, 'HOODY_RECONCILE_INTERVAL_MS') ?? 5000,
    orphanedOperationMs: positiveInt(env.HOODY_ORPHANED_OPERATION_MS, 'HOODY_ORPHANED_OPERATION_MS') ?? 10_000,
    logFileMaxBytes: positiveInt(env.HOODY_LOG_FILE_MAX_BYTES, 'HOODY_LOG_FILE_MAX_BYTES'),
    restartBackoffMs: positiveInt(env.HOODY_RESTART_BACKOFF_MS, 'HOODY_RESTART_BACKOFF_MS') ?? DEFAULT_RESTART_SETTINGS.initialDelayMs,
    restartMaxRetries: positiveInt(env.HOODY_RESTART_MAX_RETRIES, 'HOODY_RESTART_MAX_RETRIES') ?? DEFAULT_RESTART_SETTINGS.maxRetries,
    advertiseUrl: advertiseUrl(flags.advertiseUrl ?? (env.HOODY_ADVERTISE_URL || undefined)),
    clusterSecret: clusterSecret(flags.clusterSecret ?? (env.HOODY_CLUSTER_SECRET || undefined)),
    serverOfflineAfterMs: positiveInt(env.HOODY_SERVER_OFFLINE_AFTER_MS, 'HOODY_SERVER_OFFLINE_AFTER_MS') ?? DEFAULT_OFFLINE_AFTER_MS,
    snapshotReplicas: env.HOODY_SNAPSHOT_REPLICAS === '0' ? 0 : (positiveInt(env.HOODY_SNAPSHOT_REPLICAS, 'HOODY_SNAPSHOT_REPLICAS') ?? 0),
    heartbeatMs: positiveInt(env.HOODY_EVENTS_HEARTBEAT_MS, 'HOODY_EVENTS_HEARTBEAT_MS') ?? 15_000,
    eventsFanout: fanoutMode(env.HOODY_EVENTS_FANOUT),
    eventsWriteShare: share(env.HOODY_EVENTS_WRITE_SHARE, 'HOODY_EVENTS_WRITE_SHARE'),
    eventsFanoutIdleMs: positiveInt(env.HOODY_EVENTS_FANOUT_IDLE_MS, 'HOODY_EVENTS_FANOUT_IDLE_MS') ?? FANOUT_IDLE_MS,
    maxStreamsPerUser: positiveInt(env.HOODY_MAX_EVENT_STREAMS_PER_USER, 'HOODY_MAX_EVENT_STREAMS_PER_USER') ?? DEFAULT_SESSION_LIMITS.stream,
    maxWaitsPerUser: positiveInt(env.HOODY_MAX_WAITS_PER_USER, 'HOODY_MAX_WAITS_PER_USER') ?? DEFAULT_SESSION_LIMITS.wait,
    maxLogFollowsPerUser: positiveInt(env.HOODY_MAX_LOG_FOLLOWS_PER_USER, 'HOODY_MAX_LOG_FOLLOWS_PER_USER') ?? DEFAULT_SESSION_LIMITS.follow,
    maxExecsPerUser: positiveInt(env.HOODY_MAX_EXECS_PER_USER, 'HOODY_MAX_EXECS_PER_USER') ?? DEFAULT_SESSION_LIMITS.exec,
    maxTerminalsPerUser: positiveInt(env.HOODY_MAX_TERMINALS_PER_USER, 'HOODY_MAX_TERMINALS_PER_USER') ?? DEFAULT_SESSION_LIMITS.terminal,
    maxTunnelsPerUser: positiveInt(env.HOODY_MAX_TUNNELS_PER_USER, 'HOODY_MAX_TUNNELS_PER_USER') ?? DEFAULT_SESSION_LIMITS.tunnel,
    maxCpu: positiveNumber(env.HOODY_MAX_CPU, 'HOODY_MAX_CPU') ?? DEFAULT_LIMITS.maxCpu,
    maxMemoryMb: positiveInt(env.HOODY_MAX_MEMORY_MB, 'HOODY_MAX_MEMORY_MB') ?? DEFAULT_LIMITS.maxMemoryMb,
    maxPids: positiveInt(env.HOODY_MAX_PIDS, 'HOODY_MAX_PIDS') ?? DEFAULT_LIMITS.maxPids,
    maxContainersPerUser: positiveInt(env.HOODY_MAX_CONTAINERS_PER_USER, 'HOODY_MAX_CONTAINERS_PER_USER') ?? DEFAULT_LIMITS.maxContainersPerUser,
    maxProjectsPerUser: positiveInt(env.HOODY_MAX_PROJECTS_PER_USER, 'HOODY_MAX_PROJECTS_PER_USER') ?? DEFAULT_LIMITS.maxProjectsPerUser,
    maxTokensPerUser: positiveInt(env.HOODY_MAX_TOKENS_PER_USER, 'HOODY_MAX_TOKENS_PER_USER') ?? DEFAULT_LIMITS.maxTokensPerUser,
    maxSnapshotsPerContainer: positiveInt(env.HOODY_MAX_SNAPSHOTS_PER_CONTAINER, 'HOODY_MAX_SNAPSHOTS_PER_CONTAINER') ?? DEFAULT_LIMITS.maxSnapshotsPerContainer,
    requestTimeoutMs: positiveInt(env.HOODY_REQUEST_TIMEOUT_MS, 'HOODY_REQUEST_TIMEOUT_MS') ?? DEFAULT_LIMITS.requestTimeoutMs,
    keepAliveTimeoutMs: positiveInt(env.HOODY_KEEPALIVE_TIMEOUT_MS, 'HOODY_KEEPALIVE_TIMEOUT_MS') ?? DEFAULT_LIMITS.keepAliveTimeoutMs,
    logLevel: oneOf(env.HOODY_LOG_LEVEL, LOG_LEVELS, 'HOODY_LOG_LEVEL') ?? DEFAULT_LIMITS.logLevel,
    // a person at a terminal reads text; anything else (journald, a file, a collector) gets JSON lines
    logFormat: oneOf(env.HOODY_LOG_FORMAT, LOG_FORMATS, 'HOODY_LOG_FORMAT') ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    metricsListen: hostPort(env.HOODY_METRICS_LISTEN, 'HOODY_METRICS_LISTEN'),
    network: flags.network ?? networkSettingsFromEnv(env),
    proxy: proxyConfig(flags.proxy, env),
  };
}

/** The router's settings from the environment (flags first); a port of 0 asks the kernel for a free one. */
function proxyConfig(flags: Partial<ProxyConfig> | undefined, env: NodeJS.ProcessEnv): ProxyConfig {
  const portText = flags?.port ?? (env.HOODY_PROXY_PORT || undefined);
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new Error(`HOODY_PROXY_PORT "${String(portText)}" is not a valid TCP port`);
  const domain = (flags?.domain ?? (env.HOODY_PROXY_DOMAIN || 'localhost')).toLowerCase().replace(/^\.+|\.+$/g, '');
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(domain) || domain.length > 200) {
    throw new Error(`HOODY_PROXY_DOMAIN "${domain}" is not a domain name (e.g. containers.example.com)`);
  }
  const urlScheme = flags?.urlScheme ?? oneOf(env.HOODY_PROXY_URL_SCHEME, ['http', 'https'] as const, 'HOODY_PROXY_URL_SCHEME') ?? 'http';
  const urlPortText = flags?.urlPort ?? (env.HOODY_PROXY_URL_PORT || undefined);
  const urlPort = urlPortText === undefined ? undefined : Number(urlPortText);
  if (urlPort !== undefined && (!Number.isInteger(urlPort) || urlPort < 1 || urlPort > 65535)) throw new Error(`HOODY_PROXY_URL_PORT "${String(urlPortText)}" is not a valid TCP port`);
  return { host: flags?.host ?? (env.HOODY_PROXY_HOST || undefined), port, domain, urlScheme, urlPort };
}

/** How service URLs are written: on the router's port once it listens (`boundPort`), none without a router. */
function serviceUrlsFor(proxy: ProxyConfig | undefined, serverName: string, boundPort: () => number | undefined): ServiceUrls {
  const domain = proxy?.domain ?? 'localhost';
  return {
    serverLabel: dnsLabel(serverName),
    domain,
    url: (host) => {
      if (proxy?.port === undefined) return null;
      const port = proxy.urlPort ?? (proxy.urlScheme === 'http' ? boundPort() : undefined);
      const defaultPort = proxy.urlScheme === 'http' ? 80 : 443;
      return `${proxy.urlScheme}://${host}${port !== undefined && port !== defaultPort ? `:${port}` : ''}/`;
    },
  };
}

export interface Daemon {
  app: FastifyInstance;
  url: string;
  store: Store;
  driver: RuncDriver;
  server: ServerIdentity;
  /** The daemon's logger (what `hoody serve` says on a signal goes there too). */
  log: Logger;
  /** Where GET /metrics is served without a token, when configured. */
  metricsUrl?: string;
  /** Where the service-URL router listens, when configured. */
  proxyUrl?: string;
  /** Stops accepting requests, lets in-flight ones finish, closes the store. Containers keep running. */
  close(): Promise<void>;
}

/** Starts the daemon; its lines go to `logger`, or to a new one made from the config. */
export async function startDaemon(config: DaemonConfig, logger?: Logger): Promise<Daemon> {
  const log = logger ?? createLogger({ level: config.logLevel ?? DEFAULT_LIMITS.logLevel, format: config.logFormat ?? 'json' });
  const warn = warnTo(log);
  // before anything is written: a weak token would guard every container from the first request
  const weakness = config.adminToken === undefined ? undefined : adminTokenWeakness(config.adminToken);
  if (weakness) throw new Error(`HOODY_ADMIN_TOKEN is too weak: ${weakness}`);
  const dataDir = await securePrivateDataDir(config.dataDir);
  const store = await openStore({ dataDir, databaseUrl: config.databaseUrl });
  const ids = config.idRange ?? idRangeFromEnv();
  const imageParts = await openImageParts({
    root: join(dataDir, 'images'),
    ids,
    insecureRegistries: config.insecureRegistries ?? [],
    authHosts: config.registryAuthHosts ?? [],
    authFiles: defaultCredentialFiles(dataDir),
    warn,
    ...(config.imageLimits ? { limits: config.imageLimits } : {}),
  });
  const images = new ImageStore(join(dataDir, 'images'), ids, imageParts);
  // what an interrupted pull or import left behind
  await images.sweep().catch((err: unknown) => warn('sweeping the image store', err));
  // the bridge and the daemon's own nftables tables; the per-container files live on /run (a tmpfs, wiped with the namespaces on a reboot)
  const net = config.network?.mode === 'bridge' ? config.network : undefined;
  const network = net ? await NetworkManager.open({ ...net, runDir: `/run/hoody-${net.bridge}`, warn }) : undefined;
  const driver = await RuncDriver.open({
    stateDir: join(dataDir, 'runtime'),
    images,
    cgroupPrefix: config.cgroupPrefix ?? cgroupPrefixFor(dataDir),
    ...(config.runcBinary ? { runcBinary: config.runcBinary } : {}),
    ...(config.logFileMaxBytes ? { logSizeMax: config.logFileMaxBytes } : {}),
    ...(network ? { network } : {}),
    warn,
  });
  // three `--version` spawns (about 20 ms): they run while the rest starts, and are awaited before listening
  const checkingHealth = driver.health();

  const server = await registerServer(store, dataDir, config.serverName, driver.name, config.advertiseUrl);
  // names pick servers (creates by server_name, service URLs' {server}): two of one name are ambiguous
  const twins = (await store.listServers()).filter((s) => s.name === server.name && s.id !== server.id);
  if (twins.length > 0) warn(`another server of this database is also named "${server.name}" (${twins.map((s) => s.id).join(', ')}): give each server its own HOODY_SERVER_NAME, or a create by server_name and its service URLs cannot tell them apart`);
  const auth = new AuthService(store, { maxTokensPerUser: config.maxTokensPerUser ?? DEFAULT_LIMITS.maxTokensPerUser, rememberMs: TOKEN_REMEMBER_MS });
  const projects = new ProjectService(store, { maxPerUser: config.maxProjectsPerUser ?? DEFAULT_LIMITS.maxProjectsPerUser });
  const events = new EventHub(store);
  const operations = new OperationRegistry();
  // sessions are made before the metrics that count them, and started with the rest below
  const sessions = new TokenSessions(store, {
    limits: {
      stream: config.maxStreamsPerUser ?? DEFAULT_SESSION_LIMITS.stream,
      wait: config.maxWaitsPerUser ?? DEFAULT_SESSION_LIMITS.wait,
      follow: config.maxLogFollowsPerUser ?? DEFAULT_SESSION_LIMITS.follow,
      exec: config.maxExecsPerUser ?? DEFAULT_SESSION_LIMITS.exec,
      terminal: config.maxTerminalsPerUser ?? DEFAULT_SESSION_LIMITS.terminal,
      tunnel: config.maxTunnelsPerUser ?? DEFAULT_SESSION_LIMITS.tunnel,
    },
    recheckMs: TOKEN_RECHECK_MS,
    warn,
  });
  let router: ServiceRouter | undefined;
  const serviceUrls = serviceUrlsFor(config.proxy, server.name, () => router?.port);
  const metrics = new Metrics({ containersByStatus: () => store.countContainersByStatus(server.id), sessionsOpen: () => sessions.openTotal() });
  const containers = new ContainerService({
    store,
    events,
    driver,
    projects,
    server,
    images: imageCatalog(images),
    warn,
    observer: metrics,
    serviceUrls,
    ...(net && network ? { network: { mode: 'bridge' as const, subnet: net.subnet, host: network } } : {}),
    limits: {
      maxResources: { cpu: config.maxCpu ?? DEFAULT_LIMITS.maxCpu, memory_mb: config.maxMemoryMb ?? DEFAULT_LIMITS.maxMemoryMb, pids: config.maxPids ?? DEFAULT_LIMITS.maxPids },
      maxContainersPerUser: config.maxContainersPerUser ?? DEFAULT_LIMITS.maxContainersPerUser,
    },
    restartSettings: {
      ...DEFAULT_RESTART_SETTINGS,
      initialDelayMs: config.restartBackoffMs ?? DEFAULT_RESTART_SETTINGS.initialDelayMs,
      maxRetries: config.restartMaxRetries ?? DEFAULT_RESTART_SETTINGS.maxRetries,
    },
  });

  // the kit's displays: an Xvnc per running hoody_kit container, on /run (a reboot ends them with the containers)
  const cgroupPrefix = config.cgroupPrefix ?? cgroupPrefixFor(dataDir);
  const kit = new KitDisplays({
    host: new DisplayServers({ root: join('/run/hoody', cgroupPrefix, 'displays'), cgroupPrefix, layout: await detectCgroupLayout(), warn }),
    events,
    warn,
    stateOf: async (id) => {
      const c = await store.getContainer(id);
      return c && { status: c.status, serverId: c.server_id };
    },
    serverId: server.id,
  });
  containers.kit = kit;

  const tokenFile = join(dataDir, ADMIN_TOKEN_FILE);
  const previouslyGenerated = (await readFile(tokenFile, 'utf8').catch(() => '')).trim() || undefined;
  const { generatedSecret, retiredGenerated } = await auth.bootstrap(config.adminToken, previouslyGenerated);
  if (generatedSecret) {
    await writePrivateFile(tokenFile, `${generatedSecret}\n`);
    // the secret itself stays out of the log (journald keeps logs readable to more people)
    log.info(`admin token generated: it is in ${tokenFile} (mode 0600); use it as HOODY_TOKEN`);
  }
  if (retiredGenerated) {
    await rm(tokenFile, { force: true });
    log.info(`HOODY_ADMIN_TOKEN is set: the generated admin token of ${tokenFile} no longer works and the file is removed`);
  }

  containers.watchExits();
  const rebooted = driver.stateLost();
  if (rebooted) log.info('the runtime state did not survive since the last start (server reboot): starting autostart containers');
  // snapshots' files: opened before recovery, which undoes restores a crash cut short
  const snapshotFiles = await SnapshotStore.open(join(dataDir, 'snapshots'));
  const snapshots = new SnapshotService({ store, driver, containers, files: snapshotFiles, server, settleRestore, warn, ids, shiftIds: shiftTree, maxPerContainer: config.maxSnapshotsPerContainer ?? DEFAULT_LIMITS.maxSnapshotsPerContainer });
  // files in transit when the daemon last stopped belong to moves that did not finish
  await removeMovedAway(store, driver, server, { dir: join(dataDir, TRANSIT_DIR, MADE_HERE), running: false }, warn);
  await rm(join(dataDir, TRANSIT_DIR), { recursive: true, force: true });
  const recovered = await recoverAtStart(
    { store, driver, containers, server, undoCutRestore: (id) => snapshots.undoCutRestore(id) },
    { rebooted, autostartConcurrency: config.autostartConcurrency ?? 4, warn, observer: metrics },
  );
  if (recovered.corrected + recovered.interrupted + recovered.autostarted + recovered.autostartFailed + recovered.idempotencyKeysReleased > 0) {
    log.info(
      recovered,
      `recovery: ${recovered.corrected} corrected, ${recovered.interrupted} interrupted operation(s) settled, ${recovered.autostarted} autostarted, ${recovered.autostartFailed} failed to autostart, ` +
        `${recovered.idempotencyKeysReleased} idempotency key(s) of cut requests released`,
    );
  }
  // what no running container owns goes (a container that died while the daemon was down, a
  // daemon killed part-way); what a running one lost comes back
  if (network) {
    const report = await network.reconcile(() => containers.networkSpecs());
    if (report.removed.length + report.restored.length > 0) log.info(report, `network: ${report.removed.length} left-over container network(s) removed, ${report.restored.length} restored`);
  }
  // snapshots: files a crash left without a row go, then what no snapshot holds any more
  const swept = await snapshots.sweep();
  if (swept.orphanFolders + swept.rowsWithoutFiles + swept.restoreLeftovers > 0) {
    log.info(swept, `snapshots: ${swept.orphanFolders} unrecorded snapshot folder(s), ${swept.rowsWithoutFiles} row(s) without files and ${swept.restoreLeftovers} cut restore(s) removed; ${swept.reclaimedBytes} bytes freed`);
  }
  containers.afterDelete = (id) => snapshots.removeFilesOf(id);
  const resumed = await containers.resumeRestarts();
  if (resumed > 0) log.info(`restart policy: ${resumed} pending restart(s) scheduled again`);
  const reconciler = new Reconciler(
    { store, driver, containers, server },
    { intervalMs: config.reconcileIntervalMs ?? 5000, orphanedAfterMs: config.orphanedOperationMs ?? 10_000, idempotencyTtlMs: 24 * 3600_000, warn, observer: metrics },
  );
  reconciler.start();
  await events.start();
  const streams = await EventStreams.start({
    hub: events,
    projects,
    store,
    heartbeatMs: config.heartbeatMs ?? 15_000,
    mode: config.eventsFanout ?? 'process',
    writeShare: config.eventsWriteShare,
    idleMs: config.eventsFanoutIdleMs ?? FANOUT_IDLE_MS,
    warn,
  });
  sessions.start();

  // the router's table follows every transition of this server's containers from here on
  const table = new RouteTable(
    {
      all: async () => {
        const [all, aliases] = await Promise.all([store.listContainers({ server_id: server.id }), store.listProxyAliases({ server_id: server.id })]);
        const aliased = new Set(aliases.map((a) => a.container_id));
        return { containers: all.filter((c) => allPrograms(c).length > 0 || aliased.has(c.id)), aliases };
      },
      one: async (id) => {
        const [c, aliases] = await Promise.all([store.getContainer(id), store.listProxyAliases({ container_id: id })]);
        return { container: c?.server_id === server.id ? c : undefined, aliases };
      },
      ownerOf: (projectId) => projects.ownerOf(projectId),
    },
    serviceUrls,
    warn,
  );
  const proxyOn = config.proxy?.port !== undefined;
  const tableFeed = proxyOn ? events.subscribe((e) => table.onEvent(e)) : undefined;
  if (proxyOn) await table.sync();
  // what another daemon of the database changed (an alias made through it) is picked up within this long
  const tableSync = proxyOn ? setInterval(() => table.sync().catch((err: unknown) => warn('router: reading the routes', err)), 10_000).unref() : undefined;
  const access = proxyOn ? await ProxyAccess.open(dataDir) : undefined;
  const aliases = new ProxyAliasService({ store, containers, projects, changed: proxyOn ? (id) => table.refresh(id) : undefined });

  // logs, exec and terminals reach the container's own files and processes: its server's daemon answers
  const localContainer = async (actor: Actor, id: string): Promise<ContainerRecord> => {
    const c = await containers.get(actor, id);
    if (c.server_id !== server.id) throw new HoodyError('WRONG_SERVER', `container "${c.name}" runs on another server; send the request to that server's daemon`, { server_id: c.server_id });
    return c;
  };
  const logs = new ContainerLogs({ get: localContainer, driver, events });
  const exec = new ContainerExec({ get: localContainer, driver });
  const terminals = new TerminalSessions({
    exec,
    driver,
    events,
    tokens: sessions,
    onClient: (c) => events.publishClient({ action: c.action, program: 'terminal', index: c.index, container_id: c.containerId, project_id: c.projectId, client: c.client, clients: c.clients, at: new Date().toISOString() }),
  });
  containers.terminalsOf = (id) => terminals.list(id);
  // displays that outlived the last daemon are adopted, the others (their container stopped meanwhile) stopped
  void Promise.all([store.listContainers({ server_id: server.id, status: 'running' }), store.listContainers({ server_id: server.id, status: 'paused' })])
    .then(([running, paused]) => kit.reconcile([...running, ...paused]))
    .catch((err: unknown) => warn('adopting the displays of running containers', err));

  // the cluster: this server's heartbeat, and requests sent on to the other servers' daemons
  /** While the daemon runs: its copies of containers recovered elsewhere (moves and recoveries in progress here left alone). */
  const removeRecoveredCopies = (): Promise<string[]> => removeMovedAway(store, driver, server, { dir: join(dataDir, TRANSIT_DIR, MADE_HERE), running: true }, warn);
  const membership = new Membership(store, server, {
    offlineAfterMs: config.serverOfflineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS,
    usage: () => serverUsage(store, server.id),
    warn,
    // cut off long enough to be seen offline: a container recovered elsewhere meanwhile must not run here too
    onRejoin: async () => void (await removeRecoveredCopies()),
  });
  await membership.start();
  // a recovery elsewhere is refused once this heartbeat is written; one that finished between the
  // start's clean-up above and it left a copy here that must not run
  if (config.clusterSecret) await removeRecoveredCopies();
  const clusterClient = config.clusterSecret ? new ClusterClient(server, config.clusterSecret) : undefined;
  const cluster: Cluster = { membership, workDir: join(dataDir, TRANSIT_DIR), files: { idRange: ids, shiftIds: shiftTree }, snapshotReplicas: config.snapshotReplicas ?? 0, ...(clusterClient && config.clusterSecret ? { client: clusterClient, secret: config.clusterSecret } : {}) };

  const app = await buildApp({ store, auth, containers, projects, images, driver, server, events, streams, operations, sessions, aliases, logs, exec, terminals, snapshots, cluster,
    ...(access ? { access, servesHost: (host: string) => table.has(host) } : {}),
    heartbeatMs: config.heartbeatMs,
    requestTimeoutMs: config.requestTimeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs ?? DEFAULT_LIMITS.keepAliveTimeoutMs,
    logger: log,
    metrics,
  });
  const health = await checkingHealth;
  if (!health.ok) log.warn({ problems: health.problems }, `runtime is not healthy: ${health.problems.join('; ')}`);
  let proxyUrl: string | undefined;
  if (proxyOn && access) {
    router = new ServiceRouter({
      table,
      auth,
      access,
      existingTokenIds: (ids) => store.existingTokenIds(ids),
      sessions,
      secureCookies: config.proxy?.urlScheme === 'https',
      // a service of another server's container: that server's router (read from the shared database)
      remote: (host) => routerOfHost(host, serviceUrls, store, membership),
      warn,
      displays: kit,
      terminals: {
        sessions: terminals,
        // a session cookie names its user and token: the token's rights, while it exists
        actorOf: async (grant) => {
          const token = await store.getToken(grant.token);
          const user = token && token.user_id === grant.user ? await store.getUser(token.user_id) : undefined;
          if (!token || !user) return undefined;
          return { userId: user.id, tokenId: token.id, tokenName: token.name, isAdmin: user.is_admin, readOnly: token.read_only, automation: token.automation };
        },
      },
    });
    try {
      proxyUrl = await router.listen(config.proxy?.host ?? config.host, config.proxy?.port ?? 0);
    } catch (err) {
      await app.close();
      throw new Error(`HOODY_PROXY_PORT ${config.proxy?.port}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const address = await app.listen({ host: config.host, port: config.port });
  // without an advertised URL, a daemon of a cluster listening on one address is reached where it listens
  const advertised = config.advertiseUrl ?? (config.clusterSecret && !isWildcard(config.host) ? address : undefined);
  // other servers' routers send this one's services here: where it listens, or on the advertised host
  const routerAdvertised = proxyUrl && advertised ? advertisedRouter(proxyUrl, advertised) : undefined;
  if ((advertised && advertised !== config.advertiseUrl) || routerAdvertised) {
    const row = await store.getServer(server.id);
    if (row) await store.upsertServer({ ...row, advertise_url: advertised ?? null, proxy_url: routerAdvertised ?? null });
    membership.invalidate();
  }
  if (advertised && !config.advertiseUrl && isLoopbackHost(new URL(advertised).hostname)) {
    warn(`this daemon of a cluster advertises ${advertised}, a loopback address: only daemons on this machine reach it; set HOODY_ADVERTISE_URL to an address the other servers can dial`);
  }
  // the docs' Caddy set-up puts the router on loopback behind a TLS proxy: then the other servers' routers cannot relay to it
  if (config.clusterSecret && routerAdvertised && advertised && isLoopbackHost(new URL(routerAdvertised).hostname) && !isLoopbackHost(new URL(advertised).hostname)) {
    warn(`this server's router listens on ${routerAdvertised}, a loopback address: the other servers' routers cannot relay its service URLs to it (they answer 503 SERVER_OFFLINE for them); set HOODY_PROXY_HOST to an address they can dial, or point every service host of this server at it directly`);
  }
  if (config.clusterSecret && !advertised) warn(`HOODY_CLUSTER_SECRET is set but this daemon listens on ${config.host}, which the others cannot dial: set HOODY_ADVERTISE_URL, or requests for its containers answer WRONG_SERVER elsewhere`);
  let metricsListener: MetricsListener | undefined;
  try {
    if (config.metricsListen) metricsListener = await listenForMetrics(metrics, config.metricsListen.host, config.metricsListen.port, warn);
  } catch (err) {
    await router?.close();
    await app.close();
    throw new Error(`HOODY_METRICS_LISTEN "${config.metricsListen?.host}:${config.metricsListen?.port}": ${err instanceof Error ? err.message : String(err)}`);
  }
  // since the process began: what an operator waits for after `systemctl start`
  const startupMs = Math.round(performance.now());
  const database = config.databaseUrl ? 'postgresql' : 'sqlite';
  const runtime = `${health.version}, ${health.mode === 'cli' ? "through runc's CLI: a runc version the direct paths were not verified against" : 'direct paths for a verified runc'}`;
  log.info(
    { version: PACKAGE_VERSION, url: `${address}/api/v1`, server: server.name, dataDir, database, runtime: health.version, runtimeMode: health.mode, metrics: metricsListener?.url, proxy: proxyUrl, startupMs },
    `hoody serving ${address}/api/v1 (hoody ${PACKAGE_VERSION}, server "${server.name}", data ${dataDir}, database ${database}, runtime ${runtime}${metricsListener ? `, metrics ${metricsListener.url}/metrics` : ''}${proxyUrl ? `, service URLs *.${serviceUrls.serverLabel}.${serviceUrls.domain} on ${proxyUrl}` : ''}; started in ${startupMs} ms)`,
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // offline for the others at once: nothing is placed here or sent on while the last requests
      // finish (maintenance is kept: the heartbeat's age says offline meanwhile)
      await membership.stop();
      const row = await store.getServer(server.id).catch(() => undefined);
      if (row && row.status !== 'maintenance') await store.setServerStatus(server.id, 'offline').catch(() => undefined);
      // no new requests; in-flight requests and operations finish (their deadlines bound this)
      await metricsListener?.close();
      // proxied connections end with the daemon: the router is in its process
      clearInterval(tableSync);
      tableFeed?.close();
      await router?.close();
      table.clear();
      await app.close();
      // every open event stream ends with its final chunk; the fan-out process exits
      await streams.close();
      sessions.stop();
      await reconciler.stop();
      await containers.close();
      kit.close();
      events.stop();
      await driver.close();
      await network?.close();
      await clusterClient?.close();
      await store.close();
      metrics.close();
    })());
  return { app, url: address, store, driver, server, log, metricsUrl: metricsListener?.url, proxyUrl, close };
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}, not "${value}"`);
  return value as T;
}

/** `HOST:PORT` (an IPv6 host in brackets: `[::1]:9464`). */
function hostPort(value: string | undefined, name: string): { host: string; port: number } | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`${name} must be HOST:PORT (e.g. 127.0.0.1:9464), not "${value}"`);
  return { host: (m[1] ?? m[2]) as string, port };
}

function fanoutMode(value: string | undefined): FanoutMode | undefined {
  if (value === undefined || value === '') return undefined;
  if (value !== 'process' && value !== 'inline') throw new Error(`HOODY_EVENTS_FANOUT must be "process" or "inline", not "${value}"`);
  return value;
}

function share(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!isWriteShare(n)) throw new Error(`${name} must be a number from 0.01 to 1, not "${value}"`);
  return n;
}

function positiveNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${value}"`);
  return n;
}

/** A comma list of registries (`host[:port]`), blanks dropped. */
function registryList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, not "${value}"`);
  return n;
}

/** The router's URL for the other servers: where it listens, or, listening on every address, the advertised host at its port. */
function advertisedRouter(routerUrl: string, advertised: string): string {
  const router = new URL(routerUrl);
  if (!isWildcard(router.hostname.replace(/^\[|\]$/g, ''))) return router.origin;
  const a = new URL(advertised);
  return `http://${a.hostname}:${router.port}`;
}

/** The router that serves `host` when this one does not: the server its `{server}` label names, or the server of the container its alias points at. */
async function routerOfHost(host: string, urls: ServiceUrls, store: Store, membership: Membership): Promise<string | undefined> {
  const suffix = `.${urls.domain}`;
  if (!host.endsWith(suffix)) return undefined;
  const labels = host.slice(0, -suffix.length).split('.');
  let serverId: string | undefined;
  const servers = await membership.servers();
  if (labels.length === 2 && labels[1] !== urls.serverLabel) serverId = servers.find((s) => dnsLabel(s.name) === labels[1])?.id;
  else if (labels.length === 1) serverId = (await store.listProxyAliases({ alias: labels[0] ?? '' }))[0]?.server_id;
  const target = servers.find((s) => s.id === serverId && s.id !== membership.self.id);
  return target?.proxy_url ?? undefined;
}

/** Where files of containers moving between servers are kept while they travel. */
const TRANSIT_DIR = 'transit';

const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';

/** What this server's containers use, for its heartbeat. */
async function serverUsage(store: Store, serverId: string): Promise<ServerUsage> {
  const [counts, running] = await Promise.all([store.countContainersByStatus(serverId), store.listContainers({ server_id: serverId, status: 'running' })]);
  return {
    containers: Object.values(counts).reduce((a, b) => a + (b ?? 0), 0),
    running: counts.running ?? 0,
    memory_mb: running.reduce((sum, c) => sum + (c.resources.memory_mb ?? 0), 0),
  };
}

/** An advertised URL: http(s), a host, no path beyond `/`. */
function advertiseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`HOODY_ADVERTISE_URL must be a URL such as http://10.0.0.5:8080, not "${value}"`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.hash || u.username || u.password) {
    throw new Error(`HOODY_ADVERTISE_URL must be http(s)://host[:port] with no path, not "${value}"`);
  }
  return u.origin;
}

function clusterSecret(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Buffer.byteLength(value) < MIN_SECRET_LENGTH) throw new Error(`HOODY_CLUSTER_SECRET must be at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`);
  return value;
}

/** This daemon's server row; its id is kept in the data folder so it survives restarts. */
async function registerServer(store: Store, dataDir: string, name: string, runtime: string, advertise: string | undefined): Promise<ServerIdentity> {
  const file = join(dataDir, SERVER_ID_FILE);
  let id = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!/^[0-9a-f]{24}$/.test(id)) {
    id = newId();
    await writePrivateFile(file, `${id}\n`);
  }
  const existing = await store.getServer(id);
  const now = nowIso();
  // maintenance outlives a restart: only an admin ends it
  const status = existing?.status === 'maintenance' ? 'maintenance' : 'ready';
  await store.upsertServer({
    id,
    name,
    status,
    runtime,
    last_seen_at: now,
    created_at: existing?.created_at ?? now,
    advertise_url: advertise ?? null,
    version: PACKAGE_VERSION,
    capacity: localCapacity(),
    usage: existing?.usage ?? null,
  });
  return { id, name };
}
