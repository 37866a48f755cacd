/**
 * The terminal page in a real headless Chromium against a real busybox container: the token in the
 * URL's fragment signs in (and leaves the address bar), a typed command shows its output, a resized
 * window changes what `stty size` says, and the page loads nothing from outside the daemon.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { noChromium, openPage } from './chromium.ts';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';

const skip = noChromium;

describe('the terminal page in a browser', { skip }, () => {
  let d: DaemonHandle;
  let browser: Browser;
  let page: Page;
  let id = '';
  let requested: string[] = [];
  let pageErrors: string[] = [];

  before(async () => {
    d = await startTestDaemon('sqlite');
    const created = await apiClient(d.api, d.adminToken)('POST', '/containers', { name: 'web', container_image: 'busybox' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    id = created.body.data.id;
    const opened = await openPage({ width: 900, height: 600 });
    browser = opened.browser;
    page = opened.page;
    requested = opened.requested;
    pageErrors = opened.errors;
  });
  after(async () => {
    await browser?.close();
    await d?.cleanup();
  });

  /** The terminal's visible text (xterm.js renders rows as DOM elements). */
  const screen = (): Promise<string> => page.locator('.xterm-rows').innerText();

  /** Types a command and waits until the screen shows `expected`. */
  async function run(command: string, expected: RegExp): Promise<string> {
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type(command);
    await page.keyboard.press('Enter');
    await page.waitForFunction((pattern) => new RegExp(pattern).test(document.querySelector('.xterm-rows')?.textContent ?? ''), expected.source, { timeout: 20_000 });
    return screen();
  }

  it('signs in with the token of the fragment, runs a command and follows a window resize', async () => {
    await page.goto(`${d.url}/terminal/${id}#token=${d.adminToken}`);
    assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
    await page.waitForFunction(() => /[#$]\s*$/.test(document.querySelector('.xterm-rows')?.textContent ?? ''), undefined, { timeout: 20_000 });
    const shown = await run('echo hello-$((6*7))', /hello-42/);
    assert.match(shown, /hello-42/);
    const before = /(\d+) (\d+)\s*size-shown/.exec((await run('stty size; echo size-shown', /\d+ \d+\s*size-shown/)).split('stty size').at(-1) ?? '');
    assert.ok(before, 'stty size printed a size');
    await page.setViewportSize({ width: 1300, height: 800 });
    const termSize = (): Promise<{ cols: number; rows: number }> =>
      page.evaluate(() => {
        const term = (window as unknown as { hoodyTerminal: { term: { cols: number; rows: number } } }).hoodyTerminal.term;
        return { cols: term.cols, rows: term.rows };
      });
    await page.waitForFunction((initial) => (window as unknown as { hoodyTerminal: { term: { cols: number } } }).hoodyTerminal.term.cols > initial, Number(before[2]), { timeout: 20_000 });
    const grownTo = await termSize();
    assert.ok(grownTo.cols > Number(before[2]), `wider: ${before[0]} → ${grownTo.rows} ${grownTo.cols}`);
    // the page may fit the window in more than one step, and runc passes a size on to the
    // container's terminal on its own time: ask again until the command sees the page's last size
    const deadline = Date.now() + 30_000;
    for (let round = 0; ; round++) {
      const size = await termSize();
      const mark = `size-${round}-shown`;
      const shown = await run(`clear; stty size; echo ${mark}`, new RegExp(`\\d+ \\d+\\s*${mark}`));
      const seen = new RegExp(`(\\d+ \\d+)\\s*${mark}`).exec(shown)?.[1];
      if (seen === `${size.rows} ${size.cols}`) break;
      assert.ok(Date.now() < deadline, `the command saw ${seen}, the page shows ${size.rows} ${size.cols}`);
    }
    // everything the page loaded came from the daemon
    assert.deepEqual(requested.filter((u) => !u.startsWith(d.url) && !u.startsWith(d.url.replace('http', 'ws'))), []);
    assert.deepEqual(pageErrors, []);
  });
});
