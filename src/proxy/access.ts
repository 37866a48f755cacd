/**
 * Signed, host-scoped credentials of the router, so a browser can open a private service URL
 * without a bearer token: the API hands out an open link carrying a short-lived ticket; the
 * router trades the ticket for a session cookie of that host alone (no Domain attribute, HttpOnly,
 * SameSite=Lax). Both name the user and the token they came from, so deleting the token ends them.
 * They are HMAC-SHA256 signed with a secret kept in the data folder.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writePrivateFile } from '../runtime/fs.ts';

/** The cookie a session is kept in. */
export const SESSION_COOKIE = 'hoody_session';
/** The path of the router that trades a ticket for a session cookie, on every service host. */
export const OPEN_PATH = '/__hoody/open';

/** How long an open link works. */
const TICKET_MS = 5 * 60_000;
/** How long a session cookie works. */
const SESSION_MS = 12 * 3600_000;

export interface Grant {
  /** The user the credential acts for. */
  user: string;
  /** The token it was handed out through. */
  token: string;
}

type Kind = 'ticket' | 'session';

export class ProxyAccess {
  constructor(
    private readonly secret: Buffer,
    private readonly opts: { ticketMs?: number; sessionMs?: number } = {},
  ) {}

  /** The router's secret from the data folder, made on first use. */
  static async open(dataDir: string): Promise<ProxyAccess> {
    const file = join(dataDir, 'proxy-secret');
    const text = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (/^[0-9a-f]{64}$/.test(text)) return new ProxyAccess(Buffer.from(text, 'hex'));
    const secret = randomBytes(32);
    await writePrivateFile(file, `${secret.toString('hex')}\n`);
    return new ProxyAccess(secret);
  }

  /** A ticket for one host (the query value of an open link). */
  ticket(host: string, grant: Grant, now = Date.now()): string {
    return this.sign('ticket', host, grant, now + (this.opts.ticketMs ?? TICKET_MS));
  }

  /** A session cookie's value for one host. */
  session(host: string, grant: Grant, now = Date.now()): string {
    return this.sign('session', host, grant, now + (this.opts.sessionMs ?? SESSION_MS));
  }

  /** How long a session lasts, in seconds (the cookie's Max-Age). */
  get sessionSeconds(): number {
    return Math.floor((this.opts.sessionMs ?? SESSION_MS) / 1000);
  }

  /** The grant of a ticket or session value that is genuine, of this host and not expired; undefined otherwise. */
  verify(kind: Kind, value: string, host: string, now = Date.now()): Grant | undefined {
    const [k, payload, mac] = value.split('.');
    if (k !== kind || !payload || !mac) return undefined;
    const expected = this.mac(`${k}.${payload}`);
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let body: { h?: unknown; u?: unknown; t?: unknown; e?: unknown };
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof body;
    } catch {
      return undefined;
    }
    if (typeof body !== 'object' || body === null) return undefined;
    if (body.h !== host || typeof body.u !== 'string' || typeof body.t !== 'string' || typeof body.e !== 'number' || body.e < now) return undefined;
    return { user: body.u, token: body.t };
  }

  private sign(kind: Kind, host: string, grant: Grant, expires: number): string {
    const payload = Buffer.from(JSON.stringify({ h: host, u: grant.user, t: grant.token, e: expires })).toString('base64url');
    return `${kind}.${payload}.${this.mac(`${kind}.${payload}`).toString('base64url')}`;
  }

  private mac(text: string): Buffer {
    return createHmac('sha256', this.secret).update(text).digest();
  }
}

/**
 * The value of one cookie in a Cookie header (the last of that name), every value it has (a page of
 * a sibling host may set one more for a parent domain), and the header without them (undefined when
 * nothing else is left).
 */
export function takeCookie(header: string | undefined, name: string): { value: string | undefined; values: string[]; rest: string | undefined } {
  if (!header) return { value: undefined, values: [], rest: undefined };
  const values: string[] = [];
  const rest: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (key === name) values.push(part.slice(eq + 1).trim());
    else if (part.trim().length > 0) rest.push(part.trim());
  }
  return { value: values.at(-1), values, rest: rest.length > 0 ? rest.join('; ') : undefined };
}
