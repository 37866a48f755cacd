import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { displayPageFile } from './display-page.ts';
import { PAGE_CSP } from './page-headers.ts';

const ASSETS = '/display/assets/';

/** The specifiers of a module's static and dynamic imports and re-exports. */
function importsOf(source: string): string[] {
  const found = new Set<string>();
  for (const m of source.matchAll(/(?:^|[;\s])(?:import|export)\s*(?:[\w*{}\s,$]*?\bfrom\s*)?["']([^"']+)["']/g)) found.add(m[1] as string);
  for (const m of source.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) found.add(m[1] as string);
  return [...found];
}

describe('displayPageFile', () => {
  it('serves the page with the CSP and a module script of this origin', async () => {
    const file = await displayPageFile('page');
    assert.ok(file);
    assert.equal(file.headers['content-security-policy'], PAGE_CSP);
    assert.match(file.headers['content-security-policy'] ?? '', /script-src 'self'[;]/);
    assert.match(file.headers['content-security-policy'] ?? '', /connect-src 'self'/);
    assert.equal(file.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(file.headers['cache-control'], 'no-store');
    const html = file.body.toString('utf8');
    assert.match(html, /<script type="module" src="\/display\/assets\/display\.js"><\/script>/);
    // nothing inline (the CSP would refuse it) and nothing from elsewhere
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
    for (const id of ['title', 'state', 'mode', 'reconnect', 'clipboard', 'paste', 'screen']) assert.match(html, new RegExp(`id="${id}"`), id);
    assert.match(html, /<label[^>]*for="clipboard"/);
  });

  it("serves the page's own script and style", async () => {
    const js = await displayPageFile('assets/display.js');
    assert.ok(js);
    assert.match(js.headers['content-type'] ?? '', /^text\/javascript/);
    assert.equal(js.headers['cache-control'], 'public, max-age=3600');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    assert.match(js.body.toString('utf8'), /from '\/display\/assets\/novnc\/core\/rfb\.js'/);
    const css = await displayPageFile('assets/display.css');
    assert.ok(css);
    assert.match(css.headers['content-type'] ?? '', /^text\/css/);
    assert.equal(await displayPageFile('assets/index.html'), undefined);
    assert.equal(await displayPageFile('assets/display-page.ts'), undefined);
    assert.equal(await displayPageFile('index.html'), undefined);
  });

  it("serves noVNC's modules as JavaScript", async () => {
    const rfb = await displayPageFile('assets/novnc/core/rfb.js');
    assert.ok(rfb);
    assert.equal(rfb.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(rfb.headers['cache-control'], 'public, max-age=3600');
    assert.match(rfb.body.toString('utf8'), /export default class RFB/);
    assert.ok(await displayPageFile('assets/novnc/vendor/pako/lib/zlib/inflate.js'));
    // the same bytes the second time, from memory
    assert.equal((await displayPageFile('assets/novnc/core/rfb.js'))?.body, rfb.body);
  });

  it('refuses paths out of core/ and vendor/, encoded or not, and anything but .js', async () => {
    const refused = [
      'assets/novnc/../package.json',
      'assets/novnc/core/../../package.json',
      'assets/novnc/core/../package.json',
      'assets/novnc/core/../core/rfb.js',
      'assets/novnc/./core/rfb.js',
      'assets/novnc/core/./rfb.js',
      'assets/novnc/core//rfb.js',
      'assets/novnc/%2e%2e/x',
      'assets/novnc/%2e%2e/package.json',
      'assets/novnc/core/%2e%2e/%2e%2e/package.json',
      'assets/novnc/core%2frfb.js',
      'assets/novnc/core/rfb%2ejs',
      'assets/novnc/core\\rfb.js',
      'assets/novnc/core/..\\..\\package.json',
      'assets/novnc/core/rfb.js\0.js',
      'assets/novnc//etc/passwd.js',
      'assets/novnc/core/rfb.js/',
      'assets/novnc/core',
      'assets/novnc/core/',
      'assets/novnc/rfb.js',
      'assets/novnc/docs/API.md',
      'assets/novnc/package.json',
      'assets/novnc/LICENSE.txt',
      'assets/novnc/vendor/pako/README.md',
      'assets/novnc/vendor/pako/LICENSE',
      'assets/novnc/core/nonexistent.js',
      'assets/novnc/core/decoders.js',
      'assets/novnc/core/decoders/',
      'assets/novnc/',
      'assets/novnc',
    ];
    for (const name of refused) assert.equal(await displayPageFile(name), undefined, name);
  });

  it("serves every module noVNC's rfb.js imports, so the browser can load the whole graph", async () => {
    const seen = new Set<string>();
    const queue = [`${ASSETS}novnc/core/rfb.js`];
    // the page's own script is the root: its imports are followed the same way
    const own = await displayPageFile('assets/display.js');
    assert.ok(own);
    for (const spec of importsOf(own.body.toString('utf8'))) queue.push(new URL(spec, `http://host${ASSETS}display.js`).pathname);
    while (queue.length > 0) {
      const path = queue.pop() as string;
      if (seen.has(path)) continue;
      seen.add(path);
      assert.ok(path.startsWith(ASSETS), `${path} is outside ${ASSETS}`);
      const file = await displayPageFile(path.slice('/display/'.length));
      assert.ok(file, `${path} is not served`);
      assert.match(file.headers['content-type'] ?? '', /^text\/javascript/, path);
      for (const spec of importsOf(file.body.toString('utf8'))) {
        // bare specifiers would not load in a browser without an import map
        assert.match(spec, /^(\.\.?\/|\/)/, `${path} imports ${spec}`);
        queue.push(new URL(spec, `http://host${path}`).pathname);
      }
    }
    // rfb.js and what it needs: input, decoders, crypto, pako
    assert.ok(seen.size > 40, `only ${seen.size} modules`);
    for (const path of ['novnc/core/websock.js', 'novnc/core/decoders/tight.js', 'novnc/core/crypto/crypto.js', 'novnc/vendor/pako/lib/zlib/inflate.js']) assert.ok(seen.has(ASSETS + path), path);
  });
});
