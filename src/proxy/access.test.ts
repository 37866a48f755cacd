import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAccess, SESSION_COOKIE, takeCookie } from './access.ts';

const HOST = 'shop-blue-web-1.node-1.apps.test';
const OTHER = 'shop-green-web-1.node-1.apps.test';
const grant = { user: 'user_alice', token: 'tok_1' };

/** The value with one character of its mac changed (the first: all of its bits count). */
function tamperMac(value: string): string {
  const parts = value.split('.');
  const mac = parts[2] as string;
  parts[2] = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
  return parts.join('.');
}

describe('ProxyAccess', () => {
  const access = new ProxyAccess(randomBytes(32));

  it('verifies a ticket and a session of their host, each as its own kind only', () => {
    const ticket = access.ticket(HOST, grant);
    const session = access.session(HOST, grant);
    assert.match(ticket, /^ticket\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.match(session, /^session\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(access.verify('ticket', ticket, HOST), grant);
    assert.deepEqual(access.verify('session', session, HOST), grant);
    // a ticket is no session cookie, and a session no ticket
    assert.equal(access.verify('session', ticket, HOST), undefined);
    assert.equal(access.verify('ticket', session, HOST), undefined);
  });

  it('refuses a credential of another host', () => {
    assert.equal(access.verify('ticket', access.ticket(HOST, grant), OTHER), undefined);
    assert.equal(access.verify('session', access.session(HOST, grant), OTHER), undefined);
    assert.equal(access.verify('session', access.session(HOST, grant), HOST.toUpperCase()), undefined);
  });

  it('refuses a tampered mac, a payload changed under its mac, and another secret\'s credential', () => {
    const ticket = access.ticket(HOST, grant);
    assert.equal(access.verify('ticket', tamperMac(ticket), HOST), undefined);
    // the payload rewritten for another host (or user) keeps the old mac: refused
    const [kind, payload, mac] = ticket.split('.') as [string, string, string];
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const change of [{ h: OTHER }, { u: 'user_mallory' }, { e: (body.e as number) + 3600_000 }]) {
      const forged = Buffer.from(JSON.stringify({ ...body, ...change })).toString('base64url');
      assert.equal(access.verify('ticket', `${kind}.${forged}.${mac}`, typeof change.h === 'string' ? OTHER : HOST), undefined, JSON.stringify(change));
    }
    // the kind is signed too
    assert.equal(access.verify('session', `session.${payload}.${mac}`, HOST), undefined);
    // a mac cut short, missing, or the whole value empty
    assert.equal(access.verify('ticket', `${kind}.${payload}.${mac.slice(0, 20)}`, HOST), undefined);
    assert.equal(access.verify('ticket', `${kind}.${payload}`, HOST), undefined);
    assert.equal(access.verify('ticket', `${kind}.${payload}.`, HOST), undefined);
    assert.equal(access.verify('ticket', '', HOST), undefined);
    assert.equal(access.verify('ticket', 'ticket', HOST), undefined);
    // another daemon's secret
    assert.equal(new ProxyAccess(randomBytes(32)).verify('ticket', ticket, HOST), undefined);
  });

  it('refuses a genuinely signed payload that is not a whole grant', () => {
    // signed with the secret itself, as the class signs: only the payload's checks can refuse these
    const secret = randomBytes(32);
    const a = new ProxyAccess(secret);
    const signed = (payload: string): string => `ticket.${payload}.${createHmac('sha256', secret).update(`ticket.${payload}`).digest('base64url')}`;
    const of = (body: unknown): string => signed(Buffer.from(JSON.stringify(body)).toString('base64url'));
    const e = Date.now() + 60_000;
    // the helper signs as the class does: a whole grant passes
    assert.deepEqual(a.verify('ticket', of({ h: HOST, u: 'u1', t: 't1', e }), HOST), { user: 'u1', token: 't1' });
    for (const value of [
      signed(Buffer.from('not json').toString('base64url')),
      of([HOST]),
      of({ h: HOST, t: 't1', e }),
      of({ h: HOST, u: 'u1', e }),
      of({ h: HOST, u: 1, t: 't1', e }),
      of({ h: HOST, u: 'u1', t: 't1' }),
      of({ h: HOST, u: 'u1', t: 't1', e: String(e) }),
      of({ u: 'u1', t: 't1', e }),
    ]) {
      assert.equal(a.verify('ticket', value, HOST), undefined, value);
    }
  });

  it('expires a ticket after five minutes and a session after twelve hours, measured from `now`', () => {
    const t0 = 1_700_000_000_000;
    const ticket = access.ticket(HOST, grant, t0);
    assert.deepEqual(access.verify('ticket', ticket, HOST, t0), grant);
    assert.deepEqual(access.verify('ticket', ticket, HOST, t0 + 5 * 60_000), grant);
    assert.equal(access.verify('ticket', ticket, HOST, t0 + 5 * 60_000 + 1), undefined);
    // made long ago: already expired now
    assert.equal(access.verify('ticket', access.ticket(HOST, grant, Date.now() - 6 * 60_000), HOST), undefined);

    const session = access.session(HOST, grant, t0);
    assert.deepEqual(access.verify('session', session, HOST, t0 + 12 * 3600_000 - 1), grant);
    assert.equal(access.verify('session', session, HOST, t0 + 12 * 3600_000 + 1), undefined);
    assert.equal(access.sessionSeconds, 12 * 3600);
  });

  it('takes its lifetimes from its options', () => {
    const short = new ProxyAccess(randomBytes(32), { ticketMs: 1000, sessionMs: 60_000 });
    const t0 = 1_700_000_000_000;
    assert.ok(short.verify('ticket', short.ticket(HOST, grant, t0), HOST, t0 + 1000));
    assert.equal(short.verify('ticket', short.ticket(HOST, grant, t0), HOST, t0 + 1001), undefined);
    assert.equal(short.verify('session', short.session(HOST, grant, t0), HOST, t0 + 60_001), undefined);
    assert.equal(short.sessionSeconds, 60);
  });

  describe('open', () => {
    const dirs: string[] = [];
    after(async () => {
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    });

    it('makes a private secret on first use and keeps it: credentials outlive a restart', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'hoody-access-'));
      dirs.push(dir);
      const first = await ProxyAccess.open(dir);
      const text = await readFile(join(dir, 'proxy-secret'), 'utf8');
      assert.match(text, /^[0-9a-f]{64}\n$/);
      assert.equal((await stat(join(dir, 'proxy-secret'))).mode & 0o077, 0);
      const again = await ProxyAccess.open(dir);
      assert.deepEqual(again.verify('session', first.session(HOST, grant), HOST), grant);
      assert.equal(await readFile(join(dir, 'proxy-secret'), 'utf8'), text);
    });
  });
});

describe('takeCookie', () => {
  it('gives every value of the name (a sibling host may set one more), the last as the value', () => {
    assert.deepEqual(takeCookie(`${SESSION_COOKIE}=mine; a=1; ${SESSION_COOKIE}=tossed`, SESSION_COOKIE), { value: 'tossed', values: ['mine', 'tossed'], rest: 'a=1' });
  });

  it('takes one cookie out and keeps the others in order', () => {
    assert.deepEqual(takeCookie(`a=1; ${SESSION_COOKIE}=session.x.y; b=2`, SESSION_COOKIE), { value: 'session.x.y', values: ['session.x.y'], rest: 'a=1; b=2' });
    assert.deepEqual(takeCookie(`${SESSION_COOKIE}=v;theme=dark`, SESSION_COOKIE), { value: 'v', values: ['v'], rest: 'theme=dark' });
  });

  it('answers no rest when nothing else is left, and no value when it is absent', () => {
    assert.deepEqual(takeCookie(`${SESSION_COOKIE}=v`, SESSION_COOKIE), { value: 'v', values: ['v'], rest: undefined });
    assert.deepEqual(takeCookie('a=1; b=2', SESSION_COOKIE), { value: undefined, values: [], rest: 'a=1; b=2' });
    assert.deepEqual(takeCookie(undefined, SESSION_COOKIE), { value: undefined, values: [], rest: undefined });
    assert.deepEqual(takeCookie('', SESSION_COOKIE), { value: undefined, values: [], rest: undefined });
  });

  it('matches the whole name only, trims spaces and keeps an equals sign inside a value', () => {
    assert.deepEqual(takeCookie(`x${SESSION_COOKIE}=1; ${SESSION_COOKIE}x=2`, SESSION_COOKIE), { value: undefined, values: [], rest: `x${SESSION_COOKIE}=1; ${SESSION_COOKIE}x=2` });
    assert.deepEqual(takeCookie(`  ${SESSION_COOKIE} = a=b ;  c=d  `, SESSION_COOKIE), { value: 'a=b', values: ['a=b'], rest: 'c=d' });
    assert.deepEqual(takeCookie('a=1;; ;b=2', 'a'), { value: '1', values: ['1'], rest: 'b=2' });
    assert.deepEqual(takeCookie('flag; a=1', 'a'), { value: '1', values: ['1'], rest: 'flag' });
  });
});
