/**
 * The "try it out" page in a real headless Chromium: a person authorizes with a token, starts and
 * pauses a real container from /docs, and the page loads nothing from outside the daemon.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import { noChromium, openPage } from './chromium.ts';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';

const SCREENSHOT = '/tmp/hoody-docs.png';
const skip = noChromium;

describe('the /docs page in a browser', { skip }, () => {
  let d: DaemonHandle;
  let admin: ReturnType<typeof apiClient>;
  let browser: Browser;
  let page: Page;
  let id: string;
  let requested: string[] = [];
  let pageErrors: string[] = [];

  before(async () => {
    d = await startTestDaemon('sqlite');
    admin = apiClient(d.api, d.adminToken);
    const created = await admin('POST', '/containers', { name: 'web', container_image: 'busybox', autostart: false });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    id = created.body.data.id;
    assert.equal(created.body.data.status, 'stopped');

    const opened = await openPage({ width: 1280, height: 1000 });
    browser = opened.browser;
    page = opened.page;
    requested = opened.requested;
    pageErrors = opened.errors;
  });
  after(async () => {
    await browser?.close();
    await d?.cleanup();
  });

  /** The operation block of one route, expanded. */
  async function openOperation(method: string, path: string): Promise<Locator> {
    const block = page.locator(`.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
    assert.equal(await block.count(), 1, `one ${method} ${path} on the page`);
    await block.locator('.opblock-summary').first().click();
    return block;
  }

  /** Try it out → fill the id → Execute; answers the response status and body the page shows. */
  async function execute(block: Locator, containerId: string): Promise<{ status: string; body: string }> {
    await block.getByRole('button', { name: 'Try it out' }).click();
    await block.locator('input[placeholder="id"]').fill(containerId);
    await block.getByRole('button', { name: 'Execute' }).click();
    const status = block.locator('.live-responses-table .response .response-col_status');
    await status.waitFor();
    const body = block.locator('.live-responses-table .response-col_description .highlight-code');
    await body.waitFor();
    return { status: (await status.innerText()).trim(), body: await body.innerText() };
  }

  it('shows the API and authorizes with a bearer token', async () => {
    const res = await page.goto(`${d.url}/docs`);
    assert.equal(res?.status(), 200);
    await page.locator('.information-container .title').waitFor();
    assert.match(await page.locator('.information-container .title').innerText(), /Hoody API/);
    assert.ok((await page.locator('.opblock').count()) >= 25, 'every operation is listed');
    // the top bar carries Hoody's mark, not the generator's
    await page.waitForFunction(() => (document.querySelector('.topbar img') as HTMLImageElement | null)?.src.startsWith('data:image/svg+xml'), undefined, { timeout: 20_000 });
    const logo = await page.locator('.topbar img').getAttribute('src');
    assert.match(Buffer.from((logo ?? '').split(',')[1] ?? '', 'base64').toString('utf8'), /aria-label="Hoody"/);
    assert.match((await page.locator('link[rel="icon"]').first().getAttribute('href')) ?? '', /hoody\.svg/);

    await page.locator('.auth-wrapper button.authorize').click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    await dialog.waitFor();
    await dialog.locator('input').first().fill(d.adminToken);
    await dialog.locator('.auth-btn-wrapper button.authorize').click();
    await dialog.getByText('Authorized', { exact: true }).waitFor();
    await dialog.locator('.auth-btn-wrapper button.btn-done').click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('starts the container from the page: 200, and a real process runs', async () => {
    const block = await openOperation('post', '/api/v1/containers/{id}/start');
    const shown = await execute(block, id);
    assert.equal(shown.status, '200', shown.body);
    assert.match(shown.body, /Container started successfully/);

    const got = await admin('GET', `/containers/${id}?runtime=true`);
    assert.equal(got.body.data.status, 'running');
    assert.ok(got.body.data.runtime_info.processes.length > 0, JSON.stringify(got.body.data.runtime_info));
  });

  it('pauses the container from the page: 200, and it is paused', async () => {
    const block = await openOperation('post', '/api/v1/containers/{id}/pause');
    const shown = await execute(block, id);
    assert.equal(shown.status, '200', shown.body);
    assert.match(shown.body, /Container paused successfully/);

    const got = await admin('GET', `/containers/${id}?runtime=true`);
    assert.equal(got.body.data.status, 'paused');
    assert.ok(got.body.data.runtime_info.processes.length > 0, 'paused processes are kept');
    const logs = await admin('GET', `/containers/${id}/status-logs?sort_order=asc`);
    assert.deepEqual(
      logs.body.data.logs.map((l: { to_status: string }) => l.to_status),
      ['stopped', 'running', 'paused'],
    );
    await block.locator('.live-responses-table').scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT });
  });

  it('loaded nothing from outside the daemon, and ran without errors', () => {
    const origin = new URL(d.url).origin;
    assert.ok(requested.length >= 6, requested.join('\n'));
    const elsewhere = requested.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(pageErrors, []);
  });
});
