/** The servers as the API shows them next to their containers: names and statuses made true by the heartbeats. */
import { DEFAULT_OFFLINE_AFTER_MS, viewOf, type ServerView } from '../cluster/membership.ts';
import type { ContainerRecord, Store } from '../store/store.ts';
import type { Cluster } from './forwarding.ts';
import { containerWire, type ServerOfContainer } from './wire.ts';
import type { Container } from '../api/schemas.ts';

/** Every server; `fresh`: read now, not from the short cache that serves container lists. */
export function serverViews(deps: { store: Store; cluster?: Cluster | undefined }, opts: { fresh?: boolean } = {}): Promise<ServerView[]> {
  if (deps.cluster) return deps.cluster.membership.servers(opts);
  return deps.store.listServers().then((rows) => rows.map((r) => viewOf(r, Date.now(), DEFAULT_OFFLINE_AFTER_MS)));
}

/** Each container's server as shown with it (one read of the servers for a whole list). */
export async function serversOf(deps: { store: Store; cluster?: Cluster | undefined }): Promise<(c: ContainerRecord) => ServerOfContainer> {
  const byId = new Map((await serverViews(deps)).map((s) => [s.id, s]));
  return (c) => {
    const s = byId.get(c.server_id);
    return s ? { name: s.name, status: s.status } : { name: 'unknown', status: 'offline' };
  };
}

/** One container as the API shows it, with its server. */
export async function containerView(deps: { store: Store; cluster?: Cluster | undefined }, c: ContainerRecord): Promise<Container> {
  return containerWire(c, (await serversOf(deps))(c));
}
