/** The store's JSON files: written whole or not at all, with nothing left behind on failure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWrite, readJson } from './json-files.ts';

test('atomicWrite replaces a file whole, synced or not, and readJson reads it back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-json-'));
  try {
    await atomicWrite(join(dir, 'a.json'), JSON.stringify({ n: 1 }));
    await atomicWrite(join(dir, 'a.json'), JSON.stringify({ n: 2 }), { sync: true });
    assert.deepEqual(await readJson(join(dir, 'a.json')), { n: 2 });
    assert.deepEqual(await readdir(dir), ['a.json']);
    await writeFile(join(dir, 'bad.json'), '{');
    assert.equal(await readJson(join(dir, 'bad.json')), undefined);
    assert.equal(await readJson(join(dir, 'missing.json')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('atomicWrite removes its temp file when the rename fails', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-json-'));
  try {
    // a folder that is not empty cannot be replaced by a file
    await mkdir(join(dir, 'taken', 'inside'), { recursive: true });
    for (const sync of [false, true]) await assert.rejects(atomicWrite(join(dir, 'taken'), '{}', { sync }), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(await readdir(dir), ['taken']);
    // and when the write cannot start: the folder is missing
    await assert.rejects(atomicWrite(join(dir, 'missing', 'a.json'), '{}'), /ENOENT/);
    assert.deepEqual(await readdir(dir), ['taken']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
