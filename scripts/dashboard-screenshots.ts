/**
 * Screenshots of the dashboard for the docs, taken in a real headless Chromium (/usr/bin/chromium)
 * against a real daemon with a few realistic busybox containers. Run as root:
 *
 *   npx tsx scripts/dashboard-screenshots.ts [out folder, default docs/images]
 *
 * The daemon (test/daemon-harness.ts, server `edge-1`) gets a bridge, a subnet and an nftables table
 * of its own (removed at the end) so that containers publish ports, and its router
 * (`HOODY_PROXY_PORT=0`, apps.localhost) so that programs have service URLs. Two projects: shop
 * (web and api serving HTTP, a worker writing log lines and using some CPU and memory, its script put in place with exec, a paused cache) and ops
 * (a db-backup that ran and stopped, a report-mailer that exited with 1); web has a snapshot and a few
 * lifecycle changes with reasons, so that its timeline has rows. Writes, at 1280×800 unless said:
 * dashboard-containers.png (the table, one row selected: the bulk bar), dashboard-container.png
 * (the worker's overview once its charts have a few samples), dashboard-timeline.png (web's),
 * dashboard-create.png (the form, partly filled in), dashboard-dark.png (the table, dark theme),
 * dashboard-phone.png (the table at 390×800).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openPage } from '../test/chromium.ts';
import { apiClient, startTestDaemon } from '../test/daemon-harness.ts';

const out = resolve(process.argv[2] ?? 'docs/images');
mkdirSync(out, { recursive: true });
const tag = randomBytes(3).toString('hex');
const bridge = `hds${tag}`;
const table = `hds${tag}`;
const subnet = `10.216.${16 + (parseInt(tag.slice(0, 2), 16) % 200)}.0/24`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** busybox httpd answering a page on `port`, logging each request. */
const httpd = (port: number, text: string): string[] => ['sh', '-c', `mkdir -p /srv && echo '${text}' > /srv/index.html && echo "listening on :${port}" && exec httpd -f -v -p ${port} -h /srv`];
/** A queue worker's script: a log line per job, some CPU (md5sum) and a working set in /tmp that vary from job to job, a status page on :9090. */
const WORKER_SH = `echo "worker 2.3.1 started, queue=$QUEUE"
mkdir -p /srv/status && httpd -p 9090 -h /srv/status
i=0
while true; do
  i=$((i+1)); n=$(( (i*7) % 5 + 1 ))
  head -c $((n*3))000000 /dev/zero > /tmp/batch
  seq 1 $((n*50000)) | md5sum > /dev/null
  echo "job $i: order #$((10400+i)) processed, $n items"; echo "ok, job $i" > /srv/status/index.html
  sleep 1
done
`;

const d = await startTestDaemon(
  'sqlite',
  { HOODY_NETWORK: 'bridge', HOODY_NETWORK_BRIDGE: bridge, HOODY_NETWORK_SUBNET: subnet, HOODY_NETWORK_TABLE: table, HOODY_NETWORK_NAMESERVERS: '', HOODY_PROXY_PORT: '0', HOODY_PROXY_DOMAIN: 'apps.localhost' },
  { serverName: 'edge-1' },
);
let browser: Browser | undefined;
try {
  const call = apiClient(d.api, d.adminToken);
  const must = async (method: string, path: string, body?: unknown): Promise<{ id: string; name: string }> => {
    const r = await call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body.data;
  };
  const waitFor = (id: string, status: string): Promise<unknown> => must('GET', `/containers/${id}/wait?status=${status}&timeout=30`);
  const shop = await must('POST', '/projects', { name: 'shop' });
  const ops = await must('POST', '/projects', { name: 'ops' });
  const make = (body: Record<string, unknown>): Promise<{ id: string; name: string }> => must('POST', '/containers', { container_image: 'busybox', ...body });
  const web = await make({ name: 'web', project_id: shop.id, command: httpd(8080, '<h1>Shop</h1>'), ports: [{ container_port: 8080 }], programs: [{ name: 'web', port: 8080, public: true }], environment_vars: { SHOP_ENV: 'production' }, resources: { memory_mb: 256 }, restart_policy: 'always' });
  const api = await make({ name: 'api', project_id: shop.id, command: httpd(3000, '{"ok":true}'), ports: [{ container_port: 3000 }], programs: [{ name: 'api', port: 3000 }], resources: { memory_mb: 512 } });
  // the worker's script is put in place with exec, then it becomes its command
  const work = await make({ name: 'worker', project_id: shop.id, command: ['sleep', '100000'], environment_vars: { QUEUE: 'orders' }, resources: { memory_mb: 64, cpu: 0.5 }, restart_policy: 'on-failure' });
  await waitFor(work.id, 'running');
  await must('POST', `/containers/${work.id}/exec`, { command: ['sh', '-c', `mkdir -p /app && cat > /app/worker.sh <<'EOF'\n${WORKER_SH}EOF`] });
  await must('POST', `/containers/${work.id}/stop`, { reason: 'install worker 2.3.1' });
  await must('PATCH', `/containers/${work.id}`, { command: ['sh', '/app/worker.sh'], programs: [{ name: 'status', port: 9090 }] });
  await must('POST', `/containers/${work.id}/start`, { reason: 'install worker 2.3.1' });
  const cache = await make({ name: 'cache', project_id: shop.id, command: ['sh', '-c', 'echo "cache warm: 1842 keys"; exec sleep 100000'] });
  const backup = await make({ name: 'db-backup', project_id: ops.id, command: ['sh', '-c', 'echo "backup: dumping shop database"; sleep 1; echo "backup: wrote 41.7 MB to /backups/shop-2026-12-01.sql.gz"; echo "backup: done in 1.0 s"'] });
  const mailer = await make({ name: 'report-mailer', project_id: ops.id, command: ['sh', '-c', 'echo "report: 312 orders yesterday"; echo "smtp: connect to mail.internal:587: connection refused" >&2; exit 1'] });
  for (const c of [web, api, work, cache]) await waitFor(c.id, 'running');
  await waitFor(backup.id, 'stopped');
  await waitFor(mailer.id, 'stopped');
  await must('POST', `/containers/${cache.id}/pause`, { reason: 'memory pressure on edge-1' });
  // web: a snapshot and a few changes with reasons, for its timeline
  await must('POST', `/containers/${web.id}/snapshots`, { alias: 'before-upgrade', reason: 'before 1.4.2' });
  for (const [op, reason] of [['stop', 'deploy 1.4.2'], ['start', 'deploy 1.4.2'], ['pause', 'investigating slow answers'], ['resume', ''], ['restart', 'config reload']]) {
    await sleep(1100); // a second apart, as a person would
    await must('POST', `/containers/${web.id}/${op}`, reason ? { reason } : {});
  }

  const opened = await openPage({ width: 1280, height: 800 });
  browser = opened.browser;
  const page: Page = opened.page;
  const shot = async (name: string): Promise<void> => {
    await page.evaluate(() => document.fonts.ready);
    await page.screenshot({ path: join(out, name) });
    console.log(`wrote ${join(out, name)}`);
  };
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${d.url}/#token=${d.adminToken}`);
  await page.locator('[data-stream="live"]').waitFor();
  await page.getByLabel('Theme').selectOption('light');
  await page.locator('tr[data-name="worker"]').waitFor();
  // the CPU column needs two readings, 5 s apart
  await page.waitForFunction(() => /%/.test(document.querySelector('tr[data-name="worker"] td.num')?.textContent ?? ''), undefined, { timeout: 20_000 });
  await page.getByLabel('Select worker', { exact: true }).check();
  await page.locator('.bulk').waitFor();
  await shot('dashboard-containers.png');

  await page.getByLabel('Theme').selectOption('dark');
  await page.getByLabel('Select worker', { exact: true }).uncheck();
  await shot('dashboard-dark.png');
  await page.getByLabel('Theme').selectOption('light');

  await page.goto(`${d.url}/#/containers/${work.id}`);
  await page.locator('.charts').waitFor();
  // a sample every 2 s: wait until the CPU chart has 10
  await page.waitForFunction(() => /last (\d\d) samples/.test(document.querySelector('.charts svg')?.getAttribute('aria-label') ?? ''), undefined, { timeout: 40_000 });
  await shot('dashboard-container.png');

  await page.goto(`${d.url}/#/containers/${web.id}/timeline`);
  await page.locator('table.timeline tbody tr').nth(4).waitFor();
  await shot('dashboard-timeline.png');

  await page.goto(`${d.url}/#/create`);
  await page.getByLabel('Name', { exact: true }).fill('api-v2');
  await page.getByLabel('Project').selectOption({ label: 'shop' });
  await page.getByLabel('Command', { exact: true }).fill('httpd -f -p 3000 -h /srv');
  await page.getByLabel('Environment', { exact: true }).fill('SHOP_ENV=staging\nLOG_LEVEL=debug');
  await page.getByLabel('Programs', { exact: true }).fill('api:3000');
  await page.getByLabel('Memory (MiB)').fill('512');
  await page.locator('h1').click(); // no focus ring on a field
  await shot('dashboard-create.png');

  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${d.url}/#/`);
  await page.waitForFunction(() => /%/.test(document.querySelector('tr[data-name="worker"] td.num')?.textContent ?? ''), undefined, { timeout: 20_000 });
  await shot('dashboard-phone.png');
} finally {
  await browser?.close();
  await d.cleanup();
  // what the daemon's bridge network left on the host: namespaces, the bridge, the tables
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const n of namespaces.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${bridge}-`))) spawnSync('ip', ['netns', 'del', n]);
  spawnSync('ip', ['link', 'del', bridge]);
  for (const family of ['ip', 'bridge', 'inet']) spawnSync('nft', ['delete', 'table', family, table]);
}
