/**
 * Per-call cost of what every request does for logs and metrics, in one process, 1,000,000 calls
 * per case, three rounds (the first warms up): a pino child logger, the lazy child the daemon
 * uses instead, a prom-client Histogram child's observe, and the daemon's own request histogram.
 *
 *   node --import tsx bench/obs-micro.ts
 */
import { pino } from 'pino';
import { Histogram, Registry } from 'prom-client';
import { lazyChildLogger } from '../src/server/lazy-child-logger.ts';
import { RequestHistogram } from '../src/server/request-histogram.ts';

const N = 1_000_000;
const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];
const log = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));
const prom = new Histogram({ name: 'p_seconds', help: 'p', labelNames: ['method', 'route', 'status_code'], buckets: BOUNDS, registers: [new Registry()] }).labels({
  method: 'GET',
  route: '/api/v1/containers/:id',
  status_code: 200,
});
const ours = new RequestHistogram('o_seconds', 'o', BOUNDS, new Registry());
// kept, so that the loops' results are not optimised away
const keep: unknown[] = new Array(1024);

const cases: [string, (i: number) => void][] = [
  ['pino logger.child({ reqId })', (i) => (keep[i & 1023] = log.child({ reqId: `r${i}` }, {}))],
  ['lazyChildLogger (nothing logged)', (i) => (keep[i & 1023] = lazyChildLogger(log, { reqId: `r${i}` }, {}))],
  ['prom-client Histogram child observe', (i) => prom.observe(0.0007 + (i % 10) * 0.0001)],
  ['RequestHistogram seriesFor + observe', (i) => ours.seriesFor('GET 200 /api/v1/containers/:id', { method: 'GET', route: '/api/v1/containers/:id', status_code: 200 }).observe(0.0007 + (i % 10) * 0.0001)],
];
const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < 3; round++) {
  for (const [name, fn] of cases) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) fn(i);
    results.get(name)?.push(((performance.now() - t0) * 1e6) / N);
  }
}
console.log(`ns per call, ${N.toLocaleString('en-US')} calls, rounds 2 and 3 (round 1 warms up), Node ${process.version}`);
for (const [name, ns] of results) console.log(`${name.padEnd(40)} ${ns.slice(1).map((n) => n.toFixed(0).padStart(6)).join(' ')}`);
