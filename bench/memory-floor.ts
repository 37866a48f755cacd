/**
 * What resident memory Node itself needs, next to the daemon: VmRSS of a bare `node -e`, of a
 * minimal Fastify + better-sqlite3 server answering /healthz, of that server with kysely, TypeBox
 * and ajv loaded and used once, and of the built daemon (bin/hoody.js serve, empty data folder),
 * each read `settle-ms` after it answers (or starts); cases interleaved, medians. Run as root:
 * `npm run bench:memory-floor -- [rounds=5] [settle-ms=3000]`; HOODY_BENCH_NODE_ARGS adds Node
 * flags to every case (space-separated), e.g. `--max-semi-space-size=1`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeRuntime } from '../test/daemon-harness.ts';
import { freePort, rssKb } from './proc-util.ts';

const rounds = Number(process.argv[2] ?? 5);
const settleMs = Number(process.argv[3] ?? 3000);
const ROOT = new URL('..', import.meta.url).pathname;
const nodeArgs = (process.env.HOODY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

const FASTIFY = `
import Fastify from 'fastify';
import Database from 'better-sqlite3';
const db = new Database(process.env.DB);
db.exec('create table if not exists t (id integer primary key, v text)');
const app = Fastify();
app.get('/healthz', async () => ({ ok: db.prepare('select 1 as one').get().one === 1 }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
`;
const LIBRARIES = `
import { Kysely, SqliteDialect } from 'kysely';
import { Type } from '@sinclair/typebox';
import Ajv from 'ajv';
const kdb = new Kysely({ dialect: new SqliteDialect({ database: db }) });
await kdb.selectFrom('t').selectAll().execute();
const validate = new Ajv().compile(Type.Object({ name: Type.String({ maxLength: 64 }) }));
if (!validate({ name: 'x' })) throw new Error('ajv');
`;

const rssMb = async (pid: number): Promise<number> => (await rssKb(pid)) / 1024;

const CASES = {
  'bare node -e': { args: ['-e', 'setInterval(() => {}, 1000)'], http: false },
  'Fastify + better-sqlite3, /healthz': { args: ['--input-type=module', '-e', FASTIFY], http: true },
  '… + kysely, TypeBox, ajv (used once)': { args: ['--input-type=module', '-e', FASTIFY.replace("const app", `${LIBRARIES}\nconst app`)], http: true },
  'hoody serve (built, empty data folder)': { args: [join(ROOT, 'bin/hoody.js'), 'serve', '--host', '127.0.0.1'], http: true },
} as const;
type Case = keyof typeof CASES;

async function once(name: Case): Promise<number> {
  const c = CASES[name];
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'hoody-bench-floor-')));
  const port = await freePort();
  const isDaemon = name.startsWith('hoody');
  const args = [...nodeArgs, ...c.args, ...(isDaemon ? ['--port', String(port), '--data-dir', dir] : [])];
  const env = { ...process.env, PORT: String(port), DB: join(dir, 'floor.db'), HOODY_ADMIN_TOKEN: `hoody_bench_${randomBytes(16).toString('hex')}`, HOODY_DATABASE_URL: '' };
  // the inline cases import the project's dependencies: run them from the project folder
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    if (c.http) {
      for (const deadline = performance.now() + 30_000; ; ) {
        const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
        if (ok) break;
        if (child.exitCode !== null || performance.now() > deadline) throw new Error(`${name}: did not answer /healthz`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await new Promise((r) => setTimeout(r, settleMs));
    return await rssMb(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await exited;
    if (isDaemon) await removeRuntime(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

const samples = Object.fromEntries(Object.keys(CASES).map((k) => [k, [] as number[]])) as Record<Case, number[]>;
const names = Object.keys(CASES) as Case[];
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? [...names].reverse() : names) samples[name].push(await once(name));
  process.stderr.write('.');
}
process.stderr.write('\n');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
console.log(`resident memory (VmRSS, MB) ${settleMs} ms after ready, ${rounds} rounds interleaved; node ${process.version} ${nodeArgs.join(' ')}\n`);
console.log('| process | median | min–max |');
console.log('|---|---:|---|');
for (const name of names) console.log(`| ${name} | ${median(samples[name]).toFixed(1)} | ${Math.min(...samples[name]).toFixed(1)}–${Math.max(...samples[name]).toFixed(1)} |`);
