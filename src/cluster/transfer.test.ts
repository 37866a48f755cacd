import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DigestMismatchError, packFiles, unpackFiles } from './transfer.ts';

const root = process.getuid?.() === 0;

describe('a container\'s files between servers', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('arrive as they were packed (owners, modes, symlinks, extended attributes, whiteouts), checked by their digest', { skip: root ? false : 'needs root (owners, whiteouts)' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-transfer-'));
    dirs.push(dir);
    const src = join(dir, 'src');
    await mkdir(join(src, 'a/b'), { recursive: true });
    await writeFile(join(src, 'a/b/file'), 'payload\n', { mode: 0o640 });
    execFileSync('chown', ['-h', '1000123:1000456', join(src, 'a/b/file')]);
    await symlink('/a/b/file', join(src, 'link'));
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'kept', join(src, 'a/b/file')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(src, 'a')]);
    // an overlay whiteout: a character device 0/0
    execFileSync('mknod', [join(src, 'gone'), 'c', '0', '0']);
    const packed = await packFiles(src, join(dir, 'out', 'x.tar'));
    assert.match(packed.sha256, /^[0-9a-f]{64}$/);

    const dst = join(dir, 'dst');
    const { bytes } = await unpackFiles(packed.open(), dst, packed.sha256);
    assert.equal(bytes, packed.bytes);
    assert.equal(await readFile(join(dst, 'a/b/file'), 'utf8'), 'payload\n');
    const st = await lstat(join(dst, 'a/b/file'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1000123, 1000456, 0o640]);
    assert.equal(await readlink(join(dst, 'link')), '/a/b/file');
    assert.match(execFileSync('getfattr', ['-n', 'user.note', '--only-values', join(dst, 'a/b/file')], { encoding: 'utf8' }), /^kept$/);
    assert.match(execFileSync('getfattr', ['-n', 'trusted.overlay.opaque', '--only-values', join(dst, 'a')], { encoding: 'utf8' }), /^y$/);
    const whiteout = await lstat(join(dst, 'gone'));
    assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0, 'the whiteout is a 0/0 device');

    // a digest that does not match: nothing is kept
    await assert.rejects(unpackFiles(packed.open(), join(dir, 'bad'), '0'.repeat(64)), DigestMismatchError);
    assert.equal(existsSync(join(dir, 'bad')), false);
    await packed.remove();
    assert.equal(existsSync(packed.file), false);
  });
});
