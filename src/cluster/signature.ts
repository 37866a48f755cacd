/**
 * How daemons of one cluster know each other: a request one daemon forwards to another carries
 * an HMAC, made with the cluster secret, of who forwards it, when, and what (method, URL and the
 * caller's Authorization). Without the secret no user token can pass for a daemon; a signature is
 * good for a minute and for that request only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const FORWARDED_BY = 'x-hoody-forwarded-by';
export const SIGNATURE = 'x-hoody-cluster-signature';
/** How far a signature's time may be from the receiver's clock. */
export const SIGNATURE_WINDOW_MS = 60_000;

/** The smallest secret accepted (bytes of UTF-8). */
export const MIN_SECRET_LENGTH = 32;

const mac = (secret: string, serverId: string, t: number, method: string, url: string, authorization: string): string =>
  createHmac('sha256', secret).update(`hoody-forward\n${serverId}\n${t}\n${method.toUpperCase()}\n${url}\n${authorization}`).digest('hex');

export function signForward(secret: string, serverId: string, method: string, url: string, authorization: string | undefined, nowMs = Date.now()): string {
  return `t=${nowMs},s=${mac(secret, serverId, nowMs, method, url, authorization ?? '')}`;
}

/** Whether the signature header is good for this request from `serverId`; a reason when not. */
export function verifyForward(secret: string, serverId: string, header: string, method: string, url: string, authorization: string | undefined, nowMs = Date.now()): { ok: true } | { ok: false; reason: string } {
  const m = /^t=(\d{1,16}),s=([0-9a-f]{64})$/.exec(header);
  if (!m) return { ok: false, reason: 'the cluster signature is malformed' };
  const t = Number(m[1]);
  if (Math.abs(nowMs - t) > SIGNATURE_WINDOW_MS) return { ok: false, reason: 'the cluster signature is too old (or the servers\' clocks differ by more than a minute)' };
  const want = Buffer.from(mac(secret, serverId, t, method, url, authorization ?? ''), 'hex');
  const got = Buffer.from(m[2]!, 'hex');
  return timingSafeEqual(want, got) ? { ok: true } : { ok: false, reason: 'the cluster signature does not match' };
}
