import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { visibleRows } from './row-window.ts';

describe('the rows of a long table that are on screen', () => {
  it('covers the viewport with a margin each side, within the rows there are', () => {
    // the table begins 200 px down an 800 px viewport: rows 0..15 show, plus 10 more
    assert.deepEqual(visibleRows(200, 800, 1000, 40, 10), { first: 0, last: 25 });
    // scrolled 4000 px past the table's top: rows 100..120 show
    assert.deepEqual(visibleRows(-4000, 800, 1000, 40, 10), { first: 90, last: 130 });
    // near the end
    assert.deepEqual(visibleRows(-39_600, 800, 1000, 40, 10), { first: 980, last: 1000 });
    // fewer rows than the viewport holds
    assert.deepEqual(visibleRows(100, 800, 6, 40, 10), { first: 0, last: 6 });
    assert.deepEqual(visibleRows(100, 800, 0, 40, 10), { first: 0, last: 0 });
  });

  it('never shows nothing when scrolled past the end of a list that shrank', () => {
    const { first, last } = visibleRows(-40_000, 800, 5, 40, 10);
    assert.ok(first < last && last === 5, JSON.stringify({ first, last }));
  });
});
