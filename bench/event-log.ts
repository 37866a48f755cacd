/**
 * What a large status log costs the daemon: boot time with an empty log vs N synthetic rows, and
 * a `?since=0` catch-up by the user who owns those rows and by one who owns a handful (time to
 * the end of the catch-up, the daemon's peak RSS meanwhile, the slowest /healthz answer
 * meanwhile, bytes sent). The rows are written straight into the SQLite file while the daemon
 * is stopped (one container of one user's project; a transition every row).
 * Run as root: `npm run bench:event-log -- [rows=500000]`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { startTestDaemon, apiClient, type DaemonHandle } from '../test/daemon-harness.ts';

const rows = Number(process.argv[2] ?? 500_000);
const hex = (): string => randomBytes(12).toString('hex');

/** The daemon's resident memory, and its peak since the last reset, in MB. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function timedRestart(d: DaemonHandle): Promise<number> {
  await d.stop();
  const t0 = performance.now();
  await d.restart();
  return performance.now() - t0;
}

/** Inserts the rows; answers the newest cursor. */
function insertRows(dataDir: string, containerId: string, projectId: string, n: number): number {
  const db = new BetterSqlite3(join(dataDir, 'hoody.db'));
  const hasProject = (db.prepare('pragma table_info(status_logs)').all() as { name: string }[]).some((c) => c.name === 'project_id');
  const columns = `id, container_id, from_status, to_status, transition_time, duration_ms, triggered_by, metadata${hasProject ? ', project_id' : ''}`;
  const insert = db.prepare(`insert into status_logs (${columns}) values (?, ?, ?, ?, ?, ?, ?, ?${hasProject ? ', ?' : ''})`);
  const at = new Date().toISOString();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const [from, to] = i % 2 === 0 ? ['stopped', 'running'] : ['running', 'stopped'];
      const metadata = JSON.stringify({ operation: i % 2 === 0 ? 'start' : 'stop', server_name: 'test-node', project_id: projectId, reason: 'synthetic row for the event-log benchmark' });
      const values = [hex(), containerId, from, to, at, 5, 'system', metadata];
      insert.run(...(hasProject ? [...values, projectId] : values));
    }
  })();
  const head = (db.prepare('select max(seq) as head from status_logs').get() as { head: number }).head;
  db.close();
  return head;
}

/** Follows `?since=0` until `done` holds for the text received, timing /healthz meanwhile. */
async function catchUp(d: DaemonHandle, token: string, done: (text: string) => boolean, timeoutMs = 180_000) {
  await writeFile(`/proc/${d.pid}/clear_refs`, '5'); // resets VmHWM, the peak RSS
  const before = await memory(d.pid);
  let slowest = 0;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const t = performance.now();
      await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(60_000) }).then((r) => r.text()).catch(() => undefined);
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const t0 = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const res = await fetch(`${d.api}/events?since=0&types=transition`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  let bytes = 0;
  let tail = '';
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      const s = decoder.decode(chunk, { stream: true });
      // only the end of a large stream is kept: the condition looks at the last events
      tail = (tail + s).slice(-4096);
      if (bytes < 1_000_000) text += s;
      if (done(bytes < 1_000_000 ? text : tail)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  const ms = performance.now() - t0;
  const after = await memory(d.pid);
  probing = false;
  await probe;
  return { ms, mb: bytes / 1e6, rssBefore: before.rss, peak: after.peak, slowestHealthz: slowest };
}

async function main(): Promise<void> {
  const d = await startTestDaemon('sqlite', { HOODY_EVENTS_HEARTBEAT_MS: '1000' });
  try {
    const admin = apiClient(d.api, d.adminToken);
    const user = async (name: string) => {
      const u = (await admin('POST', '/users', { name })).body.data;
      const token = (await admin('POST', '/tokens', { name: `${name}-cli`, user_id: u.id })).body.data.token as string;
      const project = (await apiClient(d.api, token)('POST', '/projects', { name: `${name}-project` })).body.data;
      return { token, project };
    };
    const big = await user('big');
    const small = await user('small');
    const mine = await apiClient(d.api, small.token)('POST', '/containers', { name: 'few', project_id: small.project.id, container_image: 'busybox', autostart: false });
    const smallRows = (await apiClient(d.api, small.token)('GET', `/containers/${mine.body.data.id}/status-logs`)).body.data.pagination.total as number;

    const emptyBoot = [await timedRestart(d), await timedRestart(d)];
    await d.stop();
    const t = performance.now();
    const head = insertRows(d.dataDir, hex(), big.project.id, rows);
    const insertMs = performance.now() - t;
    await d.restart(); // the first start after the insert may migrate: not counted
    const fullBoot = [await timedRestart(d), await timedRestart(d)];

    const fmt = (n: number): string => n.toFixed(0);
    console.log(`rows: ${rows} (inserted in ${fmt(insertMs)} ms); rows of the small user: ${smallRows}`);
    console.log('| boot (spawn to "hoody serving") | run 1 ms | run 2 ms |');
    console.log('|---|---:|---:|');
    console.log(`| empty log | ${fmt(emptyBoot[0] ?? 0)} | ${fmt(emptyBoot[1] ?? 0)} |`);
    console.log(`| ${rows} rows | ${fmt(fullBoot[0] ?? 0)} | ${fmt(fullBoot[1] ?? 0)} |`);

    const count = (text: string, what: string): number => text.split(what).length - 1;
    const smallRun = await catchUp(d, small.token, (text) => count(text, 'event: transition') >= smallRows);
    // the big user's catch-up ends with its last row, or with a resync event in its place
    const bigRun = await catchUp(d, big.token, (text) => text.includes('event: resync') || lastId(text) >= head);
    console.log('| since=0 catch-up | time to its end ms | sent MB | RSS before MB | peak RSS MB | slowest /healthz meanwhile ms |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const [name, r] of [[`small user (${smallRows} rows)`, smallRun], [`big user (${rows} rows)`, bigRun]] as const) {
      console.log(`| ${name} | ${fmt(r.ms)} | ${r.mb.toFixed(1)} | ${fmt(r.rssBefore)} | ${fmt(r.peak)} | ${fmt(r.slowestHealthz)} |`);
    }
  } finally {
    await d.cleanup();
  }

}

/** The cursor of the last complete event in `text`. */
function lastId(text: string): number {
  const ids = [...text.matchAll(/id: (\d+)\nevent: transition\ndata: [^\n]*\n\n/g)].map((m) => Number(m[1]));
  return ids.at(-1) ?? 0;
}

await main();
