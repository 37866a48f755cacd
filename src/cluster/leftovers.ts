/** What a move leaves behind on a server when a daemon dies at the wrong moment, and its removal at the next start. */
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeDriver } from '../runtime/driver.ts';
import type { StatusLogRecord, Store } from '../store/store.ts';

/** How far back a container's log is read for its last move. */
const LOG_PAGE = 50;
const LOG_PAGES = 20;
/** How long a container recovered elsewhere and still running here may take to die. */
const KILL_WAIT_MS = 10_000;

/**
 * Removes the runtime files of containers the database puts on another server, on evidence only:
 * moved away from here (the newest move in their log that names this server is one from it)
 * while this daemon was down before it removed them, or, at start, half made here by a move or
 * recovery that was not handed over (a file of their id in `madeHere.dir`; while the daemon runs,
 * `running`, those are in progress and left alone). Files of any other container are never touched: a server id that
 * changed must not cost every stopped container its files. A container still running or paused
 * here is left alone, unless it was recovered elsewhere while this server was lost: then it is a
 * second copy of one that lives on, and is killed first. Answers the ids removed.
 */
export async function removeMovedAway(
  store: Store,
  driver: Pick<RuntimeDriver, 'list' | 'delete' | 'kill' | 'resume' | 'waitExit'>,
  server: { id: string },
  madeHere: { dir: string; running: boolean },
  warn: (message: string, err?: unknown) => void,
): Promise<string[]> {
  // at start, a mark is a move or recovery cut short: its container goes; while the daemon runs, one in progress: left alone
  const marked = new Set(await readdir(madeHere.dir).catch(() => [] as string[]));
  const half = madeHere.running ? new Set<string>() : marked;
  const removed: string[] = [];
  for (const state of await driver.list().catch(() => [])) {
    if (madeHere.running && marked.has(state.id)) continue;
    const row = await store.getContainer(state.id);
    if (!row || row.server_id === server.id) continue;
    const move = await lastMove(store, state.id, server.id);
    const movedAway = move?.metadata.from_server === server.id;
    if (!movedAway && !half.has(state.id)) continue;
    const alive = state.status === 'running' || state.status === 'paused';
    if (alive && !(movedAway && move?.metadata.recovered === true)) continue;
    // a move or recovery that began here since the marks were read
    if (madeHere.running && (await access(join(madeHere.dir, state.id)).then(() => true, () => false))) continue;
    try {
      if (alive) {
        warn(`container ${state.id} was recovered on another server while this one was lost: its copy here is killed`);
        if (state.status === 'paused') await driver.resume(state.id).catch(() => undefined);
        await driver.kill(state.id, 'SIGKILL', { all: true });
        await driver.waitExit(state.id, KILL_WAIT_MS);
      }
      await driver.delete(state.id);
      removed.push(state.id);
    } catch (err) {
      warn(`removing the files of container ${state.id}, which is on another server now`, err);
    }
  }
  return removed;
}

/**
 * The newest `move` row of a container's log (a hand-over between servers) that names `serverId`
 * as the server it left or reached, read back at most a thousand rows: moves between two other
 * servers after it left this one do not hide it.
 */
async function lastMove(store: Pick<Store, 'listStatusLogs'>, id: string, serverId: string): Promise<StatusLogRecord | undefined> {
  for (let page = 1; page <= LOG_PAGES; page++) {
    const { logs } = await store.listStatusLogs(id, { page, limit: LOG_PAGE, sort_order: 'desc' });
    const move = logs.find((l) => l.metadata.operation === 'move' && (l.metadata.from_server === serverId || l.metadata.to_server === serverId));
    if (move || logs.length < LOG_PAGE) return move;
  }
  return undefined;
}
