import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES } from './error-codes.ts';

describe('error code table', () => {
  it('docs/errors.md lists every code with its HTTP status, and no code that does not exist', async () => {
    const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(
      rows.sort(),
      Object.entries(ERROR_CODES)
        .map(([code, { status }]) => [code, status])
        .sort(),
    );
  });

  it('codes are UPPER_SNAKE and statuses are HTTP error statuses', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^[A-Z]+(_[A-Z]+)*$/);
      assert.ok(status >= 400 && status < 600, code);
    }
  });
});
