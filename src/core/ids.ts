/** Identifiers and secrets. */
import { hash, randomBytes } from 'node:crypto';

/** 24 lowercase hex characters: 4 bytes of seconds (so ids sort by creation) and 8 random bytes. */
export function newId(now = Date.now()): string {
  const time = Math.floor(now / 1000).toString(16).padStart(8, '0');
  return time + randomBytes(8).toString('hex');
}

export const newUserId = (): string => `user_${randomBytes(8).toString('hex')}`;

/** A token secret as shown once to its owner. */
export const newTokenSecret = (): string => `hoody_${randomBytes(24).toString('hex')}`;

/** What is stored of a token secret (hashed on every request: the one-shot hash, half the cost of a Hash object). */
export const hashSecret = (secret: string): string => hash('sha256', secret, 'hex');

export const nowIso = (): string => new Date().toISOString();
