import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildOciSpec, INIT_PATH, MAX_NOFILE } from './oci-spec.ts';

const base = { defaultCommand: ['sleep', 'infinity'], initBinary: '/usr/bin/catatonit', cgroupsPath: '/hoody-x/c1', nofile: 1_000_000 };
type Spec = {
  process: { args: string[]; env: string[]; rlimits: { hard: number; soft: number }[] };
  linux: { cgroupsPath: string; resources: Record<string, unknown>; namespaces: { type: string }[] };
  mounts: { destination: string; source: string }[];
};

describe('OCI spec builder', () => {
  it('runs the command under catatonit and falls back to the image default', () => {
    const withCmd = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: ['sh', '-c', 'echo hi'], env: {}, hostname: 'web' } }) as unknown as Spec;
    assert.deepEqual(withCmd.process.args, [INIT_PATH, '--', 'sh', '-c', 'echo hi']);
    const noCmd = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web' } }) as unknown as Spec;
    assert.deepEqual(noCmd.process.args, [INIT_PATH, '--', 'sleep', 'infinity']);
    assert.ok(noCmd.mounts.some((m) => m.destination === INIT_PATH && m.source === '/usr/bin/catatonit'));
  });

  it('lets user variables override the defaults and keeps the nofile limit within the host hard limit', () => {
    const s = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: { PATH: '/bin', A: 'b=c' }, hostname: 'web' } }) as unknown as Spec;
    assert.ok(s.process.env.includes('PATH=/bin'));
    assert.ok(s.process.env.includes('A=b=c'));
    assert.equal(s.process.env.filter((e) => e.startsWith('PATH=')).length, 1);
    assert.equal(s.process.rlimits[0]?.hard, MAX_NOFILE);
    assert.ok((s.process.rlimits[0]?.soft ?? Infinity) <= MAX_NOFILE);
  });

  it('turns cores, megabytes and pids into cgroup limits and sets the cgroups path', () => {
    const s = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web', resources: { cpu: 1.5, memoryMb: 256, pids: 100 } } }) as unknown as Spec;
    assert.deepEqual(s.linux.resources.cpu, { period: 100_000, quota: 150_000 });
    assert.deepEqual(s.linux.resources.memory, { limit: 256 * 1024 * 1024 });
    assert.deepEqual(s.linux.resources.pids, { limit: 100 });
    assert.equal(s.linux.cgroupsPath, '/hoody-x/c1');
    assert.ok(s.linux.namespaces.some((n) => n.type === 'network'), 'own network namespace');
    const none = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web' } }) as unknown as Spec;
    assert.equal(none.linux.resources.memory, undefined);
  });
});
