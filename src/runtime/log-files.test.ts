/** conmon's k8s-file lines into records: partial chunks joined per stream, lines cut between reads, odd lines skipped. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogParser } from './log-files.ts';

describe('log parser', () => {
  it('joins partial chunks per stream and keeps the first chunk\'s time', () => {
    const p = new LogParser();
    const text = [
      '2026-12-02T10:00:00.000000001+00:00 stdout P hel',
      '2026-12-02T10:00:00.000000002+00:00 stderr F oops',
      '2026-12-02T10:00:00.000000003+00:00 stdout F lo',
      '2026-12-02T10:00:00.000000004+00:00 stdout F ',
      'garbage line',
      '',
    ].join('\n');
    assert.deepEqual(p.push(text), [
      { time: '2026-12-02T10:00:00.000000002+00:00', stream: 'stderr', line: 'oops' },
      { time: '2026-12-02T10:00:00.000000001+00:00', stream: 'stdout', line: 'hello' },
      { time: '2026-12-02T10:00:00.000000004+00:00', stream: 'stdout', line: '' },
    ]);
  });

  it('holds a line cut between two reads until its end arrives, and flushes an unfinished one', () => {
    const p = new LogParser();
    assert.deepEqual(p.push('2026-12-02T10:00:00Z stdout F fir'), []);
    assert.deepEqual(p.push('st\n2026-12-02T10:00:01Z stdout P no end'), [{ time: '2026-12-02T10:00:00Z', stream: 'stdout', line: 'first' }]);
    assert.deepEqual(p.push('\n'), []);
    assert.deepEqual(p.flush(), [{ time: '2026-12-02T10:00:01Z', stream: 'stdout', line: 'no end' }]);
    assert.deepEqual(p.flush(), []);
  });
});
