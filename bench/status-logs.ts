/**
 * A status-log page of a container with a long log: `GET /containers/{id}/status-logs`, first and
 * deep pages in both orders, through the HTTP API, and the SQL of each page alone next to the SQL
 * it replaced (a count of the container's rows and an OFFSET scan), on the same database in the
 * same run. Run as root: `npm run bench:status-logs -- [rows] [samples]` (default 1000000 and 30).
 *
 * The daemon (SQLite) creates the container; while it is stopped, the rows are written straight
 * into its database in one transaction (numbered as the store numbers them), plus 1,000 rows of
 * another container; then the daemon starts again over the same data folder and every page is
 * asked `samples` times, one request at a time, over one keep-alive connection.
 */
import http from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const samples = Number(process.argv[3] ?? 30);
const LIMIT = 10;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(d: DaemonHandle, path: string): Promise<{ status: number; text: string }> {
  const url = new URL(`${d.api}${path}`);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, agent, headers: { authorization: `Bearer ${d.adminToken}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `n` transition rows of a container straight into the database, numbered after its existing ones. */
function fill(db: BetterSqlite3.Database, containerId: string, projectId: string, n: number): void {
  const start = (db.prepare('select coalesce(max(ordinal), 0) as n from status_logs where container_id = ?').get(containerId) as { n: number }).n;
  const insert = db.prepare(
    'insert into status_logs (id, container_id, project_id, from_status, to_status, transition_time, duration_ms, triggered_by, metadata, ordinal) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const metadata = JSON.stringify({ operation: 'start', server_name: 'test-node', project_id: projectId });
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  db.transaction(() => {
    for (let i = 1; i <= n; i++) {
      const up = i % 2 === 1;
      insert.run(randomBytes(12).toString('hex'), containerId, projectId, up ? 'stopped' : 'running', up ? 'running' : 'stopped', new Date(t0 + i * 1000).toISOString(), 40, 'system', metadata, start + i);
    }
  })();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)] as number;

let daemon: DaemonHandle | undefined;
try {
  daemon = await startTestDaemon();
  const d = daemon;
  const create = async (name: string): Promise<{ id: string; project_id: string }> => {
    const res = await fetch(`${d.api}/containers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, container_image: 'busybox', autostart: false }),
    });
    return ((await res.json()) as { data: { id: string; project_id: string } }).data;
  };
  const big = await create('big-log');
  const small = await create('small-log');
  await d.stop();
  const file = join(d.dataDir, 'hoody.db');
  const db = new BetterSqlite3(file);
  const t0 = performance.now();
  fill(db, big.id, big.project_id, rows);
  fill(db, small.id, small.project_id, 1000);
  // as a daemon that has run a while has it: the rows in the database file, not in the WAL
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  console.log(`wrote ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await d.restart();

  const total = (await get(d, `/containers/${big.id}/status-logs?limit=1`)).text;
  const expectedTotal = (JSON.parse(total) as { data: { pagination: { total: number } } }).data.pagination.total;
  if (expectedTotal !== rows + 1) throw new Error(`total ${expectedTotal}, expected ${rows + 1}`);
  const lastPage = Math.ceil((rows + 1) / LIMIT);
  const deep = Math.floor(lastPage / 2);
  const pages = [
    { label: 'first page, desc (the default)', page: 1, order: 'desc' },
    { label: 'first page, asc', page: 1, order: 'asc' },
    { label: `deep page (${deep} of ${lastPage}), desc`, page: deep, order: 'desc' },
    { label: `deep page (${deep} of ${lastPage}), asc`, page: deep, order: 'asc' },
    { label: `last page (${lastPage}), asc`, page: lastPage, order: 'asc' },
    { label: 'past the end, desc', page: lastPage + 5, order: 'desc' },
  ] as const;
  const ro = new BetterSqlite3(file, { readonly: true });
  const oldCount = ro.prepare('select count(*) as total from status_logs where container_id = ?');
  const oldPage = { asc: ro.prepare('select * from status_logs where container_id = ? order by seq asc limit ? offset ?'), desc: ro.prepare('select * from status_logs where container_id = ? order by seq desc limit ? offset ?') };
  const newHead = ro.prepare('select max(ordinal) as total from status_logs where container_id = ?');
  const newPage = {
    asc: ro.prepare('select * from status_logs where container_id = ? and ordinal >= ? and ordinal <= ? order by ordinal asc'),
    desc: ro.prepare('select * from status_logs where container_id = ? and ordinal >= ? and ordinal <= ? order by ordinal desc'),
  };
  const timed = (fn: () => unknown): number => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };

  console.log(`\nStatus-log pages of one container with ${(rows + 1).toLocaleString('en')} rows (SQLite), limit ${LIMIT}, ${samples} samples each, ms: median (p90)\n`);
  console.log('| page | HTTP API now | SQL now (total + page) | SQL before (count + OFFSET) | rows answered |');
  console.log('|---|---:|---:|---:|---:|');
  // the HTTP samples first, with nothing else running in this process; then the SQL alone
  const httpMs = new Map<string, number[]>();
  const answered = new Map<string, number>();
  for (let i = 0; i < samples; i++) {
    for (const p of pages) {
      const t = performance.now();
      const res = await get(d, `/containers/${big.id}/status-logs?page=${p.page}&limit=${LIMIT}&sort_order=${p.order}`);
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`page ${p.page} answered ${res.status}: ${res.text}`);
      const body = JSON.parse(res.text) as { data: { logs: unknown[]; pagination: { total: number } } };
      if (body.data.pagination.total !== rows + 1) throw new Error(`page ${p.page}: total ${body.data.pagination.total}`);
      httpMs.set(p.label, [...(httpMs.get(p.label) ?? []), ms]);
      answered.set(p.label, body.data.logs.length);
    }
  }
  for (const p of pages) {
    const sqlNow: number[] = [];
    const sqlBefore: number[] = [];
    const skip = (p.page - 1) * LIMIT;
    for (let i = 0; i < samples; i++) {
      sqlNow.push(
        timed(() => {
          const n = (newHead.get(big.id) as { total: number }).total;
          const [from, to] = p.order === 'asc' ? [skip + 1, skip + LIMIT] : [n - skip - LIMIT + 1, n - skip];
          newPage[p.order].all(big.id, from, to);
        }),
      );
      sqlBefore.push(
        timed(() => {
          oldCount.get(big.id);
          oldPage[p.order].all(big.id, LIMIT, skip);
        }),
      );
    }
    const cell = (xs: number[]): string => `${median(xs).toFixed(2)} (${p90(xs).toFixed(2)})`;
    console.log(`| ${p.label} | ${cell(httpMs.get(p.label) ?? [])} | ${cell(sqlNow)} | ${cell(sqlBefore)} | ${answered.get(p.label)} |`);
  }
  ro.close();
} finally {
  agent.destroy();
  await daemon?.cleanup();
}
