/**
 * Which rows of a long table are on screen: the table's rows all have ROW_HEIGHT, the page scrolls
 * (the window), and the rows from `first` to `last` (exclusive) cover the viewport with a margin of
 * OVERSCAN rows each side. Read again on scroll and resize, once per frame.
 */
import { useEffect, useState } from 'preact/hooks';

/** Every row's height in px (style.css gives table.containers rows this height). */
export const ROW_HEIGHT = 40;
const OVERSCAN = 10;

/** The rows of `count` that a viewport of `viewport` px shows when the rows begin `top` px below its top (negative: scrolled past). */
export function visibleRows(top: number, viewport: number, count: number, rowHeight = ROW_HEIGHT, overscan = OVERSCAN): { first: number; last: number } {
  const first = Math.max(0, Math.floor(-top / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((viewport - top) / rowHeight) + overscan);
  return { first: Math.min(first, Math.max(0, last - 1)), last: Math.max(last, 0) };
}

export function useWindow(body: { current: HTMLElement | null }, count: number): { first: number; last: number } {
  const [range, setRange] = useState(() => visibleRows(0, typeof innerHeight === 'number' ? innerHeight : 800, count));
  useEffect(() => {
    let frame = 0;
    const measure = (): void => {
      frame = 0;
      const el = body.current;
      if (!el) return;
      const next = visibleRows(el.getBoundingClientRect().top, innerHeight, count);
      setRange((r) => (r.first === next.first && r.last === next.last ? r : next));
    };
    const schedule = (): void => {
      frame ||= requestAnimationFrame(measure);
    };
    measure();
    addEventListener('scroll', schedule, { passive: true });
    addEventListener('resize', schedule);
    return () => {
      cancelAnimationFrame(frame);
      removeEventListener('scroll', schedule);
      removeEventListener('resize', schedule);
    };
  }, [count]);
  return { first: Math.min(range.first, count), last: Math.min(range.last, count) };
}
