/** Where a new container goes: the server asked for, or the ready server with the most room. */
import { HoodyError } from '../core/errors.ts';
import type { ServerView } from './membership.ts';

export interface PlacementRequest {
  server_id?: string | undefined;
  server_name?: string | undefined;
}

/** Whether a server can take containers through this daemon: itself, or one it can forward to. */
const reachable = (s: ServerView, selfId: string, forwarding: boolean): boolean => s.id === selfId || (forwarding && !!s.advertise_url);

/** The share of its memory a server has free (1 when it says nothing of its capacity). */
function freeShare(s: ServerView): number {
  const total = s.capacity?.memory_mb ?? 0;
  if (total <= 0) return 1;
  return Math.max(0, total - (s.usage?.memory_mb ?? 0)) / total;
}

/**
 * The server a create goes to. A named server must exist, be reachable and be ready
 * (SERVER_OFFLINE, SERVER_IN_MAINTENANCE); without a name, the ready server with the largest share
 * of free memory (then the fewest containers, then this one) is chosen.
 */
export function placeContainer(servers: readonly ServerView[], req: PlacementRequest, selfId: string, forwarding: boolean): ServerView {
  if (req.server_id !== undefined || req.server_name !== undefined) {
    const matches = servers.filter((s) => (req.server_id === undefined || s.id === req.server_id) && (req.server_name === undefined || s.name === req.server_name));
    const what = req.server_id !== undefined ? `"${req.server_id}"` : `named "${req.server_name}"`;
    if (matches.length === 0) throw new HoodyError('NOT_FOUND', `no server ${what}`, { resource: 'server' });
    if (matches.length > 1) throw new HoodyError('INVALID_INPUT', `${matches.length} servers are named "${req.server_name}": name one by server_id`, { server_ids: matches.map((s) => s.id) });
    const s = matches[0]!;
    if (!reachable(s, selfId, forwarding)) throw new HoodyError('WRONG_SERVER', `server "${s.name}" has no address this daemon can forward to (HOODY_ADVERTISE_URL, HOODY_CLUSTER_SECRET); create through its own daemon`, { server_id: s.id });
    assertTakesContainers(s);
    return s;
  }
  const candidates = servers.filter((s) => s.status === 'ready' && reachable(s, selfId, forwarding));
  if (candidates.length === 0) {
    const self = servers.find((s) => s.id === selfId);
    if (self) assertTakesContainers(self);
    throw new HoodyError('SERVER_OFFLINE', 'no server is ready to take a container', {});
  }
  return [...candidates].sort((a, b) => freeShare(b) - freeShare(a) || (a.usage?.containers ?? 0) - (b.usage?.containers ?? 0) || Number(b.id === selfId) - Number(a.id === selfId) || a.id.localeCompare(b.id))[0]!;
}

/** Refuses a server that is offline or in maintenance. */
export function assertTakesContainers(s: ServerView): void {
  if (s.status === 'offline') throw offline(s);
  if (s.status === 'maintenance') throw new HoodyError('SERVER_IN_MAINTENANCE', `server "${s.name}" is in maintenance: it takes no new containers until it leaves it`, { server_id: s.id, server_name: s.name });
}

export const offline = (s: Pick<ServerView, 'id' | 'name' | 'last_seen_at'>, why?: string): HoodyError =>
  new HoodyError('SERVER_OFFLINE', `server "${s.name}" is offline${why ? ` (${why})` : ` (last heard from at ${s.last_seen_at})`}: its containers cannot be operated until it is back`, { server_id: s.id, server_name: s.name, last_seen_at: s.last_seen_at });
