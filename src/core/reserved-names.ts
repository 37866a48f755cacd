/**
 * Names no user or token may take, so that nothing a tenant names can pass in the audit trail
 * for the daemon's own actors, for the admin, or for another user's id.
 */
import { SYSTEM_ACTORS } from './actor.ts';
import { HoodyError } from './errors.ts';

/** The name the first start gives the admin user and its token. */
export const ADMIN_NAME = 'admin';

const RESERVED = new Set<string>([...SYSTEM_ACTORS, ADMIN_NAME]);

/** `restart_policy`, `Restart.Policy` and `restart-policy` read the same to a person. */
const normalized = (name: string): string => name.toLowerCase().replace(/[_.\s]/g, '-');

/** Why the name may not be given to a user or token, or undefined when it may. */
export function reservedNameReason(name: string): string | undefined {
  const n = normalized(name.trim());
  if (RESERVED.has(n)) return n === ADMIN_NAME ? 'it is the name of the admin user and its first token' : 'the status log names the daemon\'s own actions with it';
  if (/^user_/i.test(name.trim())) return 'it looks like a user id';
  return undefined;
}

/** Throws RESERVED_NAME when a user or token may not be named `name`. */
export function assertNameNotReserved(what: 'user' | 'token', name: string): void {
  const reason = reservedNameReason(name);
  if (reason) throw new HoodyError('RESERVED_NAME', `${what} name "${name}" is reserved: ${reason}; choose another name`, { name, reserved: [...RESERVED, 'user_*'] });
}
