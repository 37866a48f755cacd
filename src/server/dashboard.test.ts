import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { chooseEncodings, dashboardFolder, dashboardRoutes } from './dashboard.ts';
import { installErrorHandling } from './errors.ts';

describe('the dashboard\'s files', () => {
  let app: FastifyInstance;
  let folder = '';

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'hoody-dashboard-'));
    await writeFile(join(folder, 'index.html'), '<!doctype html><title>Hoody</title>');
    await writeFile(join(folder, 'app-ABC.js'), 'console.log(1)');
    await writeFile(join(folder, 'app-ABC.js.gz'), (await import('node:zlib')).gzipSync('console.log(1)'));
    await mkdir(join(folder, 'sub'));
    await writeFile(join(folder, 'secret.key'), 'no');
    app = Fastify();
    installErrorHandling(app);
    await dashboardRoutes(app, folder);
  });
  after(async () => {
    await app.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('picks brotli, then gzip, as the browser accepts them', () => {
    assert.deepEqual(chooseEncodings('gzip, deflate, br, zstd'), ['br', 'gzip']);
    assert.deepEqual(chooseEncodings('gzip, br;q=0'), ['gzip']);
    assert.deepEqual(chooseEncodings('*'), ['br', 'gzip']);
    assert.deepEqual(chooseEncodings('identity'), []);
    assert.deepEqual(chooseEncodings(undefined), []);
  });

  it('serves the page uncached and a hashed file immutable, compressed when a copy exists, under the pages\' CSP', async () => {
    const page = await app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    const packed = await app.inject({ url: '/dashboard/app-ABC.js', headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(packed.headers['content-encoding'], 'gzip', 'no brotli copy: gzip');
    assert.equal(gunzipSync(packed.rawPayload).toString(), 'console.log(1)');
    assert.match(String(packed.headers['cache-control']), /immutable/);
    assert.equal(packed.headers.vary, 'accept-encoding');
    const plain = await app.inject({ url: '/dashboard/app-ABC.js' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body, 'console.log(1)');
  });

  it('answers 404 for anything the build did not write as an asset', async () => {
    for (const url of ['/dashboard/secret.key', '/dashboard/sub', '/dashboard/..%2Findex.html', '/dashboard/.hidden.js', '/dashboard/index.html', '/dashboard/missing.js']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().code, 'NOT_FOUND', url);
    }
  });

  it('says how to build it when it is not built, and finds no folder above the package\'s root', async () => {
    const bare = Fastify();
    await dashboardRoutes(bare, null);
    const res = await bare.inject({ url: '/' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm run build/);
    await bare.close();
    assert.equal(dashboardFolder('/'), undefined);
  });
});
