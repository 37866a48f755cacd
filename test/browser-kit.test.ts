/**
 * The kit's pages in a real headless Chromium, through the router: the display page shows what an
 * X program run in the container draws and sends it the keys typed on the page; three pages on
 * terminal-1 share one screen (a late one gets it whole); runtime_info lists them all.
 *
 * The container is busybox: the X programs (xsetroot, xev, xdpyinfo) and the libraries they need are copied
 * from this machine into /opt/x of the container and run through the copied dynamic loader.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { noChromium, openPage } from './chromium.ts';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { xProgramsTarball } from './x-programs.ts';

const X_PROGRAMS = ['/usr/bin/xsetroot', '/usr/bin/xev', '/usr/bin/xdpyinfo'];
const skip = noChromium ?? (process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/bin/Xvnc') ? 'needs Xvnc' : X_PROGRAMS.find((p) => !existsSync(p)) ? 'needs xsetroot (x11-xserver-utils), xev and xdpyinfo (x11-utils)' : undefined);
const tag = randomBytes(3).toString('hex');


describe('the kit in a browser: the display and a shared terminal', { skip }, () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let browser: Browser;
  let kit: any;
  const errors: string[] = [];

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_PROXY_PORT: '0', HOODY_PROXY_DOMAIN: 'apps.localhost' });
    call = apiClient(d.api, d.adminToken);
    const project = (await call('POST', '/projects', { name: `desk${tag}` })).body.data.id;
    const created = await call('POST', '/containers', { container_image: 'busybox', project_id: project, name: 'desk', hoody_kit: true, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    kit = created.body.data;
    // the X programs, in pieces under the exec's 1 MiB stdin
    const tarball = xProgramsTarball(X_PROGRAMS);
    for (let at = 0; at < tarball.length; at += 700_000) {
      const piece = await call('POST', `/containers/${kit.id}/exec`, { command: ['sh', '-c', 'cat >> /tmp/x.tgz'], encoding: 'base64', stdin: tarball.subarray(at, at + 700_000).toString('base64') });
      assert.equal(piece.body.data?.exit_code, 0, JSON.stringify(piece.body));
    }
    const unpacked = await call('POST', `/containers/${kit.id}/exec`, { command: ['sh', '-c', 'mkdir -p /opt/x && tar xzf /tmp/x.tgz -C /opt/x && rm /tmp/x.tgz'] });
    assert.equal(unpacked.body.data?.exit_code, 0, JSON.stringify(unpacked.body));
    const opened = await openPage({ width: 1000, height: 700 });
    browser = opened.browser;
    opened.page.on('pageerror', (e) => errors.push(e.message));
    await opened.page.close();
  });
  after(async () => {
    await browser?.close();
    await d?.cleanup();
  });

  /** An X program of /opt/x run in the container (in the background with `&`). */
  const x = (command: string): Promise<any> => call('POST', `/containers/${kit.id}/exec`, { command: ['sh', '-c', `X=/opt/x; ${command.replaceAll('X:', '$X/ld.so --library-path $X/lib $X/bin/')}`] });

  /** A new page (its own cookies) opened on a program's URL through its open link. */
  async function openService(program: string, index: number): Promise<Page> {
    const services = (await call('GET', `/containers/${kit.id}/services`)).body.data.services;
    const service = services.find((s: any) => s.program === program && s.index === index);
    assert.ok(service?.open_url, JSON.stringify(services));
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => errors.push(e.message));
    // *.localhost is loopback for Chromium: the router's URL works as the API gives it
    await page.goto(service.open_url);
    return page;
  }

  const runtime = async (): Promise<any> => (await call('GET', `/containers/${kit.id}?runtime=true`)).body.data.runtime_info;

  it('shows what an X program of the container draws, sends it the keys and clicks of the page, and takes the window\'s size', async () => {
    await eventually('display active', async () => (await runtime()).displays.active, (a) => a === true, 30_000);
    const page = await openService('display', 1);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'connected', undefined, { timeout: 30_000 });
    const drawn = await x('X:xsetroot -solid "#ff0000"');
    assert.equal(drawn.body.data?.exit_code, 0, JSON.stringify(drawn.body));
    // the page's canvas turns red where nothing else is drawn
    const pixel = (): Promise<number[]> =>
      page.evaluate(() => {
        const canvas = document.querySelector('canvas') as HTMLCanvasElement;
        return [...(canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(Math.floor(canvas.width / 2), Math.floor(canvas.height / 2), 1, 1).data];
      });
    await eventually('a red desktop on the page', pixel, (p) => p[0] === 255 && p[1] === 0 && p[2] === 0, 30_000);
    await page.screenshot({ path: join(d.dataDir, 'display.png') });
    // another color: the page follows
    await x('X:xsetroot -solid "#0000ff"');
    await eventually('a blue desktop on the page', pixel, (p) => p[0] === 0 && p[1] === 0 && p[2] === 255, 30_000);
    assert.equal((await runtime()).displays.connected_clients.length, 1);

    // keys: xev in the container reports what the root window receives
    const started = await x('(X:xev -root -event keyboard -event button > /tmp/keys.log 2>&1 < /dev/null &) ; sleep 0.2; echo started');
    assert.match(started.body.data?.stdout ?? '', /started/, JSON.stringify(started.body));
    await page.locator('canvas').click({ position: { x: 50, y: 50 } });
    // typed again until xev, started in the background, has seen them
    const keys = await eventually(
      'the typed keys reach the container',
      async () => {
        await page.keyboard.type('hoody');
        return (await call('POST', `/containers/${kit.id}/exec`, { command: ['cat', '/tmp/keys.log'] })).body.data?.stdout ?? '';
      },
      (t) => ['h', 'o', 'd', 'y'].every((k) => new RegExp(`keysym 0x[0-9a-f]+, ${k}\\)`).test(t)),
      30_000,
    );
    assert.match(keys, /KeyPress/);
    await page.locator('canvas').click({ position: { x: 60, y: 60 } });
    await eventually('a click reaches the container', async () => (await call('POST', `/containers/${kit.id}/exec`, { command: ['cat', '/tmp/keys.log'] })).body.data?.stdout ?? '', (t) => /ButtonPress/.test(t), 30_000);
    // the desktop takes the page's size (a controlling viewer resizes the session)
    const dimensions = async (): Promise<string> => /dimensions:\s+(\d+x\d+)/.exec((await x('X:xdpyinfo')).body.data?.stdout ?? '')?.[1] ?? '';
    const canvasSize = (): Promise<string> => page.evaluate(() => `${(document.querySelector('canvas') as HTMLCanvasElement).width}x${(document.querySelector('canvas') as HTMLCanvasElement).height}`);
    await page.setViewportSize({ width: 800, height: 520 });
    await eventually('the desktop resized to the page', async () => [await dimensions(), await canvasSize()], ([x11, canvas]) => x11 === canvas && x11 !== '1280x800' && Number(x11?.split('x')[0]) <= 800, 30_000);
    await page.close();
    await eventually('the viewer gone', async () => (await runtime()).displays.connected_clients.length, (n) => n === 0, 15_000);
  });

  it('shares terminal-1 between pages: each sees the other\'s commands, a late one gets the screen', async () => {
    const screen = (p: Page): Promise<string> => p.evaluate(() => document.querySelector('.xterm-rows')?.textContent ?? '');
    const shows = (p: Page, pattern: RegExp): Promise<unknown> => p.waitForFunction((source) => new RegExp(source).test(document.querySelector('.xterm-rows')?.textContent ?? ''), pattern.source, { timeout: 30_000 });
    const type = async (p: Page, text: string): Promise<void> => {
      await p.locator('.xterm-helper-textarea').focus();
      await p.keyboard.type(text);
      await p.keyboard.press('Enter');
    };
    const a = await openService('terminal', 1);
    await shows(a, /[#$]\s*$/);
    const b = await openService('terminal', 1);
    await type(a, 'echo from-a-$((6*7))');
    await shows(b, /from-a-42/);
    await type(b, 'echo from-b-$((7*7))');
    await shows(a, /from-b-49/);
    const late = await openService('terminal', 1);
    await shows(late, /from-a-42[\s\S]*from-b-49/);
    assert.match(await screen(late), /from-a-42/);
    const listed = await eventually('three clients', async () => (await runtime()).terminals.find((t: any) => t.index === 1)?.clients ?? [], (c) => c.length === 3, 15_000);
    assert.equal(new Set(listed.map((c: any) => c.id)).size, 3);
    // no page's automatic answer to the shell's questions shows up as typed text
    assert.doesNotMatch(await screen(a), /\[\d+;\d+R/);
    await late.close();
    await eventually('two clients', async () => (await runtime()).terminals.find((t: any) => t.index === 1)?.clients.length, (n) => n === 2, 15_000);
    await a.close();
    await b.close();
    assert.deepEqual(errors, []);
    assert.ok(readFileSync(join(d.dataDir, 'display.png')).length > 1000);
  });
});
