/** What a move leaves behind on a server when a daemon dies at the wrong moment, and its removal at the next start. */
import { readdir } from 'node:fs/promises';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { newestLogRow, type Store } from '../store/store.ts';

/**
 * Removes the runtime files of containers the database puts on another server, on evidence only:
 * moved away from here (their newest log row is a move from this server) while this daemon was
 * down before it removed them, or half made here by a move that was not handed over (a file of
 * their id in `madeHere`). Files of any other container are never touched: a server id that
 * changed must not cost every stopped container its files. Answers the ids removed.
 */
export async function removeMovedAway(store: Store, driver: Pick<RuntimeDriver, 'list' | 'delete'>, server: { id: string }, madeHere: string, warn: (message: string, err?: unknown) => void): Promise<string[]> {
  const half = new Set(await readdir(madeHere).catch(() => [] as string[]));
  const removed: string[] = [];
  for (const state of await driver.list().catch(() => [])) {
    const row = await store.getContainer(state.id);
    if (!row || row.server_id === server.id || state.status === 'running' || state.status === 'paused') continue;
    const last = await newestLogRow(store, state.id);
    const movedAway = last?.metadata.operation === 'move' && last.metadata.from_server === server.id;
    if (!movedAway && !half.has(state.id)) continue;
    try {
      await driver.delete(state.id);
      removed.push(state.id);
    } catch (err) {
      warn(`removing the files of container ${state.id}, which is on another server now`, err);
    }
  }
  return removed;
}
