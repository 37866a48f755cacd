/**
 * Fixture images for the image tests, built offline in a temp OCI layout with umoci (init, new,
 * unpack, repack, raw add-layer, config: never `umoci insert`, whose layers lack their EOF
 * blocks), GNU tar and Python's tarfile, all small (busybox-sized). Push helpers copy them to a
 * test registry with skopeo; index and list manifests are PUT by hand.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, link, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestRegistry } from './registry-harness.ts';

const execFileP = promisify(execFile);

/** Runs a tool; its stderr goes into the error. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; signal?: AbortSignal } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { cwd: opts.cwd, signal: opts.signal, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`"${cmd} ${args.join(' ')}" failed: ${e.stderr || e.message}`);
  }
}

/** What `layered`'s config says, and what its container must print. */
export const LAYERED_CONFIG = {
  entrypoint: ['/bin/sh', '-c'],
  cmd: ['echo "user=$(id -u):$(id -g) cwd=$(pwd) greeting=$GREETING home=$HOME"'],
  env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi'],
  workingDir: '/home/app',
  user: 'app',
  exposedPorts: ['8080/tcp'],
  /** The resolved user (through the image's /etc/passwd). */
  resolved: { uid: 1000, gid: 1000, home: '/home/app' },
  /** The line a container from it prints. */
  output: 'user=1000:1000 cwd=/home/app greeting=hi home=/home/app',
} as const;

/** The fixture tags of one layout; each an image, `base` the lowest layer of the others. */
export const FIXTURE_TAGS = ['base', 'layered', 'layered-arm64', 'edge', 'xattr', 'insertbug', 'evil'] as const;
export type FixtureTag = (typeof FIXTURE_TAGS)[number];

/** A layout holding every fixture, and the host folder the `evil` image aims at. */
export interface FixtureLayout {
  /** The OCI layout folder (`oci:<layout>:<tag>`). */
  layout: string;
  /** A host folder with `victim` and `secret`, which `evil` tries to delete, overwrite and link. */
  hostTarget: string;
  /** The temp folder everything is under. */
  dir: string;
}

/**
 * Builds every fixture into one OCI layout under `dir` (a new temp folder when absent), as root:
 * `base` (busybox + its applets as symlinks, /etc/passwd with root and app 1000, /home/app,
 * /tmp 1777), `layered` (+ a layer with a file, a whiteout file, a whiteout dir and an opaque dir
 * whose marker comes after a sibling; config as LAYERED_CONFIG), `layered-arm64` (its config
 * with arm64), `edge` (setuid, setgid dir, hardlink, FIFO, a >100 char path, unicode, an app-owned
 * file; then dir→file and file→dir), `xattr` (a `setcap cap_net_raw+ep` busybox and a user.*
 * xattr), `insertbug` (a layer tar without its EOF blocks), `evil` (`..`, an absolute path, writes
 * and a whiteout through a symlink to the host, a hardlink to a host file).
 */
export async function buildFixtureLayout(dir?: string, signal?: AbortSignal): Promise<FixtureLayout> {
  dir ??= await mkdtemp(join(tmpdir(), 'hoody-fixtures-'));
  const layout = join(dir, 'oci');
  const o = { signal };
  await run('umoci', ['init', '--layout', layout], o);
  await run('umoci', ['new', '--image', `${layout}:empty`], o);
  await run('umoci', ['unpack', '--image', `${layout}:empty`, join(dir, 'bundle')], o);
  await fillBase(join(dir, 'bundle', 'rootfs'), o);
  await run('umoci', ['repack', '--image', `${layout}:base`, join(dir, 'bundle')], o);
  await run('umoci', ['config', '--image', `${layout}:base`, '--config.env', LAYERED_CONFIG.env[0], '--config.cmd', '/bin/sh', '--no-history'], o);

  // layered: a file, `.wh.motd`, a whiteout of the dir var/cache, an opaque opt/data (marker after c.txt)
  const l2 = await staging(dir, 'layered');
  await mkdir(join(l2, 'etc'), { mode: 0o755 });
  await writeFile(join(l2, 'etc/hello.txt'), 'hello from layer 2\n');
  await writeFile(join(l2, 'etc/.wh.motd'), '');
  await mkdir(join(l2, 'opt/data'), { recursive: true, mode: 0o755 });
  await writeFile(join(l2, 'opt/data/c.txt'), 'c\n');
  await writeFile(join(l2, 'opt/data/.wh..wh..opq'), '');
  await mkdir(join(l2, 'var'), { mode: 0o755 });
  await writeFile(join(l2, 'var/.wh.cache'), '');
  await writeFile(join(l2, 'var/www.txt'), 'www\n');
  await chmodAll(l2, ['etc', 'opt', 'opt/data', 'var']);
  const members = ['etc', 'etc/hello.txt', 'etc/.wh.motd', 'opt', 'opt/data', 'opt/data/c.txt', 'opt/data/.wh..wh..opq', 'var', 'var/.wh.cache', 'var/www.txt'];
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '--no-recursion', '-C', l2, '-cf', `${l2}.tar`, ...members], o);
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:base`, '--tag', 'layered-l2', `${l2}.tar`], o);
  const c = LAYERED_CONFIG;
  await run('umoci', ['config', '--image', `${layout}:layered-l2`, '--tag', 'layered', ...c.entrypoint.flatMap((e) => ['--config.entrypoint', e]), '--config.cmd', c.cmd[0], ...c.env.flatMap((e) => ['--config.env', e]), '--config.workingdir', c.workingDir, '--config.user', c.user, '--config.exposedports', c.exposedPorts[0]], o);
  await run('umoci', ['config', '--image', `${layout}:layered`, '--tag', 'layered-arm64', '--architecture', 'arm64', '--no-history'], o);

  await buildEdge(dir, layout, o);
  await buildXattr(dir, layout, o);
  await pythonLayer(dir, layout, 'insertbug', INSERTBUG_PY, [], o);
  const hostTarget = join(dir, 'host-target');
  await mkdir(hostTarget);
  await writeFile(join(hostTarget, 'victim'), 'victim\n');
  await writeFile(join(hostTarget, 'secret'), 'secret\n');
  await pythonLayer(dir, layout, 'evil', EVIL_PY, [hostTarget], o);
  return { layout, hostTarget, dir };
}

async function fillBase(rootfs: string, o: { signal?: AbortSignal }): Promise<void> {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home/app', 'tmp', 'opt/data', 'var/cache']) await mkdir(join(rootfs, d), { recursive: true, mode: 0o755 });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of (await run('/bin/busybox', ['--list-full'], o)).split('\n').filter(Boolean)) {
    if (applet !== 'bin/busybox') await symlink('/bin/busybox', join(rootfs, applet));
  }
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1000:\nnobody:x:65534:\n');
  await writeFile(join(rootfs, 'etc/motd'), 'motd, deleted by a whiteout in layered\n');
  await writeFile(join(rootfs, 'opt/data/a.txt'), 'a\n');
  await writeFile(join(rootfs, 'opt/data/b.txt'), 'b\n');
  await writeFile(join(rootfs, 'var/cache/x.txt'), 'x\n');
  await chown(join(rootfs, 'home/app'), 1000, 1000);
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chmod(join(rootfs, 'root'), 0o700);
}

async function buildEdge(dir: string, layout: string, o: { signal?: AbortSignal }): Promise<void> {
  const a = await staging(dir, 'edge-a');
  await mkdir(join(a, 'srv/shared'), { recursive: true });
  await mkdir(join(a, 'srv/d2f'));
  await mkdir(join(a, 'usr/local/bin'), { recursive: true });
  await writeFile(join(a, 'usr/local/bin/suid'), '#!/bin/sh\necho suid\n');
  await chmod(join(a, 'usr/local/bin/suid'), 0o4755);
  await chown(join(a, 'srv/shared'), 0, 1000);
  await chmod(join(a, 'srv/shared'), 0o2775);
  await writeFile(join(a, 'srv/a.txt'), 'linked twice\n');
  await link(join(a, 'srv/a.txt'), join(a, 'srv/a-link.txt'));
  await run('mkfifo', ['-m', '0620', join(a, 'srv/fifo')], o);
  const long = join('srv/long', 'd'.repeat(60), `${'f'.repeat(60)}.txt`);
  await mkdir(join(a, 'srv/long', 'd'.repeat(60)), { recursive: true });
  await writeFile(join(a, long), 'a path longer than 100 characters\n');
  await writeFile(join(a, 'srv/héllo-ünïcode-日本.txt'), 'unicode\n');
  await writeFile(join(a, 'srv/owned-by-app'), 'app\n');
  await chown(join(a, 'srv/owned-by-app'), 1000, 1000);
  await writeFile(join(a, 'srv/d2f/inner.txt'), 'goes when d2f becomes a file\n');
  await writeFile(join(a, 'srv/f2d'), 'becomes a dir\n');
  await chmodAll(a, ['srv', 'srv/d2f', 'srv/long', `srv/long/${'d'.repeat(60)}`, 'usr', 'usr/local', 'usr/local/bin']);
  await run('tar', ['--numeric-owner', '-C', a, '-cf', `${a}.tar`, 'srv', 'usr'], o);
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:base`, '--tag', 'edge-a', `${a}.tar`], o);
  const b = await staging(dir, 'edge-b');
  await mkdir(join(b, 'srv/f2d'), { recursive: true });
  await writeFile(join(b, 'srv/d2f'), 'was a dir\n');
  await writeFile(join(b, 'srv/f2d/inner.txt'), 'was a file\n');
  await chmodAll(b, ['srv', 'srv/f2d']);
  await run('tar', ['--numeric-owner', '-C', b, '-cf', `${b}.tar`, 'srv'], o);
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:edge-a`, '--tag', 'edge', `${b}.tar`], o);
}

async function buildXattr(dir: string, layout: string, o: { signal?: AbortSignal }): Promise<void> {
  const s = await staging(dir, 'xattr');
  await mkdir(join(s, 'bin'), { mode: 0o755 });
  await chmod(join(s, 'bin'), 0o755);
  await copyFile('/bin/busybox', join(s, 'bin/ping'));
  await chmod(join(s, 'bin/ping'), 0o755);
  await run('setcap', ['cap_net_raw+ep', join(s, 'bin/ping')], o);
  await run('setfattr', ['-n', 'user.test', '-v', 'hoody', join(s, 'bin/ping')], o);
  await run('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--no-recursion', '-C', s, '-cf', `${s}.tar`, 'bin', 'bin/ping'], o);
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:base`, '--tag', 'xattr', `${s}.tar`], o);
}

/** A layer written by a Python script (argv: out.tar, ...args), added on `base` as `tag`. */
async function pythonLayer(dir: string, layout: string, tag: string, script: string, args: string[], o: { signal?: AbortSignal }): Promise<void> {
  const out = join(dir, `${tag}.tar`);
  await run('python3', ['-c', script, out, ...args], o);
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:base`, '--tag', tag, out], o);
}

// the tar ends right after the last member's padded data: no end-of-archive blocks, no record padding (what umoci 0.4.7's insert writes; Go's reader needs the data padded)
const INSERTBUG_PY = `
import io, sys, tarfile
buf = io.BytesIO()
tf = tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT)
d = tarfile.TarInfo('etc'); d.type = tarfile.DIRTYPE; d.mode = 0o755; tf.addfile(d)
data = b'a layer without its end-of-archive blocks\\n'
f = tarfile.TarInfo('etc/insertbug.txt'); f.size = len(data); f.mode = 0o644; tf.addfile(f, io.BytesIO(data))
end = tf.offset
tf.close()
open(sys.argv[1], 'wb').write(buf.getvalue()[:end])
`;

// every entry tries to reach outside the layer; argv[2] is the host folder it aims at
const EVIL_PY = `
import io, sys, tarfile
host = sys.argv[2]
tf = tarfile.open(sys.argv[1], mode='w', format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.REGTYPE, data=b'pwned\\n', linkname=''):
    t = tarfile.TarInfo(name); t.type = kind; t.mode = 0o644; t.linkname = linkname
    if kind == tarfile.REGTYPE:
        t.size = len(data); tf.addfile(t, io.BytesIO(data))
    else:
        tf.addfile(t)
add('../hoody-evil-dotdot')
add('../../hoody-evil-dotdot')
add('/hoody-evil-absolute')
add('escape', tarfile.SYMTYPE, linkname=host)
add('escape/pwned')
add('escape/.wh.victim')
add('up', tarfile.SYMTYPE, linkname='../../../../../../../../' + host.lstrip('/'))
add('up/pwned-up')
add('hl', tarfile.LNKTYPE, linkname=host + '/secret')
add('hl-rel', tarfile.LNKTYPE, linkname='../../../../../../../../' + host.lstrip('/') + '/secret')
tf.close()
`;

async function staging(dir: string, name: string): Promise<string> {
  const s = join(dir, `stage-${name}`);
  await mkdir(s);
  return s;
}

// mkdir's mode is cut by the umask; layers should carry 0755 folders whatever the umask
async function chmodAll(root: string, dirs: string[]): Promise<void> {
  for (const d of dirs) await chmod(join(root, d), 0o755);
}

/** Reads the config a layout's tag points at (through its manifest). */
export async function layoutConfig(layout: string, tag: string): Promise<{ config: Record<string, any>; manifest: Record<string, any>; manifestDigest: string }> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`layout "${layout}" has no tag "${tag}"`);
  const blob = (d: string): Promise<string> => readFile(join(layout, 'blobs/sha256', d.slice('sha256:'.length)), 'utf8');
  const manifest = JSON.parse(await blob(entry.digest));
  return { manifest, manifestDigest: entry.digest, config: JSON.parse(await blob(manifest.config.digest)) };
}

export type { TestRegistry };

/** Adds `count` one-file layers on `base` as tag `many` (an image deeper than absolute lower paths fit in one mount). */
export async function buildManyLayers(layout: string, dir: string, count: number, signal?: AbortSignal): Promise<string> {
  let from = 'base';
  for (let i = 0; i < count; i++) {
    const s = join(dir, `stage-many-${i}`);
    await mkdir(join(s, 'layers'), { recursive: true });
    await chmod(join(s, 'layers'), 0o755);
    await writeFile(join(s, 'layers', `l${i}.txt`), `layer ${i}\n`);
    // every tenth layer replaces the file of the one before, so the order of the lowers shows
    if (i % 10 === 9) await writeFile(join(s, 'layers', `l${i - 1}.txt`), `layer ${i - 1} replaced by ${i}\n`);
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', s, '-cf', `${s}.tar`, 'layers'], { signal });
    const tag = i === count - 1 ? 'many' : `many-${i}`;
    await run('umoci', ['raw', 'add-layer', '--no-history', '--image', `${layout}:${from}`, '--tag', tag, `${s}.tar`], { signal });
    from = tag;
  }
  return 'many';
}
