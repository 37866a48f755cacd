/**
 * renameat2(2) with RENAME_EXCHANGE (Linux 3.15; ext4, xfs, btrfs, tmpfs…): two paths trade
 * places in one step, so a reader of either finds the old thing or the new one, never nothing.
 * Node has no binding for it; koffi calls libc's.
 */
import { errnoName } from '../runtime/mount-syscalls.ts';
import { libcFunctions, type LibcFunctions } from '../runtime/libc.ts';

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;

interface ExchangeFns {
  renameat2: (oldDirFd: number, oldPath: string, newDirFd: number, newPath: string, flags: number) => number;
}
let libc: Promise<LibcFunctions<ExchangeFns>> | undefined;

/** Swaps what `a` and `b` name (both must exist, on one file system); throws naming the errno (EINVAL where the file system cannot). */
export async function exchangePaths(a: string, b: string): Promise<void> {
  libc ??= libcFunctions<ExchangeFns>({ renameat2: 'int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)' });
  const c = await libc;
  // called on this thread, so errno is ours to read: one rename, as quick as the fs calls around it
  if (c.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) !== 0) throw new Error(`cannot exchange "${a}" and "${b}": ${errnoName(c.errno())}`);
}
