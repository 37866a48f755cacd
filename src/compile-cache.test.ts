import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = new URL('./compile-cache.ts', import.meta.url).href;
/** This Node and those of HOODY_TEST_NODE_BINARIES (colon-separated): the cache needs Node ≥ 22.1. */
const NODES = [process.execPath, ...(process.env.HOODY_TEST_NODE_BINARIES ?? '').split(':').filter(Boolean)];

/** Runs enableCompileCacheIn(dir) under `node`, answers what it returned ('' for undefined). */
function enableUnder(node: string, dir: string): Promise<string> {
  const script = `const { enableCompileCacheIn } = await import(${JSON.stringify(SOURCE)}); process.stdout.write(enableCompileCacheIn(${JSON.stringify(dir)}) ?? '');`;
  return new Promise((resolve, reject) =>
    execFile(node, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
}

const hasCache = (node: string): Promise<boolean> =>
  new Promise((resolve) => execFile(node, ['-p', "typeof require('node:module').enableCompileCache"], (err, out) => resolve(!err && out.trim() === 'function')));

describe('the compile cache in the data folder', () => {
  for (const node of NODES) {
    it(`under ${node}: enabled in <data>/compile-cache (0700) when Node has one, refused in a data folder others may write`, async () => {
      const base = await mkdtemp(join(tmpdir(), 'hoody-compile-cache-'));
      try {
        const fresh = join(base, 'data');
        const got = await enableUnder(node, fresh);
        if (!(await hasCache(node))) {
          assert.equal(got, '', 'no cache without the API');
          return;
        }
        assert.equal(got, join(fresh, 'compile-cache'));
        assert.equal((await stat(got)).mode & 0o777, 0o700);
        // Node writes the compiled code there at exit
        assert.ok((await readdir(got)).length > 0, 'the cache holds a folder for this Node');

        const open = join(base, 'open');
        await enableUnder(node, open);
        await chmod(open, 0o777);
        assert.equal(await enableUnder(node, open), '', 'a data folder others may write is not used for code');
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    });
  }

  it('answers undefined in this process when Node has no compile cache', { skip: typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function' ? 'this Node has one' : undefined }, async () => {
    const { enableCompileCacheIn } = await import('./compile-cache.ts');
    const base = await mkdtemp(join(tmpdir(), 'hoody-compile-cache-'));
    try {
      assert.equal(enableCompileCacheIn(join(base, 'data')), undefined);
      assert.deepEqual(await readdir(base), [], 'nothing made');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
