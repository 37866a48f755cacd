import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostsFile, resolvFile, rewriteInPlace } from './host-files.ts';

describe('name files', () => {
  it('writes localhost, the container itself, then the names it resolves, skipping names a resolver would misread', () => {
    const text = hostsFile({ address: '10.1.0.2', hostname: 'web' }, [
      { name: 'db', address: '10.1.0.3' },
      { name: 'bad name', address: '10.1.0.4' },
      { name: '', address: '10.1.0.5' },
    ]);
    assert.equal(text, '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.0.2\tweb\n10.1.0.3\tdb\n');
    assert.equal(resolvFile(['10.0.0.53', '10.0.0.54']), 'nameserver 10.0.0.53\nnameserver 10.0.0.54\n');
    assert.equal(resolvFile([]), '');
  });

  it('rewrites a file in place, keeping its inode (a bind mount holds the inode)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-files-'));
    try {
      const path = join(dir, 'hosts');
      await writeFile(path, 'a much longer first version of the file\n');
      const before = (await stat(path)).ino;
      rewriteInPlace(path, 'short\n');
      assert.equal((await stat(path)).ino, before);
      assert.equal(await readFile(path, 'utf8'), 'short\n');
      rewriteInPlace(join(dir, 'new'), 'made\n');
      assert.equal(await readFile(join(dir, 'new'), 'utf8'), 'made\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
