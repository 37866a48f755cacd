/**
 * A capture or restore killed half-way (SIGKILL, as a daemon that dies): no snapshot becomes
 * visible, the upper dir a restore targets is left as it was, and the next start sweeps what
 * was left; the objects the dead capture made are collected. Needs root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountScratch } from './mount-scratch.ts';
import { inodeFacts, run } from './snapshot-fixtures.ts';
import { SnapshotStore } from '../src/snapshots/store.ts';
import { sweepRestores } from '../src/snapshots/restore.ts';

const IDS = { uid: 2_500_100_000, gid: 2_500_100_000 };
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

/** Runs the child until it prints `at …`, then SIGKILLs it; answers what it printed. */
function killAt(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'snapshot-child.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('at ')) child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve(out.trim()) : reject(new Error(`child ended with ${code ?? signal} before it was killed: ${out}${err}`))));
  });
}

describe('snapshots cut short', { skip }, () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  before(async () => {
    ({ dir, cleanup } = await mountScratch('hoody-snapshots-crash-'));
  });
  after(() => cleanup());

  const upperWithFiles = async (name: string): Promise<string> => {
    const upper = join(dir, name);
    await mkdir(join(upper, 'sub'), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(upper, i % 2 ? 'sub' : '', `f${i}`), `file ${i}\n`.repeat(i + 1));
    await writeFile(join(upper, 'big'), Buffer.alloc(2 << 20, 3));
    await run('chown', ['-R', `${IDS.uid}:${IDS.gid}`, upper]);
    return upper;
  };

  for (const step of ['frozen', 'store', 'tree', 'commit']) {
    it(`a capture killed at its "${step}" step leaves no snapshot, and the next open sweeps its leftovers`, async () => {
      const upper = await upperWithFiles(`upper-${step}`);
      const root = join(dir, `store-${step}`);
      assert.equal(await killAt(['capture', root, upper, 'killed', step]), `at ${step}`);
      assert.deepEqual(await readdir(join(root, 'trees')), [], 'nothing visible');
      assert.equal((await readdir(join(root, 'tmp'))).length, 1, 'the capture left its folder');
      const store = await SnapshotStore.open(root);
      assert.deepEqual(await readdir(join(root, 'tmp')), [], 'swept at open');
      await assert.rejects(store.get('killed'), /ENOENT/);
      const collected = await store.collect();
      assert.equal(collected.kept, 0);
      // objects are made in the store step: killed after it, they are all garbage now
      assert.equal(collected.removed, step === 'tree' || step === 'commit' ? 41 : 0);
      // and the same capture goes through afterwards
      const snap = await store.capture(upper, 'killed');
      assert.equal(snap.files, 41);
    });
  }

  it('a restore killed half-way leaves the target as it was, and sweepRestores removes what it made', async () => {
    const upper = await upperWithFiles('upper-restore');
    const root = join(dir, 'store-restore');
    const store = await SnapshotStore.open(root);
    await store.capture(upper, 's1');
    const target = join(dir, 'target', 'upper');
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'before'), 'the old upper dir\n');
    const was = await inodeFacts(target);
    assert.equal(await killAt(['restore', root, 's1', target, '20']), 'at file 20');
    assert.deepEqual(await inodeFacts(target), was);
    assert.equal((await readdir(join(dir, 'target'))).length, 2, 'the upper dir and the restore\'s half-made folder');
    assert.equal(await sweepRestores(target), 1);
    assert.deepEqual(await readdir(join(dir, 'target')), ['upper']);
    await store.restore('s1', target);
    assert.deepEqual(await inodeFacts(target), await inodeFacts(upper));
  });
});
