/**
 * Layer tars and an OCI layout built by hand for the image store tests (GNU tar, Python's
 * tarfile, setcap, umoci `raw add-layer`; never `umoci insert`, whose tars lack their end).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LayerContentStore } from '../src/images/store.ts';
import type { Descriptor } from '../src/images/types.ts';

const exec = promisify(execFile);

/** Runs a program; rejects with its stderr. */
export async function run(file: string, args: string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  const { stdout } = await exec(file, args, { cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** A base rootfs: busybox, a few applet links, /etc/passwd and /etc/group, files the next layers change. */
export async function baseLayer(dir: string, out: string): Promise<void> {
  const root = join(dir, 'base');
  for (const d of ['bin', 'etc', 'tmp', 'home/app', 'opt/data', 'var/cache', 'srv/sub', 'root']) await mkdir(join(root, d), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'cat', 'id', 'env', 'pwd']) await symlink('/bin/busybox', join(root, 'bin', applet));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nstaff:x:50:app\napp:x:1000:\n');
  await writeFile(join(root, 'etc/motd'), 'welcome\n');
  await writeFile(join(root, 'opt/data/a.txt'), 'a\n');
  await writeFile(join(root, 'opt/data/b.txt'), 'b\n');
  await writeFile(join(root, 'var/cache/junk'), 'junk\n');
  await writeFile(join(root, 'srv/sub/f'), 'f\n');
  await chmod(join(root, 'tmp'), 0o1777);
  await chown(join(root, 'home/app'), 1000, 1000);
  await run('tar', ['--numeric-owner', '-C', root, '-cf', out, '.']);
}

/** Whiteouts: a file, a folder, and an opaque folder whose marker comes after a sibling. */
export async function whiteoutLayer(dir: string, out: string): Promise<void> {
  const root = join(dir, 'wh');
  for (const d of ['etc', 'opt/data', 'var']) await mkdir(join(root, d), { recursive: true });
  for (const f of ['etc/hello.txt', 'etc/.wh.motd', 'opt/data/c.txt', 'opt/data/.wh..wh..opq', 'var/.wh.cache', 'var/www.txt']) await writeFile(join(root, f), f.includes('.wh.') ? '' : `${f}\n`);
  const order = ['etc', 'etc/hello.txt', 'etc/.wh.motd', 'opt', 'opt/data', 'opt/data/c.txt', 'opt/data/.wh..wh..opq', 'var', 'var/.wh.cache', 'var/www.txt'];
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '--no-recursion', '-C', root, '-cf', out, ...order]);
}

/** A file with cap_net_raw (a copy of busybox), kept by tar --xattrs. */
export async function capLayer(dir: string, out: string): Promise<void> {
  const root = join(dir, 'cap');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin/ping'));
  await run('setcap', ['cap_net_raw+ep', join(root, 'bin/ping')]);
  await run('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', root, '--no-recursion', '-cf', out, 'bin', 'bin/ping']);
}

const PY_EDGE = String.raw`
import sys, tarfile, io
out = sys.argv[1]
t = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)
def add(name, type=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, gid=0, link=''):
    i = tarfile.TarInfo(name); i.type = type; i.mode = mode; i.uid = uid; i.gid = gid; i.linkname = link
    i.size = len(data) if type == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
add('usr', tarfile.DIRTYPE, mode=0o755)
add('usr/bin', tarfile.DIRTYPE, mode=0o755)
add('usr/bin/su', data=b'setuid\n', mode=0o4755)
add('shared', tarfile.DIRTYPE, mode=0o2775, gid=50)
add('shared/orig', data=b'linked\n', mode=0o640, uid=1000, gid=1000)
add('shared/hard', tarfile.LNKTYPE, link='shared/orig')
add('shared/fifo', tarfile.FIFOTYPE, mode=0o600)
long = 'long/' + '/'.join(['d' * 30] * 4) + '/file-with-a-long-name.txt'
add('long', tarfile.DIRTYPE, mode=0o755)
p = 'long'
for part in long.split('/')[1:-1]:
    p += '/' + part; add(p, tarfile.DIRTYPE, mode=0o755)
add(long, data=b'deep\n')
add('unicod\u00e9-\u65e5\u672c.txt', data=b'unicode\n')
add('srv', data=b'srv is now a file\n')
add('opt/data/c.txt', tarfile.DIRTYPE, mode=0o700)
t.close()
`;

/** Edge cases: setuid file, setgid folder, hard link, FIFO, a path past 100 characters, a unicode name, folder→file and file→folder. */
export async function edgeLayer(dir: string, out: string): Promise<void> {
  await writeFile(join(dir, 'edge.py'), PY_EDGE);
  await run('python3', [join(dir, 'edge.py'), out]);
}

const PY_TRUNCATED = String.raw`
import sys, tarfile, io, os
out = sys.argv[1]
t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
for name, data in [('trunc', None), ('trunc/one.txt', b'one\n'), ('trunc/last.txt', b'x' * 700)]:
    i = tarfile.TarInfo(name)
    if data is None:
        i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
    else:
        i.size = len(data); i.mode = 0o644; t.addfile(i, io.BytesIO(data))
# tarfile pads the last file's data to 512 bytes; the cut goes right after the data itself
end = t.offset - (512 - 700 % 512) % 512
t.close()
os.truncate(out, end)
`;

/** A tar cut right after its last file's data: no padding, no end-of-archive blocks (umoci 0.4.7 `insert`). */
export async function truncatedLayer(dir: string, out: string): Promise<void> {
  await writeFile(join(dir, 'trunc.py'), PY_TRUNCATED);
  await run('python3', [join(dir, 'trunc.py'), out]);
}

const PY_EVIL = String.raw`
import sys, tarfile, io
out, outside, absname = sys.argv[1], sys.argv[2], sys.argv[3]
t = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)
def add(name, type=tarfile.REGTYPE, data=b'', link=''):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = link; i.mode = 0o644
    i.size = len(data) if type == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
add('ok.txt', data=b'fine\n')
add('../x-escaped', data=b'pwned\n')
add(absname, data=b'pwned\n')
add('evil', tarfile.SYMTYPE, link=outside)
add('evil/pwned', data=b'pwned\n')
add('up', tarfile.SYMTYPE, link='../../../../../../../../' + outside.lstrip('/'))
add('up/pwned2', data=b'pwned\n')
add('hl', tarfile.LNKTYPE, link='/etc/passwd')
add('.wh.evil', data=b'')
t.close()
`;

/** A hostile layer: `..`, an absolute path, writes through an absolute and an escaping symlink, a hard link to a host file. */
export async function evilLayer(dir: string, out: string, outside: string, absName: string): Promise<void> {
  await writeFile(join(dir, 'evil.py'), PY_EVIL);
  await run('python3', [join(dir, 'evil.py'), out, outside, absName]);
}

/** A layout `L` built with umoci: each tag adds one layer on the one before it. */
export async function buildLayout(layout: string, layers: { tag: string; from: string; tar: string }[], config?: { tag: string; from: string; args: string[] }): Promise<void> {
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:base`]);
  for (const l of layers) await run('umoci', ['raw', 'add-layer', '--image', `${layout}:${l.from}`, '--tag', l.tag, l.tar]);
  if (config) await run('umoci', ['config', '--image', `${layout}:${config.from}`, '--tag', config.tag, ...config.args]);
}

/** What a layout holds for a tag: its manifest descriptor, manifest and config. */
export async function readLayoutImage(layout: string, tag: string): Promise<{ desc: Descriptor; manifest: { config: Descriptor; layers: Descriptor[] }; configBytes: Buffer }> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!desc) throw new Error(`layout has no tag "${tag}"`);
  const blob = (d: string): Promise<Buffer> => readFile(join(layout, 'blobs', 'sha256', d.slice('sha256:'.length)));
  const manifest = JSON.parse((await blob(desc.digest)).toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  return { desc, manifest, configBytes: await blob(manifest.config.digest) };
}

/** Feeds a layout's image into the store as a pull would: blobs verified, layers unpacked, the image recorded. */
export async function ingestLayout(store: LayerContentStore, layout: string, tag: string, name: string): Promise<ReturnType<LayerContentStore['commitImage']>> {
  const { desc, manifest, configBytes } = await readLayoutImage(layout, tag);
  const config = JSON.parse(configBytes.toString('utf8')) as { rootfs: { diff_ids: string[] } };
  for (const [i, layer] of manifest.layers.entries()) {
    const diffId = config.rootfs.diff_ids[i] as string;
    if (await store.hasLayer(diffId)) continue;
    const tmp = store.blobTempPath(layer.digest);
    await copyFile(join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)), tmp);
    const blob = await store.commitBlob(tmp, layer.digest, layer.size);
    await store.applyLayer(blob, diffId);
  }
  return store.commitImage({ configBytes, manifestDigest: desc.digest, repository: name.replace(/:[^/:]+$/, ''), names: [name], source: `test ${layout}:${tag}` });
}

const PY_HOSTILE = String.raw`
import sys, tarfile, io, os
dir, outside = sys.argv[1], sys.argv[2]
R, S, L, C, B = tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE
def layer(name, members):
    t = tarfile.open(os.path.join(dir, name + '.tar'), 'w', format=tarfile.PAX_FORMAT)
    for n, type, data, link in members:
        i = tarfile.TarInfo(n); i.type = type; i.linkname = link; i.mode = 0o644
        if type in (C, B): i.devmajor, i.devminor = (1, 3) if type == C else (8, 0)
        i.size = len(data) if type == R else 0
        t.addfile(i, io.BytesIO(data) if type == R else None)
    t.close()
layer('dotdot', [('../x-escaped', R, b'p', '')])
layer('abssym', [('evil', S, b'', outside), ('evil/pwned', R, b'p', '')])
layer('upsym', [('up', S, b'', '../../../../../../../..' + outside), ('up/pwned', R, b'p', '')])
layer('hardlink', [('hl', L, b'', '/etc/passwd')])
layer('hardlinksym', [('s', S, b'', '/etc'), ('hl', L, b'', 's/passwd')])
layer('abs', [(outside + '/abs-pwned', R, b'p', '')])
layer('dotwhiteout', [('d', tarfile.DIRTYPE, b'', ''), ('d/keep', R, b'k', ''), ('d/.wh..', R, b'', ''), ('d/.wh...', R, b'', ''), ('.wh..', R, b'', ''), ('.wh.d2', R, b'', ''), ('d2', tarfile.DIRTYPE, b'', ''), ('d2/.wh.gone', R, b'', '')])
layer('devices', [('ok', R, b'fine', ''), ('null', C, b'', ''), ('sda', B, b'', ''), ('after', R, b'more', '')])
`;

/** One tar per hostile trick (`<name>.tar` in `dir`), plus `devices.tar` with a char and a block device between two files. */
export async function hostileLayers(dir: string, outside: string): Promise<string[]> {
  await writeFile(join(dir, 'hostile.py'), PY_HOSTILE);
  await run('python3', [join(dir, 'hostile.py'), dir, outside]);
  return ['dotdot', 'abssym', 'upsym', 'hardlink', 'hardlinksym', 'abs', 'dotwhiteout', 'devices'];
}
