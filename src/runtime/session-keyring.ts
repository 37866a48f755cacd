/**
 * The daemon's own, empty session keyring. runc is told not to make a keyring per container
 * (`--no-new-keyring`: each would count against the per-uid key quota of the id range's root, 200
 * by default), so containers keep the session keyring of conmon, that is of the daemon. The daemon
 * first leaves whatever keyring it was started in (a root login's, linked to root's user keyring)
 * for a new anonymous one with nothing in it, which is what its children inherit.
 */
import { RuntimeError } from './driver.ts';
import { errnoName } from './mount-syscalls.ts';

/** keyctl's syscall number per architecture (asm/unistd.h). */
const SYS_KEYCTL: Partial<Record<NodeJS.Architecture, number>> = { x64: 250, arm64: 219 };
/** keyctl(2) operations and special keyring ids (linux/keyctl.h). */
const KEYCTL_GET_KEYRING_ID = 0;
const KEYCTL_JOIN_SESSION_KEYRING = 1;
const KEY_SPEC_SESSION_KEYRING = -3;

interface Keyctl {
  call: (op: number, ...args: unknown[]) => number;
  errno: () => number;
}

let keyctl: Promise<Keyctl> | undefined;

function loadKeyctl(): Promise<Keyctl> {
  keyctl ??= import('koffi').then(({ default: koffi }) => {
    const nr = SYS_KEYCTL[process.arch];
    if (nr === undefined) throw new RuntimeError('failed', `keyctl: no syscall number known for "${process.arch}"`);
    const syscall = koffi.load('libc.so.6').func('long syscall(long number, ...)') as unknown as (...args: unknown[]) => number;
    return { call: (op: number, ...args: unknown[]) => Number(syscall(nr, 'int', op, ...args)), errno: () => koffi.errno() };
  });
  return keyctl;
}

/** The serial of the calling thread's session keyring (the main thread's: the one spawned children inherit). */
export async function sessionKeyringId(): Promise<number> {
  const k = await loadKeyctl();
  return k.call(KEYCTL_GET_KEYRING_ID, 'int', KEY_SPEC_SESSION_KEYRING, 'int', 0);
}

let joined: Promise<number> | undefined;

/**
 * Joins a new anonymous session keyring, once per process, on the main thread (Node spawns
 * children from it); answers its serial, or rejects (then runc should make one per container).
 */
export function joinOwnSessionKeyring(): Promise<number> {
  joined ??= loadKeyctl().then((k) => {
    const serial = k.call(KEYCTL_JOIN_SESSION_KEYRING, 'str', null);
    if (serial < 0) throw new RuntimeError('failed', `keyctl join session keyring: ${errnoName(k.errno())}`);
    return serial;
  });
  return joined;
}
