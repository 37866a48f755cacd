/**
 * The daemon's settings read from the environment: defaults, and a clear error for a bad value.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism, totalmem } from 'node:os';
import { configFromEnv } from './main.ts';

describe('configFromEnv', () => {
  it('leaves the event settings to their defaults when unset', () => {
    const c = configFromEnv({}, {});
    assert.equal(c.eventsFanout, undefined);
    assert.equal(c.eventsWriteShare, undefined);
    assert.equal(c.heartbeatMs, 15_000);
  });

  it('sizes the limits to the host by default and reads each from the environment', () => {
    const c = configFromEnv({}, {});
    assert.equal(c.maxCpu, availableParallelism());
    assert.equal(c.maxMemoryMb, Math.floor(totalmem() / 1024 / 1024));
    assert.equal(c.maxPids, 4096);
    assert.equal(c.maxContainersPerUser, 100);
    assert.equal(c.requestTimeoutMs, 30_000);
    const set = configFromEnv({}, { HOODY_MAX_CPU: '0.5', HOODY_MAX_MEMORY_MB: '256', HOODY_MAX_PIDS: '64', HOODY_MAX_CONTAINERS_PER_USER: '3', HOODY_REQUEST_TIMEOUT_MS: '500' });
    assert.deepEqual([set.maxCpu, set.maxMemoryMb, set.maxPids, set.maxContainersPerUser, set.requestTimeoutMs], [0.5, 256, 64, 3, 500]);
    assert.throws(() => configFromEnv({}, { HOODY_MAX_CPU: '-1' }), /HOODY_MAX_CPU must be a positive number/);
    assert.throws(() => configFromEnv({}, { HOODY_MAX_CONTAINERS_PER_USER: '1.5' }), /HOODY_MAX_CONTAINERS_PER_USER must be a positive whole number/);
  });

  it('reads the image limits (sizes with K/M/G/T), leaving unset ones to the defaults', () => {
    assert.deepEqual(configFromEnv({}, {}).imageLimits, {});
    assert.deepEqual(configFromEnv({}, { HOODY_IMAGE_IMPORT_MAX_BYTES: '2G', HOODY_IMAGE_MAX_UNPACKED_BYTES: '4M', HOODY_IMAGE_MAX_LAYERS: '64' }).imageLimits, { importMaxBytes: 2 * 1024 ** 3, maxUnpackedBytes: 4 * 1024 ** 2, maxLayers: 64 });
    assert.throws(() => configFromEnv({}, { HOODY_IMAGE_MAX_BYTES: 'huge' }), /HOODY_IMAGE_MAX_BYTES must be a positive byte count/);
  });

  it('reads HOODY_EVENTS_WRITE_SHARE as a share of one CPU, from 0.01 to 1', () => {
    assert.equal(configFromEnv({}, { HOODY_EVENTS_WRITE_SHARE: '0.05' }).eventsWriteShare, 0.05);
    assert.equal(configFromEnv({}, { HOODY_EVENTS_WRITE_SHARE: '0.01' }).eventsWriteShare, 0.01);
    assert.equal(configFromEnv({}, { HOODY_EVENTS_WRITE_SHARE: '1' }).eventsWriteShare, 1);
    for (const bad of ['0', '0.005', '-0.1', '1.5', 'fast', 'NaN', 'Infinity']) {
      assert.throws(() => configFromEnv({}, { HOODY_EVENTS_WRITE_SHARE: bad }), /HOODY_EVENTS_WRITE_SHARE must be a number from 0.01 to 1/, bad);
    }
  });

  it('keeps an idle fan-out process 30 s by default and reads HOODY_EVENTS_FANOUT_IDLE_MS', () => {
    assert.equal(configFromEnv({}, {}).eventsFanoutIdleMs, 30_000);
    assert.equal(configFromEnv({}, { HOODY_EVENTS_FANOUT_IDLE_MS: '250' }).eventsFanoutIdleMs, 250);
    for (const bad of ['0', '-5', '1.5', 'soon']) {
      assert.throws(() => configFromEnv({}, { HOODY_EVENTS_FANOUT_IDLE_MS: bad }), /HOODY_EVENTS_FANOUT_IDLE_MS must be a positive whole number/, bad);
    }
  });

  it('refuses an unknown HOODY_EVENTS_FANOUT', () => {
    assert.equal(configFromEnv({}, { HOODY_EVENTS_FANOUT: 'inline' }).eventsFanout, 'inline');
    assert.throws(() => configFromEnv({}, { HOODY_EVENTS_FANOUT: 'thread' }), /HOODY_EVENTS_FANOUT must be "process" or "inline"/);
  });

  it('reads the user namespace range from HOODY_USERNS_RANGE and refuses a bad one', () => {
    assert.deepEqual(configFromEnv({}, { HOODY_USERNS_RANGE: '2000000:65536' }).idRange, { uid: 2_000_000, gid: 2_000_000, size: 65_536 });
    assert.throws(() => configFromEnv({}, { HOODY_USERNS_RANGE: '0:65536' }), /HOODY_USERNS_RANGE start "0"/);
    assert.ok((configFromEnv({}, {}).idRange?.uid ?? 0) >= 65_536, 'a range is chosen without the variable');
  });

  it('refuses at start an id range another host user can map, naming the entry and how to fix it', () => {
    // useradd's defaults: the 14th user gets subordinate ids 951968-1017503, into 1000000:65536
    const subuid = Array.from({ length: 14 }, (_, i) => `user${i + 1}:${100_000 + i * 65_536}:65536`).join('\n');
    const hostIds = { subuid, subgid: subuid, passwd: 'root:x:0:0::/root:/bin/sh\n', group: 'root:x:0:\n' };
    assert.throws(
      () => configFromEnv({}, {}, hostIds),
      /the default id range "1000000:65536" is not the server's alone: host uids 1000000-1065535 overlap "user14:951968:65536" in \/etc\/subuid.*usermod --add-subuids 1048576-1114111 --add-subgids 1048576-1114111 root.*HOODY_USERNS_RANGE="1048576:65536"/,
    );
    assert.throws(() => configFromEnv({}, { HOODY_USERNS_RANGE: '1000000:65536' }, hostIds), /HOODY_USERNS_RANGE "1000000:65536" is not the server's alone/);
    assert.throws(() => configFromEnv({ idRange: { uid: 1_000_000, gid: 1_000_000, size: 65_536 } }, {}, hostIds), /id range "1000000:65536" is not the server's alone/, 'a range given as a flag is checked too');
    assert.deepEqual(configFromEnv({}, { HOODY_USERNS_RANGE: '1048576:65536' }, hostIds).idRange, { uid: 1_048_576, gid: 1_048_576, size: 65_536 });
  });
});
