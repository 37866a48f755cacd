import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_IMAGE_LIMITS, ImageTooLargeError, UnpackBudget, checkDeclaredLayers, checkUnpackedTotal, checkUploadBytes, imageLimits, imageLimitsFromEnv, isTooLarge, parseByteSize } from './limits.ts';

const tooLarge = (resource: string, extra: Record<string, unknown> = {}) => (err: unknown) => {
  assert.ok(err instanceof ImageTooLargeError, String(err));
  assert.equal(err.code, 'too-large');
  assert.equal(err.details.resource, resource);
  for (const [k, v] of Object.entries(extra)) assert.equal((err.details as unknown as Record<string, unknown>)[k], v, k);
  assert.ok(isTooLarge(err));
  return true;
};

test('the defaults: 16 GiB upload, 256 layers, 16 GiB of blobs, 64 GiB unpacked', () => {
  assert.equal(DEFAULT_IMAGE_LIMITS.importMaxBytes, 16 * 1024 ** 3);
  assert.equal(DEFAULT_IMAGE_LIMITS.maxLayers, 256);
  assert.equal(DEFAULT_IMAGE_LIMITS.maxBytes, 16 * 1024 ** 3);
  assert.equal(DEFAULT_IMAGE_LIMITS.maxUnpackedBytes, 64 * 1024 ** 3);
  assert.deepEqual(imageLimits({ maxLayers: 3 }), { ...DEFAULT_IMAGE_LIMITS, maxLayers: 3 });
});

test('declared layers: the count, each size and their sum, each naming its setting', () => {
  const limits = { maxLayers: 3, maxBytes: 100 };
  checkDeclaredLayers([{ size: 50 }, { size: 50 }], limits, 'image "x"');
  checkDeclaredLayers([], limits, 'image "x"');
  assert.throws(() => checkDeclaredLayers([{ size: 1 }, { size: 1 }, { size: 1 }, { size: 1 }], limits, 'image "x"'), tooLarge('layers', { max: 3, requested: 4, setting: 'HOODY_IMAGE_MAX_LAYERS' }));
  assert.throws(() => checkDeclaredLayers([{ size: 101 }], limits, 'image "x"'), tooLarge('blob-bytes', { max: 100, requested: 101, setting: 'HOODY_IMAGE_MAX_BYTES' }));
  assert.throws(() => checkDeclaredLayers([{ size: 60 }, { size: 41 }], limits, 'image "x"'), tooLarge('image-bytes', { requested: 101 }));
  assert.throws(() => checkDeclaredLayers([{ size: 101 }], limits, 'image "x"'), /image "x": a layer of 101 bytes is more than the 100 allowed \(HOODY_IMAGE_MAX_BYTES\)/);
});

test('an upload: a declared length over the cap names it, a counted one says only that it passed', () => {
  checkUploadBytes(10, 10, 'the archive', true);
  assert.throws(() => checkUploadBytes(11, 10, 'the archive', true), tooLarge('import-bytes', { requested: 11, max: 10, setting: 'HOODY_IMAGE_IMPORT_MAX_BYTES' }));
  assert.throws(() => checkUploadBytes(11, 10, 'the archive', false), (err: ImageTooLargeError) => err.details.requested === undefined && /more than the 10 bytes allowed/.test(err.message));
  checkUnpackedTotal(5, 5, 'image');
  assert.throws(() => checkUnpackedTotal(6, 5, 'image'), tooLarge('unpacked-bytes', { requested: 6, setting: 'HOODY_IMAGE_MAX_UNPACKED_BYTES' }));
});

test('a budget throws once its bytes or entries pass the limit, not before', () => {
  const budget = new UnpackBudget({ maxUnpackedBytes: 10, maxEntries: 2 }, 'image "x"');
  budget.chargeBytes(6);
  budget.chargeBytes(4);
  assert.throws(() => budget.chargeBytes(1), tooLarge('unpacked-bytes', { max: 10 }));
  budget.chargeEntries(2);
  assert.throws(() => budget.chargeEntries(1), tooLarge('entries', { max: 2, setting: 'HOODY_IMAGE_MAX_ENTRIES' }));
});

test('byte sizes as operators write them; bad ones are refused with the setting named', () => {
  assert.equal(parseByteSize('1048576', 'X'), 1048576);
  assert.equal(parseByteSize('16G', 'X'), 16 * 1024 ** 3);
  assert.equal(parseByteSize('16GiB', 'X'), 16 * 1024 ** 3);
  assert.equal(parseByteSize('512m', 'X'), 512 * 1024 ** 2);
  assert.equal(parseByteSize('64 KB', 'X'), 64 * 1024);
  assert.equal(parseByteSize('2T', 'X'), 2 * 1024 ** 4);
  assert.equal(parseByteSize('', 'X'), undefined);
  assert.equal(parseByteSize(undefined, 'X'), undefined);
  for (const bad of ['0', '-1', '1.5G', 'lots', '16P', '99999999999999999999']) assert.throws(() => parseByteSize(bad, 'HOODY_IMAGE_MAX_BYTES'), /HOODY_IMAGE_MAX_BYTES must be a positive byte count/, bad);
});

test('the environment: set limits only, layers at most overlay\'s 500', () => {
  assert.deepEqual(imageLimitsFromEnv({}), {});
  assert.deepEqual(imageLimitsFromEnv({ HOODY_IMAGE_IMPORT_MAX_BYTES: '1G', HOODY_IMAGE_MAX_BYTES: '2G', HOODY_IMAGE_MAX_UNPACKED_BYTES: '8M', HOODY_IMAGE_MAX_LAYERS: '500', HOODY_IMAGE_MAX_ENTRIES: '1000' }), {
    importMaxBytes: 1024 ** 3,
    maxBytes: 2 * 1024 ** 3,
    maxUnpackedBytes: 8 * 1024 ** 2,
    maxLayers: 500,
    maxEntries: 1000,
  });
  assert.throws(() => imageLimitsFromEnv({ HOODY_IMAGE_MAX_LAYERS: '501' }), /HOODY_IMAGE_MAX_LAYERS must be a whole number from 1 to 500/);
  assert.throws(() => imageLimitsFromEnv({ HOODY_IMAGE_MAX_ENTRIES: '0' }), /HOODY_IMAGE_MAX_ENTRIES/);
});
