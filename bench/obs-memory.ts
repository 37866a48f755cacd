/**
 * Resident memory and heap that pino (with pino-pretty loaded) and prom-client (a registry with
 * the default process metrics, scraped once; and without them) add to a Node process, each measured in a fresh
 * process against one that loads nothing, median of several runs:
 *
 *   node --import tsx bench/obs-memory.ts [runs=5]
 */
import { execFileSync } from 'node:child_process';

const runs = Number(process.argv[2] ?? 5);
const CASES = ['nothing', 'pino', 'prom-client bare', 'prom-client', 'both'] as const;
type Case = (typeof CASES)[number];

const child = process.argv[2] === '--child' ? (process.argv[3] as Case) : undefined;
if (child) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await settle();
  const before = process.memoryUsage();
  const keep: unknown[] = [];
  if (child === 'pino' || child === 'both') {
    const { pino } = await import('pino');
    const pretty = (await import('pino-pretty')).default;
    keep.push(pino({}, pino.destination({ fd: 2, sync: true })), pretty);
  }
  if (child === 'prom-client' || child === 'prom-client bare' || child === 'both') {
    const prom = await import('prom-client');
    const registry = new prom.Registry();
    // bare: the library and a registry, without the default process metrics
    if (child !== 'prom-client bare') prom.collectDefaultMetrics({ register: registry });
    await registry.metrics();
    keep.push(registry);
  }
  await settle();
  const after = process.memoryUsage();
  process.stdout.write(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed, kept: keep.length }));
} else {
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const results = new Map<Case, { rss: number[]; heap: number[] }>(CASES.map((c) => [c, { rss: [], heap: [] }]));
  for (let i = 0; i < runs; i++) {
    for (const c of CASES) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', new URL(import.meta.url).pathname, '--child', c], { encoding: 'utf8' });
      const r = JSON.parse(out) as { rss: number; heap: number };
      results.get(c)?.rss.push(r.rss);
      results.get(c)?.heap.push(r.heap);
    }
  }
  const mb = (b: number): string => (b / 1048576).toFixed(1).padStart(6);
  console.log(`memory added by loading, median of ${runs} fresh processes (Node ${process.version})`);
  console.log('loaded            RSS MB  heap MB');
  for (const c of CASES) {
    const r = results.get(c) as { rss: number[]; heap: number[] };
    console.log(`${c.padEnd(16)} ${mb(median(r.rss))}  ${mb(median(r.heap))}`);
  }
}
