/**
 * A status-log page of a container with a long log: `GET /containers/{id}/status-logs`, first and
 * deep pages in both orders, through the HTTP API, and the SQL of each page alone next to the SQL
 * it replaced (a count of the container's rows and an OFFSET scan), on the same database in the
 * same run. Run as root: `npm run bench:status-logs -- [rows] [samples] [sqlite|postgres]` (default
 * 1000000, 30, sqlite; postgres needs HOODY_TEST_POSTGRES_URL).
 *
 * The daemon creates the container; while it is stopped, the rows are written straight into its
 * database in one transaction (numbered as the store numbers them), plus 1,000 rows of another
 * container; then the daemon starts again and every page is asked `samples` times, one request at
 * a time, over one keep-alive connection. The SQL columns time the queries alone on a connection
 * of this process (SQLite: read-only, same file; PostgreSQL: one client, so a network round trip each).
 */
import http from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { startTestDaemon, type DaemonHandle } from '../test/daemon-harness.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const samples = Number(process.argv[3] ?? 30);
const backend = process.argv[4] === 'postgres' ? 'postgres' : 'sqlite';
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

/** The same rows on PostgreSQL, generated in the server. */
async function fillPostgres(client: pg.Client, containerId: string, projectId: string, n: number): Promise<void> {
  const metadata = JSON.stringify({ operation: 'start', server_name: 'test-node', project_id: projectId });
  await client.query(
    `insert into status_logs (id, container_id, project_id, from_status, to_status, transition_time, duration_ms, triggered_by, metadata, ordinal)
     select substr(md5(random()::text || i::text), 1, 24), $1, $2,
            case when i % 2 = 1 then 'stopped' else 'running' end, case when i % 2 = 1 then 'running' else 'stopped' end,
            to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 40, 'system', $3,
            (select coalesce(max(ordinal), 0) from status_logs where container_id = $1) + i
     from generate_series(1, $4::int) as i`,
    [containerId, projectId, metadata, n],
  );
  await client.query('analyze status_logs');
}

/** Runs one query and waits for its rows. */
type Query = (text: string, params: unknown[]) => Promise<unknown>;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)] as number;

let daemon: DaemonHandle | undefined;
try {
  daemon = await startTestDaemon(backend);
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
  const t0 = performance.now();
  let query: Query;
  let closeQuery: () => Promise<void>;
  if (backend === 'postgres') {
    const client = new pg.Client({ connectionString: d.databaseUrl });
    await client.connect();
    await fillPostgres(client, big.id, big.project_id, rows);
    await fillPostgres(client, small.id, small.project_id, 1000);
    query = (text, params) => client.query(text.replace(/\?/g, (() => { let i = 0; return () => `$${++i}`; })()), params).then((r) => r.rows);
    closeQuery = () => client.end();
  } else {
    const file = join(d.dataDir, 'hoody.db');
    const db = new BetterSqlite3(file);
    fill(db, big.id, big.project_id, rows);
    fill(db, small.id, small.project_id, 1000);
    // as a daemon that has run a while has it: the rows in the database file, not in the WAL
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const ro = new BetterSqlite3(file, { readonly: true });
    query = (text, params) => Promise.resolve(ro.prepare(text).all(...params));
    closeQuery = () => Promise.resolve(void ro.close());
  }
  console.log(`wrote ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s (${backend})`);
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

  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };

  console.log(`\nStatus-log pages of one container with ${(rows + 1).toLocaleString('en')} rows (${backend}), limit ${LIMIT}, ${samples} samples each, ms: median (p90)\n`);
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
        await timed(async () => {
          const n = Number(((await query('select max(ordinal) as total from status_logs where container_id = ?', [big.id])) as { total: number }[])[0]?.total);
          const [from, to] = p.order === 'asc' ? [skip + 1, skip + LIMIT] : [n - skip - LIMIT + 1, n - skip];
          await query(`select * from status_logs where container_id = ? and ordinal >= ? and ordinal <= ? order by ordinal ${p.order}`, [big.id, from, to]);
        }),
      );
      sqlBefore.push(
        await timed(async () => {
          await query('select count(*) as total from status_logs where container_id = ?', [big.id]);
          await query(`select * from status_logs where container_id = ? order by seq ${p.order} limit ? offset ?`, [big.id, LIMIT, skip]);
        }),
      );
    }
    const cell = (xs: number[]): string => `${median(xs).toFixed(2)} (${p90(xs).toFixed(2)})`;
    console.log(`| ${p.label} | ${cell(httpMs.get(p.label) ?? [])} | ${cell(sqlNow)} | ${cell(sqlBefore)} | ${answered.get(p.label)} |`);
  }
  await closeQuery();
} finally {
  agent.destroy();
  await daemon?.cleanup();
}
