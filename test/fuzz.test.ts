/**
 * Thousands of malformed requests against every route of a real daemon: bad JSON, wrong types,
 * unknown fields, huge bodies, path injection, other tenants' ids, missing, wrong and read-only
 * tokens. Every answer must be a 4xx in the error envelope with a stable code, the daemon must
 * stay up, and no container, status or log row may change. Deterministic (seeded).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { ERROR_CODES } from '../src/api/error-codes.ts';

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ROUTES: [string, string][] = [
  ['GET', '/containers'],
  ['POST', '/containers'],
  ['GET', '/containers/:id'],
  ['PATCH', '/containers/:id'],
  ['DELETE', '/containers/:id'],
  ['POST', '/containers/:id/start'],
  ['POST', '/containers/:id/stop'],
  ['POST', '/containers/:id/force-stop'],
  ['POST', '/containers/:id/restart'],
  ['POST', '/containers/:id/pause'],
  ['POST', '/containers/:id/resume'],
  ['GET', '/containers/:id/status-logs'],
  ['GET', '/projects'],
  ['POST', '/projects'],
  ['GET', '/projects/:id/containers'],
  ['GET', '/servers'],
  ['GET', '/servers/:id'],
  ['POST', '/servers/:id/maintenance'],
  ['GET', '/images'],
  ['GET', '/users'],
  ['POST', '/users'],
  ['GET', '/tokens'],
  ['POST', '/tokens'],
  ['DELETE', '/tokens/:id'],
  ['GET', '/events'],
  ['GET', '/operations/:id'],
  ['GET', '/containers/:id/wait'],
  ['POST', '/containers/bulk'],
];

const GARBAGE_IDS = ['x', '..%2F..%2Fetc%2Fpasswd', '%00', 'ABCDEFABCDEFABCDEFABCDEF', '1'.repeat(25), "'; DROP TABLE containers; --", '%E2%80%AE', 'a'.repeat(5000), '{}'];

const INVALID_BODIES: unknown[] = [
  '{"name": ',
  '[1,2,3',
  'null',
  '"just a string"',
  '12',
  '{"__proto__": {"admin": true}}',
  { name: 42, container_image: ['busybox'] },
  { name: 'ok-name', container_image: 'busybox', unknown_field: true },
  { name: '', container_image: '' },
  { name: 'UPPER', container_image: 'busybox' },
  { name: 'x'.repeat(100), container_image: 'busybox' },
  { environment_vars: { '1BAD': 'x' } },
  { environment_vars: [1, 2] },
  { resources: { cpu: -1 } },
  { resources: { memory_mb: 'lots' } },
  { stop_timeout: 1e12 },
  { restart_policy: 'sometimes' },
  { timeout: -5 },
  { timeout: 'later' },
  { reason: { nested: true } },
  { command: [] },
  { command: 'sh -c reboot' },
  { autostart: 'yes' },
  { read_only: 'no', name: 'bad name with spaces' },
  { name: null },
  {},
];

describe('fuzzing every route with malformed requests', () => {
  let d: DaemonHandle;
  let admin: ReturnType<typeof apiClient>;
  let mine: string[];
  let theirs: string;
  let readOnly: string;
  let otherToken: string;

  before(async () => {
    d = await startTestDaemon('sqlite');
    admin = apiClient(d.api, d.adminToken);
    mine = [];
    for (const [name, autostart] of [
      ['fz-running', true],
      ['fz-stopped', false],
    ] as const) {
      const r = await admin('POST', '/containers', { name, container_image: 'busybox', autostart });
      assert.equal(r.status, 201);
      mine.push(r.body.data.id);
    }
    const user = await admin('POST', '/users', { name: 'mallory' });
    otherToken = (await admin('POST', '/tokens', { name: 'mallory-cli', user_id: user.body.data.id })).body.data.token;
    const other = apiClient(d.api, otherToken);
    theirs = (await other('POST', '/containers', { name: 'fz-theirs', container_image: 'busybox', autostart: false })).body.data.id;
    readOnly = (await admin('POST', '/tokens', { name: 'fz-reader', read_only: true })).body.data.token;
  });
  after(async () => {
    await d?.cleanup();
  });

  /** Everything a request could change: containers with their status and version, and log totals. */
  async function snapshot(): Promise<string> {
    const cs = (await admin('GET', '/containers')).body.data.containers;
    const parts = [];
    for (const c of cs) {
      const total = (await admin('GET', `/containers/${c.id}/status-logs?limit=1`)).body.data.pagination.total;
      parts.push(`${c.id}:${c.name}:${c.status}:${c.updated_at}:${JSON.stringify(c.environment_vars)}:${total}`);
    }
    const tokens = (await admin('GET', '/tokens')).body.data.tokens.length;
    const users = (await admin('GET', '/users')).body.data.users.length;
    const projects = (await admin('GET', '/projects')).body.data.projects.length;
    return `${parts.sort().join('|')} tokens=${tokens} users=${users} projects=${projects}`;
  }

  it('answers 3000 malformed requests with 4xx envelopes and changes nothing', async () => {
    const before = await snapshot();
    const random = rng(20261128);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const codes = new Map<string, number>();
    const failures: string[] = [];

    const one = async (): Promise<void> => {
      const [method, template] = pick(ROUTES);
      const mutation = method !== 'GET';
      // each request carries at least one defect, so none of them may do anything
      const defect = pick(['no-token', 'bad-token', 'read-only', 'other-tenant', 'garbage-id', 'bad-body', 'bad-query', 'huge-body', 'bad-content-type'] as const);
      let token: string | undefined = d.adminToken;
      let id = pick(mine);
      let body: unknown = undefined;
      let query = '';
      const headers: Record<string, string> = {};
      if (defect === 'no-token') token = undefined;
      if (defect === 'bad-token') token = pick(['hoody_0000', '', 'Bearer', 'x'.repeat(3000), d.adminToken.slice(0, -1)]);
      if (defect === 'read-only') token = readOnly;
      if (defect === 'other-tenant') token = otherToken;
      if (defect === 'garbage-id') id = pick(GARBAGE_IDS);
      if (mutation && (defect === 'bad-body' || defect === 'read-only' || defect === 'no-token' || defect === 'bad-token')) body = pick(INVALID_BODIES);
      if (defect === 'bad-query') query = pick(['?limit=0', '?limit=100000', '?page=-1', '?sort_order=sideways', '?status=exploded', '?runtime=maybe', '?unknown=1', '?project_id=zzz', '?limit=1e5']);
      if (defect === 'huge-body') body = { name: 'big', container_image: 'busybox', environment_vars: { BIG: 'x'.repeat(1_100_000) } };
      if (defect === 'bad-content-type') {
        headers['content-type'] = pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']);
        body = 'name=x&container_image=busybox';
      }
      // a defect that does not apply to this route would leave a valid request: skip it
      const hasId = template.includes(':id');
      if (defect === 'garbage-id' && !hasId) return;
      if (defect === 'bad-query' && (method !== 'GET' || !query)) return;
      if ((defect === 'bad-body' || defect === 'huge-body' || defect === 'bad-content-type') && !mutation) return;
      if (defect === 'bad-body' && method === 'DELETE') return;
      if (defect === 'bad-body' && (body === null || (typeof body === 'object' && Object.keys(body as object).length === 0)) && template.match(/(start|stop|restart|pause|resume)$/)) return;
      if (defect === 'read-only' && !mutation) return;
      if (defect === 'other-tenant') {
        if (!template.startsWith('/containers/:id')) return;
        id = pick(mine);
      }
      if (template === '/tokens/:id' && defect !== 'garbage-id' && defect !== 'no-token' && defect !== 'bad-token' && defect !== 'read-only') return;
      if (template.startsWith('/projects/:id') || template.startsWith('/servers/:id')) id = defect === 'garbage-id' ? id : pick(['ffffffffffffffffffffffff', ...GARBAGE_IDS]);

      const path = template.replace(':id', id) + query;
      const call = apiClient(d.api, token);
      let res;
      try {
        res = await call(method, path, body, headers);
      } catch (err) {
        failures.push(`${method} ${path.slice(0, 120)} [${defect}]: request failed: ${(err as Error).message}`);
        return;
      }
      const b = res.body as Record<string, unknown>;
      const envelopeOk =
        typeof b === 'object' && b !== null && b.statusCode === res.status && typeof b.code === 'string' && b.code in ERROR_CODES && typeof b.message === 'string' && typeof b.error === 'string';
      if (res.status < 400 || res.status >= 500 || !envelopeOk) {
        failures.push(`${method} ${path.slice(0, 120)} [${defect}] body=${JSON.stringify(body)?.slice(0, 120)} → ${res.status} ${JSON.stringify(b).slice(0, 200)}`);
      }
      codes.set(String(b?.code), (codes.get(String(b?.code)) ?? 0) + 1);
    };

    let sent = 0;
    while (sent < 3000) {
      await Promise.all(Array.from({ length: 20 }, () => one()));
      sent += 20;
    }
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers`);
    for (const code of ['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'INVALID_INPUT', 'INVALID_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']) {
      assert.ok((codes.get(code) ?? 0) > 0, `the fuzz reached ${code}: ${JSON.stringify([...codes])}`);
    }
    assert.equal((await fetch(`${d.url}/healthz`)).status, 200, 'the daemon is still up');
    assert.equal(await snapshot(), before, 'nothing changed');
    const other = apiClient(d.api, otherToken);
    assert.equal((await other('GET', `/containers/${theirs}`)).body.data.status, 'stopped');
  });
});
