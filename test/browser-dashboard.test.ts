/**
 * The dashboard in a real headless Chromium against a real daemon and real busybox containers:
 * sign-in through `/#token=`, the form that creates a container, the table following changes made by
 * another client, pause freezing the process, logs followed, a terminal, a snapshot restored, bulk
 * actions, errors with their codes, a revoked token ending the session; and what the page is made
 * of (compressed, strict CSP, nothing from elsewhere, labelled controls, a phone's width, dark).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { noChromium, openPage } from './chromium.ts';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';

const skip = noChromium;

/** Whether the container's cgroup is frozen (cgroup v1's freezer or v2's cgroup.events). */
function frozen(dataDir: string, id: string): boolean {
  const prefix = cgroupPrefixFor(dataDir);
  const v1 = join('/sys/fs/cgroup/freezer', prefix, id, 'freezer.state');
  if (existsSync(v1)) return readFileSync(v1, 'utf8').trim() === 'FROZEN';
  const v2 = join('/sys/fs/cgroup', prefix, id, 'cgroup.events');
  return /^frozen 1$/m.test(readFileSync(v2, 'utf8'));
}

describe('the dashboard in a browser', { skip }, () => {
  let d: DaemonHandle;
  let browser: Browser;
  let page: Page;
  let requested: string[] = [];
  let pageErrors: string[] = [];
  let call: ReturnType<typeof apiClient>;
  let ticker = '';

  before(async () => {
    d = await startTestDaemon('sqlite');
    call = apiClient(d.api, d.adminToken);
    const opened = await openPage({ width: 1280, height: 860 });
    browser = opened.browser;
    page = opened.page;
    requested = opened.requested;
    pageErrors = opened.errors;
  });
  after(async () => {
    await browser?.close();
    await d?.cleanup();
  });

  const row = (name: string) => page.locator(`tr[data-name="${name}"]`);
  const statusOf = (name: string) => row(name).locator('[data-status]').getAttribute('data-status');
  const confirmDialog = async (): Promise<void> => {
    await page.locator('dialog[open] [data-confirm]').click();
  };

  it('serves the page compressed under a strict CSP, and signs in with the fragment\'s token, which leaves the address bar', async () => {
    const res = await fetch(`${d.url}/`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await res.text();
    const script = /src="(dashboard\/app-[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const asset = await fetch(`${d.url}/${script}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(asset.headers.get('content-encoding'), 'br');
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${d.url}/dashboard/..%2Fpackage.json`)).status, 404);

    await page.goto(`${d.url}/#token=${d.adminToken}`);
    await page.locator('[data-stream="live"]').waitFor();
    assert.equal(new URL(page.url()).hash, '#/', 'the token left the address bar');
    assert.ok(!page.url().includes(d.adminToken));
    await page.getByRole('heading', { name: 'Containers' }).waitFor();
    assert.equal(await page.getByText('Loading Hoody').count(), 0, 'the loading line is gone');
  });

  it('creates a container from the form and shows it running', async () => {
    await page.getByRole('link', { name: 'New container' }).click();
    await page.getByLabel('Name', { exact: true }).fill('ticker');
    await page.getByLabel('Image', { exact: true }).fill('busybox');
    await page.getByLabel('Command', { exact: true }).fill(`sh -c 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'`);
    await page.getByLabel('Environment', { exact: true }).fill('GREETING=hello there');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: /ticker/ }).waitFor();
    await page.locator('h1 [data-status="running"]').waitFor();
    ticker = /#\/containers\/([0-9a-f]{24})/.exec(page.url())?.[1] ?? '';
    const made = (await call('GET', `/containers/${ticker}`)).body.data;
    assert.equal(made.status, 'running');
    assert.deepEqual(made.command, ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done']);
    assert.deepEqual(made.environment_vars, { GREETING: 'hello there' });
  });

  it('shows the API\'s error, message and code, and changes nothing', async () => {
    await page.goto(`${d.url}/#/create`);
    await page.getByLabel('Name', { exact: true }).fill('ticker');
    await page.getByRole('button', { name: 'Create' }).click();
    const error = page.locator('#create-error .error');
    await error.waitFor();
    assert.match(await error.innerText(), /already|exists|taken/i);
    assert.match(await error.locator('.code').innerText(), /^[A-Z_]+$/);
    await page.getByLabel('Name', { exact: true }).fill('Not_A_Name');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('#create-error .code', { hasText: 'INVALID_INPUT' }).waitFor();
    assert.equal((await call('GET', '/containers')).body.data.containers.length, 1);
  });

  it('follows the logs as the container writes them', async () => {
    await page.goto(`${d.url}/#/containers/${ticker}/logs`);
    const lines = page.locator('.log-lines');
    await lines.locator('span', { hasText: /tick \d+/ }).first().waitFor();
    const count = async (): Promise<number> => Number(/tick (\d+)\s*$/.exec(await lines.innerText())?.[1] ?? 0);
    const first = await count();
    await page.waitForFunction((n) => Number(/tick (\d+)\s*$/.exec(document.querySelector('.log-lines')?.textContent ?? '')?.[1] ?? 0) > n + 2, first, { timeout: 20_000 });
  });

  it('pauses from the page: the process really freezes and its logs stop; resume thaws it', async () => {
    await page.goto(`${d.url}/#/containers/${ticker}/logs`);
    await page.locator('.log-lines span').first().waitFor();
    await page.getByRole('button', { name: 'Pause ticker' }).click();
    await page.locator('h1 [data-status="paused"]').waitFor();
    assert.equal(frozen(d.dataDir, ticker), true, 'the cgroup is frozen');
    const tail = async (): Promise<string> => (await call('GET', `/containers/${ticker}/logs?tail=1`)).body as unknown as string;
    const before = await tail();
    // nothing may be written while frozen: the last line a second later is the same
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await tail(), before);
    const resume = page.getByRole('button', { name: 'Resume ticker' });
    await resume.click();
    await page.locator('h1 [data-status="running"]').waitFor();
    assert.equal(frozen(d.dataDir, ticker), false);
    await eventually('a new line after the resume', tail, (t) => t !== before, 15_000);
  });

  it('a status change made by another client reaches the table within a second, without a reload', async () => {
    await page.goto(`${d.url}/#/`);
    await row('ticker').waitFor();
    assert.equal(await statusOf('ticker'), 'running');
    // the page notes when the row's status changes; the API's answer is the moment it happened
    await page.evaluate(() => {
      const w = window as unknown as { statusSeenAt?: number };
      new MutationObserver(() => {
        if (document.querySelector('tr[data-name="ticker"] [data-status="paused"]') && w.statusSeenAt === undefined) w.statusSeenAt = Date.now();
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    const paused = await call('POST', `/containers/${ticker}/pause`);
    const answeredAt = Date.now();
    assert.equal(paused.status, 200);
    const seenAt = await (await page.waitForFunction(() => (window as unknown as { statusSeenAt?: number }).statusSeenAt, undefined, { timeout: 10_000 })).jsonValue();
    assert.ok(Number(seenAt) - answeredAt < 1000, `shown ${Number(seenAt) - answeredAt} ms after the API answered`);
    assert.equal(await statusOf('ticker'), 'paused');
    // a refused action is disabled and says why
    const start = page.getByRole('link', { name: 'ticker' });
    await start.click();
    const pause = page.getByRole('button', { name: 'Pause ticker' });
    assert.equal(await pause.isDisabled(), true);
    assert.equal(await pause.getAttribute('title'), 'Pause: cannot pause while paused');
    assert.equal((await call('POST', `/containers/${ticker}/resume`)).status, 200);
    await page.locator('h1 [data-status="running"]').waitFor();
  });

  it('types in the terminal and shows the output', async () => {
    await page.goto(`${d.url}/#/containers/${ticker}/terminal`);
    await page.getByRole('button', { name: 'Open terminal' }).click();
    await page.waitForFunction(() => /[#$]\s*$/m.test(document.querySelector('.xterm-rows')?.textContent ?? ''), undefined, { timeout: 20_000 });
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('echo "$GREETING" $((6*7))');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /hello there 42/.test(document.querySelector('.xterm-rows')?.textContent ?? ''), undefined, { timeout: 20_000 });
    await page.getByRole('button', { name: 'Close terminal' }).click();
  });

  it('snapshots the container, then restores it: its files are back as they were', async () => {
    const exec = async (script: string): Promise<string> => {
      const r = await call('POST', `/containers/${ticker}/exec`, { command: ['sh', '-c', script] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data.stdout;
    };
    await exec('echo one > /marker');
    await page.goto(`${d.url}/#/containers/${ticker}/snapshots`);
    await page.getByLabel('Name (optional)').fill('v1');
    await page.getByRole('button', { name: 'Snapshot', exact: true }).click();
    const snap = page.locator('tr[data-snapshot="v1"]');
    await snap.waitFor();
    await exec('echo two > /marker');
    // a restore needs it stopped: the button says so
    assert.equal(await snap.getByRole('button', { name: 'Restore' }).getAttribute('title'), 'Restore: cannot restore while running');
    await page.getByRole('button', { name: 'Stop ticker', exact: true }).click();
    await page.locator('h1 [data-status="stopped"]').waitFor();
    await snap.getByRole('button', { name: 'Restore' }).click();
    await confirmDialog();
    await page.locator('.toast', { hasText: 'Restored v1' }).waitFor();
    // an autostart container is started again after a restore; the page shows it from the stream
    await page.locator('h1 [data-status="running"]').waitFor();
    assert.equal((await exec('cat /marker')).trim(), 'one');
  });

  it('edits a stopped container\'s configuration, and refuses to overwrite a change made elsewhere meanwhile', async () => {
    const made = await call('POST', '/containers', { name: 'cfg', container_image: 'busybox', autostart: false, programs: [{ name: 'web', port: 8080, index: 2 }] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.data.id;
    await page.goto(`${d.url}/#/containers/${id}/config`);
    const env = page.getByLabel('Environment', { exact: true });
    // the form is filled from the container (its program with its index)
    await page.waitForFunction(() => (document.querySelector('input[name="programs"]') as HTMLInputElement | null)?.value === 'web.2:8080');
    await env.fill('MODE=blue');
    // someone else changes it first
    assert.equal((await call('PATCH', `/containers/${id}`, { restart_policy: 'always' })).status, 200);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.error .code', { hasText: 'PRECONDITION_FAILED' }).waitFor();
    assert.deepEqual((await call('GET', `/containers/${id}`)).body.data.environment_vars, {}, 'nothing written');
    await page.reload();
    await page.waitForFunction(() => (document.querySelector('select[name="restart"]') as HTMLSelectElement | null)?.value === 'always');
    await env.fill('MODE=blue');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.toast', { hasText: 'Configuration saved' }).waitFor();
    const saved = (await call('GET', `/containers/${id}`)).body.data;
    assert.deepEqual(saved.environment_vars, { MODE: 'blue' });
    assert.equal(saved.restart_policy, 'always', 'the other change is kept');
    assert.deepEqual(saved.programs.map((p: { name: string; index: number }) => `${p.name}-${p.index}`), ['web-2'], 'the program keeps its index');
    assert.equal((await call('DELETE', `/containers/${id}`)).status, 200);
  });

  it('selects several containers and stops them with one bulk action', async () => {
    for (const name of ['bulk-a', 'bulk-b']) {
      const r = await call('POST', '/containers', { name, container_image: 'busybox', command: ['sleep', '1000'] });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    await page.goto(`${d.url}/#/`);
    await page.getByLabel('Name', { exact: true }).fill('bulk');
    await row('bulk-a').waitFor();
    await eventually('both to run', async () => [await statusOf('bulk-a'), await statusOf('bulk-b')], (s) => s.every((x) => x === 'running'), 20_000);
    await page.getByLabel('Select every container shown').check();
    await page.locator('[data-bulk="stop"]').click();
    await page.locator('.notice', { hasText: 'stop: 2 of 2 succeeded' }).waitFor();
    await eventually('both rows to show stopped', async () => [await statusOf('bulk-a'), await statusOf('bulk-b')], (s) => s.every((x) => x === 'stopped'), 10_000);
    await page.locator('[data-bulk="delete"]').click();
    await confirmDialog();
    await row('bulk-a').waitFor({ state: 'detached' });
    await row('bulk-b').waitFor({ state: 'detached' });
    assert.deepEqual((await call('GET', '/containers?name=bulk')).body.data.containers, []);
  });

  it('a long list holds only the rows on screen, and scrolling brings the others', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 150; i += 10) {
      const made = await Promise.all(Array.from({ length: 10 }, (_, j) => call('POST', '/containers', { name: `many-${String(i + j).padStart(3, '0')}`, container_image: 'busybox', autostart: false })));
      for (const r of made) {
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.data.id);
      }
    }
    await page.goto(`${d.url}/#/`);
    await page.getByLabel('Name', { exact: true }).fill('many-');
    await page.locator('[data-shown="150"]').waitFor();
    const inPage = await page.locator('tbody tr[data-id]').count();
    assert.ok(inPage > 0 && inPage < 150, `${inPage} rows in the page`);
    assert.equal(await page.locator('table.containers').getAttribute('aria-rowcount'), '151');
    await page.evaluate(() => scrollTo(0, document.body.scrollHeight));
    await row('many-149').waitFor();
    assert.equal(await row('many-149').getAttribute('aria-rowindex'), '151');
    assert.equal(await row('many-000').count(), 0, 'the first rows left the page');
    // select-all takes every row shown, on screen or not
    await page.getByLabel('Select every container shown').check();
    await page.getByText('150 selected').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
    for (const id of ids) assert.equal((await call('DELETE', `/containers/${id}`)).status, 200);
    await page.locator('[data-shown="0"]').waitFor();
    await page.evaluate(() => scrollTo(0, 0));
  });

  it('the events page shows a change as it happens', async () => {
    await page.goto(`${d.url}/#/events`);
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    await page.getByLabel('Kind').selectOption('transition');
    assert.equal((await call('POST', `/containers/${ticker}/pause`, { reason: 'looking at it' })).status, 200);
    await page.locator('[data-event-type="transition"]', { hasText: 'ticker: running → paused (pause, by' }).first().waitFor();
    assert.match(await page.locator('[data-event-type="transition"]').first().innerText(), /looking at it/);
    assert.equal((await call('POST', `/containers/${ticker}/resume`)).status, 200);
    await page.locator('[data-event-type="transition"]', { hasText: 'ticker: paused → running' }).first().waitFor();
  });

  it('lists images (the built-in one cannot be deleted) and shows an import\'s refusal with its code', async () => {
    await page.goto(`${d.url}/#/images`);
    const builtin = page.locator('tr', { hasText: 'host busybox-static' });
    await builtin.waitFor();
    assert.equal(await builtin.getByRole('button', { name: 'Delete' }).getAttribute('title'), 'the built-in image cannot be deleted');
    await page.locator('input[type=file]').setInputFiles({ name: 'not-an-image.tar', mimeType: 'application/x-tar', buffer: Buffer.from('this is not a tar archive') });
    await page.locator('.error .code').waitFor();
    assert.match(await page.locator('.error .code').innerText(), /^[A-Z_]+$/);
  });

  it('puts the server in maintenance and takes it out again', async () => {
    await page.goto(`${d.url}/#/servers`);
    const server = page.locator('tbody tr').first();
    await server.getByText('ready').waitFor();
    await server.getByRole('button', { name: 'Enter maintenance' }).click();
    await confirmDialog();
    await server.getByText('maintenance', { exact: true }).waitFor();
    assert.equal((await call('GET', `/containers/${ticker}`)).body.data.status, 'stopped', 'its running containers were stopped');
    await server.getByRole('button', { name: 'Leave maintenance' }).click();
    await server.getByText('ready').waitFor();
    // the autostart containers it stopped start again
    await eventually('ticker to run again', async () => (await call('GET', `/containers/${ticker}`)).body.data.status, (s) => s === 'running', 30_000);
  });

  it('creates a token and shows its secret once; revoking the token a page signed in with ends that page\'s session', async () => {
    await page.goto(`${d.url}/#/tokens`);
    await page.getByLabel('Name', { exact: true }).fill('laptop');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByLabel('New token secret').inputValue();
    assert.ok(secret.length > 20);
    await page.getByRole('button', { name: 'Done' }).click();
    assert.equal(await page.getByLabel('New token secret').count(), 0, 'the secret is shown no more');

    const other = await browser.newPage();
    try {
      await other.goto(`${d.url}/#token=${secret}`);
      await other.locator('[data-stream="live"]').waitFor();
      await other.locator('tr[data-name="ticker"]').waitFor();
      const id = (await call('GET', '/tokens')).body.data.tokens.find((t: { name: string }) => t.name === 'laptop').id;
      assert.equal((await call('DELETE', `/tokens/${id}`)).status, 200);
      await other.getByRole('heading', { name: 'Sign in to Hoody' }).waitFor({ timeout: 15_000 });
      assert.match(await other.getByRole('alert').innerText(), /not valid/);
      assert.equal(await other.evaluate(() => localStorage.getItem('hoody.dashboard.token')), null, 'the token is forgotten');
    } finally {
      await other.close();
    }
  });

  it('labels every control, fits a phone\'s width, goes dark, and loads nothing from elsewhere', async () => {
    await page.goto(`${d.url}/#/`);
    await row('ticker').waitFor();
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('button, input, select, textarea, a[href]')]
        .filter((el) => {
          const e = el as HTMLElement;
          const labelled = e.getAttribute('aria-label') || (e as HTMLInputElement).labels?.length || e.textContent?.trim() || e.getAttribute('title');
          return !labelled && e.offsetParent !== null;
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unlabelled, []);
    await page.setViewportSize({ width: 390, height: 800 });
    await row('ticker').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), 'no sideways scroll at 390 px');
    await page.getByLabel('Theme').selectOption('dark');
    // the theme is applied after the render that took the choice: wait for a dark background
    await page.waitForFunction(() => (getComputedStyle(document.body).backgroundColor.match(/\d+/g) ?? []).slice(0, 3).reduce((n, v) => n + Number(v), 0) < 150, undefined, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => localStorage.getItem('hoody.theme')), 'dark', 'the choice is kept');
    await page.setViewportSize({ width: 1280, height: 860 });
    const origin = new URL(d.url).origin;
    assert.deepEqual(requested.filter((u) => !u.startsWith(origin) && !u.startsWith('data:')), []);
    // the API's refusals the cases above caused show as failed loads; nothing else may have gone wrong
    assert.deepEqual(pageErrors.filter((e) => !/^Failed to load resource: the server responded with a status of (400|401|404|409|412) /.test(e)), []);
  });

  it('says so while the daemon is away, and catches up when it is back: a container made meanwhile appears', async () => {
    await page.goto(`${d.url}/#/`);
    await page.locator('[data-stream="live"]').waitFor();
    await row('ticker').waitFor();
    await d.stop();
    await page.locator('[data-stream="reconnecting"]').waitFor({ timeout: 20_000 });
    await d.restart();
    const made = await call('POST', '/containers', { name: 'while-away', container_image: 'busybox', autostart: false });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    await page.locator('[data-stream="live"]').waitFor({ timeout: 30_000 });
    await row('while-away').waitFor({ timeout: 15_000 });
    assert.equal(await statusOf('while-away'), 'stopped');
    assert.equal((await call('DELETE', `/containers/${made.body.data.id}`)).status, 200);
    await row('while-away').waitFor({ state: 'detached', timeout: 15_000 });
  });

  it('signs out and forgets the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Hoody' }).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('hoody.dashboard.token')), null);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to Hoody' }).waitFor();
    // a link with the token pasted into this open tab signs in too, and the token leaves the address
    await page.evaluate((token) => (location.hash = `#token=${token}`), d.adminToken);
    await page.locator('[data-stream="live"]').waitFor();
    await row('ticker').waitFor();
    assert.equal(new URL(page.url()).hash, '#/');
  });
});
