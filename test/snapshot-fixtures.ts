/**
 * Upper dirs made by a real overlay mount, for the snapshot tests and bench: a lower layer, then
 * changes written through the merged view as host root (owners in a test id range, setuid, a file
 * capability, xattrs, a whiteout, an opaque folder, hard links, symlinks, a FIFO, a sparse file,
 * a newline in a name), then unmounted, as a stopped container leaves its upper dir.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, link, lstat, mkdir, readdir, readlink, rm, symlink, truncate, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountOverlay, unmountOverlay } from '../src/runtime/overlay.ts';

const execFileP = promisify(execFile);

/** An overlay's folders under `dir`. */
export interface OverlayPaths {
  lower: string;
  upper: string;
  work: string;
  merged: string;
}

/** The folders of an overlay in `dir` (none made yet). */
export const overlayPaths = (dir: string): OverlayPaths => ({ lower: join(dir, 'lower'), upper: join(dir, 'upper'), work: join(dir, 'work'), merged: join(dir, 'merged') });

/** Mounts the overlay (upper and work made when missing), owned by the range's root. */
export async function mountAt(o: OverlayPaths, ids: { uid: number; gid: number }): Promise<void> {
  await mkdir(o.merged, { recursive: true });
  await mountOverlay({ lower: o.lower, upper: o.upper, work: o.work, merged: o.merged, owner: ids });
}

/** Unmounts it. */
export const unmountAt = (o: OverlayPaths): Promise<void> => unmountOverlay(o.merged);

/** Runs a program (argv), throwing with its stderr. */
export async function run(file: string, args: string[]): Promise<string> {
  try {
    // latin1: every byte of a name comes back as one character, valid UTF-8 or not
    return (await execFileP(file, args, { maxBuffer: 64 << 20, encoding: 'latin1' })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${file} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}

/** A lower layer with a file to delete (whiteout) and a folder to replace (opaque). */
export async function makeLower(o: OverlayPaths, ids: { uid: number; gid: number }): Promise<void> {
  await mkdir(join(o.lower, 'etc'), { recursive: true });
  await mkdir(join(o.lower, 'cache/old'), { recursive: true });
  await writeFile(join(o.lower, 'etc/hostname'), 'lower\n');
  await writeFile(join(o.lower, 'etc/doomed'), 'to be deleted\n');
  await writeFile(join(o.lower, 'cache/old/a'), 'old cache\n');
  await run('chown', ['-R', `${ids.uid}:${ids.gid}`, o.lower]);
}

/** Writes the hostile mix through the merged view of a mounted overlay. */
export async function writeEverything(merged: string, ids: { uid: number; gid: number }): Promise<void> {
  const at = (p: string): string => join(merged, p);
  await mkdir(at('home/user/deep'), { recursive: true });
  await writeFile(at('home/user/notes.txt'), 'notes of uid 1000\n');
  await chown(at('home/user'), ids.uid + 1000, ids.gid + 1000);
  await chown(at('home/user/notes.txt'), ids.uid + 1000, ids.gid + 100);
  await writeFile(at('etc/hostname'), 'changed in the upper dir\n'); // a copy-up
  await writeFile(at('root-file'), 'owned by root of the range\n');
  await chown(at('root-file'), ids.uid, ids.gid);
  await writeFile(at('setuid-tool'), '#!/bin/sh\necho hi\n');
  await chown(at('setuid-tool'), ids.uid + 2, ids.gid + 3);
  await chmod(at('setuid-tool'), 0o4755);
  await writeFile(at('capable'), 'binds low ports\n');
  await chown(at('capable'), ids.uid, ids.gid);
  await run('setcap', ['cap_net_bind_service=+ep', at('capable')]);
  await run('setfattr', ['-n', 'user.note', '-v', 'hello', at('home/user/notes.txt')]);
  await run('setfattr', ['-n', 'user.dir-note', '-v', '0x00ff10', at('home/user')]);
  await rm(at('etc/doomed')); // whiteout
  await rm(at('cache'), { recursive: true }); // then made again: opaque
  await mkdir(at('cache'));
  await writeFile(at('cache/new'), 'new cache\n');
  await writeFile(at('linked'), 'one inode, three names\n');
  await link(at('linked'), at('home/user/linked-too'));
  await link(at('linked'), at('home/linked-three'));
  await symlink('/etc/passwd', at('passwd-link'));
  await symlink('../../etc/hostname', at('home/user/relative-link'));
  await symlink('/nowhere/at/all', at('dangling'));
  await run('mkfifo', ['-m', '0620', at('home/user/pipe')]);
  await chown(at('home/user/pipe'), ids.uid + 1000, ids.gid + 1000);
  const sparse = await open(at('sparse.img'), 'w');
  await sparse.write(Buffer.from('start'), 0, 5, 0);
  await sparse.write(Buffer.from('middle'), 0, 6, 1 << 30);
  await sparse.close();
  await truncate(at('sparse.img'), 4 << 30);
  await writeFile(at('new\nline name'), 'a newline in the name\n');
  await writeFile(at('empty'), '');
  await mkdir(at('locked'), { mode: 0o000 });
  await chmod(at('locked'), 0o000);
  await writeFile(at('home/user/deep/data.bin'), Buffer.alloc(300_000, 7));
}

/** One line per entry under `dir` (paths through `find`, so any depth): what tree-compare leaves out: mtime, trusted.overlay xattrs, device numbers. */
export async function inodeFacts(dir: string): Promise<string[]> {
  const out = await run('find', [dir, '-mindepth', '1', '-printf', '%P\\0%y %m %U:%G %n %T@ %s\\0']);
  const fields = out.split('\0');
  const lines: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [type, mode, owner, nlink, mtime, size] = fields[i + 1]!.split(' ');
    const path = fields[i]!;
    // overlayfs makes its whiteouts hard links of one inode in its work dir: the other name is not in the upper dir
    lines.push(`${JSON.stringify(path)} ${type} ${mode} ${owner} ${type === 'd' || type === 'c' ? '-' : nlink} ${mtime} ${type === 'f' ? size : '-'}`);
  }
  return lines.sort();
}

/** trusted.overlay.* and security.capability xattrs of every entry, as getfattr prints them. */
export async function overlayXattrs(dir: string): Promise<string> {
  const out = await execFileP('getfattr', ['-R', '-P', '-d', '-m', '^(trusted|security)\\.', '-e', 'hex', '--absolute-names', dir], { maxBuffer: 64 << 20 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return out.stdout.split(dir).join('<root>');
}

/** Every path of a tree (lstat, never following), for checks that no symlink was followed. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(dir, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(dir, p));
      out.push(st.isSymbolicLink() ? `${p} -> ${await readlink(join(dir, p))}` : p);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk('');
  return out.sort();
}
