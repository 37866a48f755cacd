/**
 * Which rows of a long table are on screen: the table's rows all have ROW_HEIGHT, the page scrolls
 * (the window), and the rows from `first` to `last` (exclusive) cover the viewport with a margin of
 * OVERSCAN rows each side. Measured before paint when the count or what is above the table changed,
 * and on scroll and resize, once per frame.
 */
import { useLayoutEffect, useState } from 'preact/hooks';

/** Every row's height in px (style.css gives table.containers rows this height). */
export const ROW_HEIGHT = 40;
const OVERSCAN = 10;

/** The rows of `count` that a viewport of `viewport` px shows when the rows begin `top` px below its top (negative: scrolled past). */
export function visibleRows(top: number, viewport: number, count: number, rowHeight = ROW_HEIGHT, overscan = OVERSCAN): { first: number; last: number } {
  const first = Math.max(0, Math.floor(-top / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((viewport - top) / rowHeight) + overscan);
  return { first: Math.min(first, Math.max(0, last - 1)), last: Math.max(last, 0) };
}

/** `above`: anything that changes the height of what is above the table (a bar shown or hidden). */
export function useWindow(body: { current: HTMLElement | null }, count: number, above: unknown): { first: number; last: number } {
  const [range, setRange] = useState<{ top: number; viewport: number }>(() => ({ top: 0, viewport: typeof innerHeight === 'number' ? innerHeight : 800 }));
  const measure = (): void => {
    const el = body.current;
    if (!el) return;
    const next = { top: el.getBoundingClientRect().top, viewport: innerHeight };
    setRange((r) => (r.top === next.top && r.viewport === next.viewport ? r : next));
  };
  // before paint when the rows or what is above the table changed (not at every render: reading the
  // layout forces it, and a burst of status changes renders once a frame; measured, that cost frames)
  useLayoutEffect(measure, [count, above]);
  useLayoutEffect(() => {
    let frame = 0;
    const schedule = (): void => {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        measure();
      });
    };
    addEventListener('scroll', schedule, { passive: true });
    addEventListener('resize', schedule);
    return () => {
      cancelAnimationFrame(frame);
      removeEventListener('scroll', schedule);
      removeEventListener('resize', schedule);
    };
  }, []);
  // the rows follow from where the table is and how many rows there are now, never from a stale range
  return visibleRows(range.top, range.viewport, count);
}
