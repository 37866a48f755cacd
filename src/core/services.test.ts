import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HoodyError } from './errors.ts';
import { MAX_LABEL, dnsLabel, normalizePrograms, serviceLabels } from './services.ts';

describe('normalizePrograms', () => {
  it('gives each program of a name the next free index, from 1, and fills in public', () => {
    assert.deepEqual(
      normalizePrograms([
        { name: 'web', port: 8080 },
        { name: 'api', port: 9000, public: true },
        { name: 'web', port: 8081 },
        { name: 'web', port: 8082 },
      ]),
      [
        { name: 'web', port: 8080, index: 1, public: false },
        { name: 'api', port: 9000, index: 1, public: true },
        { name: 'web', port: 8081, index: 2, public: false },
        { name: 'web', port: 8082, index: 3, public: false },
      ],
    );
  });

  it('keeps a given index and skips it for the ones without, wherever it stands in the list', () => {
    assert.deepEqual(
      normalizePrograms([
        { name: 'web', port: 8080 },
        { name: 'web', port: 8081 },
        { name: 'web', port: 8082, index: 1 },
        { name: 'web', port: 8083, index: 3 },
        { name: 'api', port: 9000, index: 2 },
        { name: 'api', port: 9001 },
      ]).map((p) => [p.name, p.port, p.index]),
      [
        ['web', 8080, 2],
        ['web', 8081, 4],
        ['web', 8082, 1],
        ['web', 8083, 3],
        ['api', 9000, 2],
        ['api', 9001, 1],
      ],
    );
  });

  it('keeps the order it was given and answers nothing for no programs', () => {
    assert.deepEqual(normalizePrograms([]), []);
    assert.deepEqual(
      normalizePrograms([
        { name: 'b', port: 2 },
        { name: 'a', port: 1 },
      ]).map((p) => p.name),
      ['b', 'a'],
    );
  });

  it('refuses one name with one index twice, naming it', () => {
    assert.throws(
      () =>
        normalizePrograms([
          { name: 'web', port: 8080, index: 2 },
          { name: 'api', port: 9000 },
          { name: 'web', port: 8081, index: 2 },
        ]),
      (err: unknown) => {
        assert.ok(err instanceof HoodyError);
        assert.equal(err.code, 'INVALID_INPUT');
        assert.deepEqual(err.details, { field: 'programs', program: 'web', index: 2 });
        assert.match(err.message, /"web" has index 2 twice/);
        return true;
      },
    );
    // the same index under two names is fine
    assert.deepEqual(
      normalizePrograms([
        { name: 'web', port: 1, index: 2 },
        { name: 'api', port: 2, index: 2 },
      ]).map((p) => p.index),
      [2, 2],
    );
  });
});

describe('dnsLabel', () => {
  it('lowercases and turns every run of other characters into one dash', () => {
    assert.equal(dnsLabel('My Shop'), 'my-shop');
    assert.equal(dnsLabel('Shop  &  Co.'), 'shop-co');
    assert.equal(dnsLabel('a_b.c--d'), 'a-b-c-d');
    assert.equal(dnsLabel('node-1'), 'node-1');
    assert.equal(dnsLabel('Café 2'), 'caf-2');
  });

  it('drops dashes at either end, and answers x when nothing is left', () => {
    assert.equal(dnsLabel('--shop--'), 'shop');
    assert.equal(dnsLabel('  (shop)  '), 'shop');
    assert.equal(dnsLabel(''), 'x');
    assert.equal(dnsLabel('!!!'), 'x');
    assert.equal(dnsLabel('ÄÖÜ'), 'x');
  });

  it('answers only what a DNS label may hold', () => {
    for (const text of ['Hello, World!', '__x__', 'a\u0000b', '日本', 'A-B_C.D e', '-', '9lives']) {
      const label = dnsLabel(text);
      assert.match(label, /^[a-z0-9]+(-[a-z0-9]+)*$/, `${JSON.stringify(text)} → ${label}`);
    }
  });
});

describe('serviceLabels', () => {
  const program = (name: string, index: number) => ({ name, port: 80, index, public: false });

  it('names each program instance {project}-{container}-{program}-{index}, in order', () => {
    assert.deepEqual(serviceLabels('My Shop', 'blue', [program('web', 1), program('web', 2), program('api', 1)]), ['my-shop-blue-web-1', 'my-shop-blue-web-2', 'my-shop-blue-api-1']);
    assert.deepEqual(serviceLabels('shop', 'blue', []), []);
  });

  it('takes a label of 63 characters and refuses one of 64, never cutting it', () => {
    // "p-" + container + "-web-1": 2 + n + 6 characters
    const fits = 'c'.repeat(MAX_LABEL - 8);
    const [label] = serviceLabels('p', fits, [program('web', 1)]);
    assert.equal(label?.length, MAX_LABEL);
    assert.equal(label, `p-${fits}-web-1`);

    const long = `${fits}c`;
    assert.throws(
      () => serviceLabels('p', long, [program('web', 1)]),
      (err: unknown) => {
        assert.ok(err instanceof HoodyError);
        assert.equal(err.code, 'INVALID_INPUT');
        assert.deepEqual(err.details, { field: 'programs', label: `p-${long}-web-1` });
        assert.match(err.message, /is 64 characters; a DNS label holds 63/);
        return true;
      },
    );
    // a second instance whose index takes one more digit is refused too, even when the first fits
    assert.throws(() => serviceLabels('p', fits, [program('web', 1), program('web', 10)]), /is 64 characters/);
  });

  it('counts the project name as its DNS label', () => {
    const container = 'c'.repeat(MAX_LABEL - 2 - 6);
    // "P!" becomes "p": the label fits exactly
    assert.equal(serviceLabels('P!', container, [program('web', 1)])[0]?.length, MAX_LABEL);
    assert.throws(() => serviceLabels('pp', container, [program('web', 1)]), /is 64 characters/);
  });
});
