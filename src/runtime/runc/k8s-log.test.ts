import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseK8sLog } from './k8s-log.ts';

describe('k8s-file log parser', () => {
  it('joins partial chunks and ends full lines with a newline', () => {
    const text = ['2025-01-01T00:00:00.1Z stdout P hel', '2025-01-01T00:00:00.2Z stdout F lo', '2025-01-01T00:00:00.3Z stderr F oops', ''].join('\n');
    assert.equal(parseK8sLog(text), 'hello\noops\n');
  });

  it('drops a first line cut by a tail read and ignores garbage', () => {
    const text = ['out F cut', 'not a log line', '2025-01-01T00:00:00.3Z stdout F kept', '2025-01-01T00:00:00.4Z stdout F '].join('\n');
    assert.equal(parseK8sLog(text, true), 'kept\n\n');
  });
});
