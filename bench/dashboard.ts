/**
 * The dashboard against its budgets, in a real headless Chromium (/usr/bin/chromium) on a real
 * daemon with 1000 containers, each figure next to its budget or its floor. Run as root:
 *
 *   npx tsx bench/dashboard.ts [runs=3]
 *
 * 1. First-load transfer: each file of dist/dashboard/first-load.json fetched from the daemon with
 *    `accept-encoding: br, gzip` and with `gzip` alone; the bytes on the wire (the body as served,
 *    headers left out) summed for the JavaScript. Budget: 250 kB (250,000 bytes) of compressed JS.
 * 2. 1000 busybox containers (`sleep 1000`, autostart false) created through the API, 12 at once.
 * 3. Per run, a fresh browser context (cold cache) opens `/#token=<admin>`: the time from navigation
 *    start until the table shows the list of 1000 (its count says 1000 and the rows on screen are in
 *    the page: it renders no others; a MutationObserver), and until that frame's layout and paint
 *    are done (a message posted after it); the list request's own span (resource timing).
 *    Budget 500 ms. Floor: `GET /containers?page=1&limit=1000` from Node, fetched and parsed.
 * 4. Then, the page on the table, one `POST /containers/bulk {operation: start}` of 100 of them
 *    (real runc starts; sent from the page, so its clock times it): the longest gap between frames
 *    (a requestAnimationFrame loop) and the longest long task, until the table's count of running
 *    containers says 100; meanwhile keys are typed into the name filter every 100 ms (`dash`,
 *    then Backspaces: every value still matches all rows), each timed from its keydown until the
 *    frame after its input event was painted; and the Event Timing API's longest entry. Budget:
 *    100 ms. Floor for "all running shown": the bulk answer (the last start). Then the filter
 *    narrowed to 100 rows and cleared back to 1000, each timed from its input event to the painted
 *    count. The 100 are stopped (bulk stop) before the next run.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { Browser, Page } from 'playwright-core';
import { openPage } from '../test/chromium.ts';
import { apiClient, startTestDaemon } from '../test/daemon-harness.ts';
import { median } from './proc-util.ts';

const RUNS = Number(process.argv[2] ?? 3);
const N = 1000;
const BURST = 100;
const BUDGET = { js: 250_000, render: 500, block: 100 };
const ROOT = new URL('..', import.meta.url).pathname;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const f0 = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(0));
const kb = (n: number): string => `${(n / 1000).toFixed(1)} kB`;

type Span = { start: number; duration: number };
/** What the page notes: the table's first complete frame, frame gaps, long tasks, Event Timing entries, keys' latencies, the filter's count. */
type Probe = { tableDomAt?: number; tablePaintedAt?: number; maxGap: number; longTasks: Span[]; events: Span[]; typed: number[]; inputAt: number; want?: { test: string; at?: number } };
type W = { __b: Probe; __afterPaint: (f: (t: number) => void) => void };

/** Runs in the page before its own scripts. */
function probe(n: number): void {
  const w = window as unknown as W;
  const b: Probe = (w.__b = { maxGap: 0, longTasks: [], events: [], typed: [], inputAt: 0 });
  let inFrame = false;
  let last = 0;
  const end = new MessageChannel();
  end.port1.onmessage = () => (inFrame = false);
  // after the frame that shows what changed now: a task posted from inside the frame runs after its layout and paint
  w.__afterPaint = (f) => {
    const go = (): void => {
      const c = new MessageChannel();
      c.port1.onmessage = () => f(performance.now());
      c.port2.postMessage(0);
    };
    if (inFrame) go();
    else requestAnimationFrame(go);
  };
  const frame = (): void => {
    // the clock, not the frame's timestamp: that is when the frame was begun, which a blocked thread does not delay
    const t = performance.now();
    inFrame = true;
    end.port2.postMessage(0);
    if (last && t - last > b.maxGap) b.maxGap = t - last;
    last = t;
    if (b.want && b.want.at === undefined && (document.querySelector('.count')?.textContent ?? '').startsWith(b.want.test)) {
      const want = b.want;
      want.at = -1;
      w.__afterPaint((at) => (want.at = at));
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  new PerformanceObserver((l) => l.getEntries().forEach((e) => b.longTasks.push({ start: e.startTime, duration: e.duration }))).observe({ type: 'longtask', buffered: true });
  new PerformanceObserver((l) => l.getEntries().forEach((e) => b.events.push({ start: e.startTime, duration: e.duration }))).observe({ type: 'event', durationThreshold: 16, buffered: true } as PerformanceObserverInit);
  let keyAt = 0;
  addEventListener('keydown', (e) => (keyAt = e.timeStamp), true);
  addEventListener('input', (e) => {
    const from = keyAt || e.timeStamp;
    keyAt = 0;
    b.inputAt = e.timeStamp;
    w.__afterPaint((at) => b.typed.push(at - from));
  }, true);
  const seen = new MutationObserver(() => {
    // the table holds the rows on screen (it renders no others): the list of n is shown when its count says n and rows are drawn
    if (document.querySelector('[data-shown]')?.getAttribute('data-shown') !== String(n) || !document.querySelector('tbody tr[data-id]')) return;
    b.tableDomAt = performance.now();
    seen.disconnect();
    w.__afterPaint((at) => (b.tablePaintedAt = at));
  });
  seen.observe(document, { childList: true, subtree: true });
}

const d = await startTestDaemon('sqlite'); // builds dist/ first when stale (scripts/ensure-built.sh)
let browser: Browser | undefined;
try {
  const started = performance.now();
  const call = apiClient(d.api, d.adminToken);
  // ---------------------------------------------------------------- 1. first-load transfer
  const folder = join(ROOT, 'dist/dashboard');
  const files = (JSON.parse(readFileSync(join(folder, 'first-load.json'), 'utf8')) as { files: string[] }).files;
  const wire = async (file: string, accept: string): Promise<[number, string]> => {
    const res = await request(file === 'index.html' ? `${d.url}/` : `${d.url}/dashboard/${file}`, { headers: { 'accept-encoding': accept } });
    if (res.statusCode !== 200) throw new Error(`${file} answered ${res.statusCode}`);
    // undici does not decode: these are the bytes as sent
    return [(await res.body.arrayBuffer()).byteLength, String(res.headers['content-encoding'] ?? 'identity')];
  };
  console.log(`1. First-load transfer: the ${files.length} files of first-load.json, bytes of each body on the wire`);
  console.log('| file | uncompressed | asked `br, gzip` | asked `gzip` |\n|---|---:|---:|---:|');
  const sum = { raw: 0, br: 0, gz: 0, jsRaw: 0, jsBr: 0, jsGz: 0 };
  for (const file of files) {
    const raw = readFileSync(join(folder, file)).length;
    const [[br, brAs], [gz, gzAs]] = [await wire(file, 'br, gzip'), await wire(file, 'gzip')];
    [sum.raw, sum.br, sum.gz] = [sum.raw + raw, sum.br + br, sum.gz + gz];
    if (file.endsWith('.js')) [sum.jsRaw, sum.jsBr, sum.jsGz] = [sum.jsRaw + raw, sum.jsBr + br, sum.jsGz + gz];
    console.log(`| ${file} | ${raw} | ${br} (${brAs}) | ${gz} (${gzAs}) |`);
  }
  console.log(`| all | ${kb(sum.raw)} | ${kb(sum.br)} | ${kb(sum.gz)} |\n| **JavaScript** | ${kb(sum.jsRaw)} | **${kb(sum.jsBr)}** | ${kb(sum.jsGz)} |`);
  console.log(`budget ≤ ${kb(BUDGET.js)} of compressed JavaScript: ${kb(sum.jsBr)} as served (br), ${kb(sum.jsGz)} gzip only: ${sum.jsGz <= BUDGET.js ? 'met' : 'NOT met'}`);

  // ---------------------------------------------------------------- 2. 1000 containers
  const t0 = performance.now();
  const ids: string[] = new Array(N);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < N; i = next++) {
      const r = await call('POST', '/containers', { name: `dash-${String(i).padStart(4, '0')}`, container_image: 'busybox', command: ['sleep', '1000'], autostart: false });
      if (r.status !== 201) throw new Error(`create ${i} answered ${r.status}: ${JSON.stringify(r.body)}`);
      ids[i] = r.body.data.id;
    }
  };
  await Promise.all(Array.from({ length: 12 }, lane));
  const createMs = performance.now() - t0;
  console.log(`\n2. ${N} containers created (autostart false), 12 requests at once: ${(createMs / 1000).toFixed(1)} s, ${f0((N / createMs) * 1000)} per second`);
  const burstIds = ids.slice(0, BURST); // dash-0000…dash-0099: the table's first rows

  // ---------------------------------------------------------------- 3 and 4, per run
  browser = (await openPage({ width: 1280, height: 860 })).browser;
  const runs: Record<string, number>[] = [];
  for (let r = 0; r < RUNS; r++) {
    const run: Record<string, number> = {};
    const floor = async (): Promise<number> => {
      const t = performance.now();
      const res = await fetch(`${d.api}/containers?page=1&limit=${N}`, { headers: { authorization: `Bearer ${d.adminToken}` } });
      const got = ((await res.json()) as { data: { containers: unknown[] } }).data.containers.length;
      if (got !== N) throw new Error(`the list has ${got} containers`);
      return performance.now() - t;
    };
    run.floor = median([await floor(), await floor(), await floor()]);
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 860 } }); // a context of its own: a cold cache
    page.setDefaultTimeout(60_000);
    const apiCalls = new Map<string, number>();
    let counting = false;
    page.on('request', (q) => {
      const u = new URL(q.url());
      const what = `${q.method()} ${u.pathname.replace(/[0-9a-f]{24}/g, ':id')}${u.search.includes('runtime') ? '?runtime=true' : ''}`;
      if (counting && u.pathname.startsWith('/api/')) apiCalls.set(what, (apiCalls.get(what) ?? 0) + 1);
    });
    await page.addInitScript({ content: 'globalThis.__name = (f) => f;' }); // the helper tsx's keepNames adds to functions sent to the page
    await page.addInitScript(probe, N);
    await page.goto(`${d.url}/#token=${d.adminToken}`);
    await page.waitForFunction(() => (window as unknown as W).__b.tablePaintedAt);
    Object.assign(
      run,
      await page.evaluate(() => {
        const b = (window as unknown as W).__b;
        const res = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
        const list = res.find((e) => e.name.includes('/api/v1/containers?')) as PerformanceResourceTiming;
        const js = res.filter((e) => e.name.endsWith('.js'));
        const [dom = NaN, painted = NaN] = [b.tableDomAt, b.tablePaintedAt];
        return { jsEnd: Math.max(...js.map((e) => e.responseEnd)), jsBytes: js.reduce((a, e) => a + e.encodedBodySize, 0), listStart: list.startTime, listWait: list.responseStart - list.startTime, listBody: list.responseEnd - list.responseStart, toDom: dom - list.responseEnd, toPaint: painted - dom, dom, painted, longest: Math.max(0, ...b.longTasks.map((t) => t.duration)) };
      }),
    );

    // the burst, with keys typed into the filter meanwhile
    const search = page.locator('input[type=search]');
    await search.focus();
    counting = true;
    let done = false;
    const burst = page
      .evaluate(
        async ({ ids, n }) => {
          const w = window as unknown as W;
          w.__b.maxGap = 0;
          const t = performance.now();
          const res = await fetch('/api/v1/containers/bulk', { method: 'POST', headers: { authorization: `Bearer ${localStorage.getItem('hoody.dashboard.token')}`, 'content-type': 'application/json' }, body: JSON.stringify({ operation: 'start', ids }) });
          const answered = performance.now() - t;
          const ok = ((await res.json()) as { data: { summary: { succeeded: number } } }).data.summary.succeeded;
          const shown = await new Promise<number>((resolve) => {
            const check = (): void => (Number(document.querySelector('[data-running]')?.getAttribute('data-running')) >= n ? w.__afterPaint(resolve) : void requestAnimationFrame(check));
            check();
          });
          const since = (xs: Span[]): number => Math.max(0, ...xs.filter((x) => x.start >= t).map((x) => x.duration));
          return { answered, ok, shown: shown - t, gap: w.__b.maxGap, task: since(w.__b.longTasks), event: since(w.__b.events) };
        },
        { ids: burstIds, n: BURST },
      )
      .finally(() => (done = true));
    const keys = ['d', 'a', 's', 'h', 'Backspace', 'Backspace', 'Backspace', 'Backspace'];
    let typed = 0;
    while (!done) {
      await page.keyboard.press(keys[typed++ % keys.length] as string);
      await sleep(100);
    }
    const b = await burst;
    counting = false;
    await sleep(200);
    const lat = await page.evaluate(() => (window as unknown as W).__b.typed.splice(0));
    if (b.ok !== BURST) throw new Error(`the bulk start succeeded for ${b.ok} of ${BURST}`);
    Object.assign(run, b, { keys: typed, keyMax: lat.length ? Math.max(...lat) : NaN, keyMedian: median(lat), requests: [...apiCalls.values()].reduce((a, x) => a + x, 0) });
    console.log(`run ${r + 1}: the page's API requests during the burst: ${[...apiCalls].map(([k, v]) => `${k} ×${v}`).join(', ')}`);

    // the filter: 1000 → 100 rows, and back
    await search.fill('');
    for (const [value, test, key] of [['dash-00', `${BURST} of`, 'narrow'], ['', `${N} of`, 'widen']] as const) {
      await page.evaluate((t) => ((window as unknown as W).__b.want = { test: t }), test);
      await search.fill(value);
      await page.waitForFunction(() => ((window as unknown as W).__b.want?.at ?? -1) > 0);
      run[key] = await page.evaluate(() => ((window as unknown as W).__b.want?.at ?? NaN) - (window as unknown as W).__b.inputAt);
    }
    await page.close();
    const stopped = await call('POST', '/containers/bulk', { operation: 'stop', ids: burstIds, timeout: 2 });
    if (stopped.status !== 200 || stopped.body.data.summary.succeeded !== BURST) throw new Error(`bulk stop: ${JSON.stringify(stopped.body).slice(0, 300)}`);
    runs.push(run);
  }

  const rows: [string, string, string][] = [
    ['3. navigation start → app JS loaded', 'jsEnd', ''],
    ['JS bytes the page received (encodedBodySize, B)', 'jsBytes', `≤ ${BUDGET.js}`],
    ['navigation start → list request sent', 'listStart', ''],
    ['the list request (`limit=1000`): sent → first byte', 'listWait', ''],
    ['the list request: first byte → last byte', 'listBody', ''],
    ['floor: `GET /containers?limit=1000` from Node, fetch + parse', 'floor', '(floor of the two rows above)'],
    ['list answered → list of 1000 in the page (parse, JS)', 'toDom', ''],
    ['list in the page → painted (style, layout, paint)', 'toPaint', ''],
    ['navigation start → list of 1000 in the page', 'dom', ''],
    ['**navigation start → list of 1000 painted**', 'painted', `< ${BUDGET.render}`],
    ['longest long task of the load', 'longest', ''],
    [`4. bulk start of ${BURST}: the API's answer`, 'answered', '(floor of the next row)'],
    [`all ${BURST} shown running (±1 frame)`, 'shown', '≈ the answer'],
    ['**longest gap between frames**', 'gap', `< ${BUDGET.block}`],
    ['longest long task', 'task', `< ${BUDGET.block}`],
    ['keys typed during the burst (count)', 'keys', ''],
    ['keydown → painted: median', 'keyMedian', ''],
    ['**keydown → painted: max**', 'keyMax', `< ${BUDGET.block}`],
    ['longest Event Timing entry (0: none ≥ 16 ms)', 'event', `< ${BUDGET.block}`],
    ['API requests of the page during the burst (count)', 'requests', ''],
    [`filter 1000 → ${BURST} rows: input → painted`, 'narrow', `< ${BUDGET.block}`],
    [`filter cleared, ${BURST} → 1000 rows: input → painted`, 'widen', ''],
  ];
  console.log(`\n3–4. ${RUNS} runs, each in a fresh browser context; headless Chromium, 1280×860; ms unless said`);
  console.log(`| measure | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} | budget / floor |\n|---|${runs.map(() => '---:').join('|')}|---|`);
  for (const [name, key, budget] of rows) console.log(`| ${name} | ${runs.map((x) => f0(x[key])).join(' | ')} | ${budget} |`);
  const verdict = (what: string, key: string, max: number): string => `${what} ${runs.map((x) => f0(x[key])).join(' / ')} ms < ${max}: ${runs.every((x) => (x[key] ?? Infinity) < max) ? 'met' : 'NOT met'}`;
  console.log(`\nbudgets: compressed JS ${kb(sum.jsBr)} ≤ ${kb(BUDGET.js)}: ${sum.jsGz <= BUDGET.js ? 'met' : 'NOT met'}; ${verdict('1000 rows painted', 'painted', BUDGET.render)}; ${verdict('longest frame gap in the burst', 'gap', BUDGET.block)}; ${verdict('slowest key', 'keyMax', BUDGET.block)}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  await browser?.close();
  await d.cleanup();
}
