/** Two folders trade places in one rename. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchangePaths } from './exchange-paths.ts';

test('exchangePaths swaps two folders, and names the errno when a path is missing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-exchange-'));
  try {
    for (const [name, file] of [['a', 'old'], ['b', 'new']] as const) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, file), file);
    }
    await exchangePaths(join(dir, 'a'), join(dir, 'b'));
    assert.deepEqual(await readdir(join(dir, 'a')), ['new']);
    assert.deepEqual(await readdir(join(dir, 'b')), ['old']);
    await assert.rejects(exchangePaths(join(dir, 'a'), join(dir, 'missing')), /cannot exchange .*: ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
