/**
 * X programs of this machine for a busybox container: the programs with every library they load
 * and the dynamic loader, as a gzipped tar of bin/, lib/ and ld.so, to unpack in the container
 * and run as `ld.so --library-path lib bin/PROGRAM` (the tests and the kit benchmark draw on a
 * container's display with them).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export function xProgramsTarball(programs: readonly string[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'hoody-xprogs-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'lib'));
    const libs = new Set<string>();
    let loader = '';
    for (const program of programs) {
      copyFileSync(program, join(dir, 'bin', basename(program)));
      for (const line of execFileSync('ldd', [program], { encoding: 'utf8' }).split('\n')) {
        const lib = /=>\s+(\/\S+)/.exec(line)?.[1];
        if (lib) libs.add(lib);
        const ld = /^\s*(\/\S*ld-linux\S*)/.exec(line)?.[1];
        if (ld) loader = ld;
      }
    }
    for (const lib of libs) copyFileSync(lib, join(dir, 'lib', basename(lib)));
    copyFileSync(loader, join(dir, 'ld.so'));
    return execFileSync('tar', ['czf', '-', '-C', dir, '.'], { maxBuffer: 64 * 1024 * 1024 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
