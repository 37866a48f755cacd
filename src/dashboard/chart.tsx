/** A small line chart of recent samples (SVG, no library): the container page's CPU and memory. */
export function Sparkline({ values, max, label, format }: { values: readonly number[]; max?: number; label: string; format: (v: number) => string }) {
  const w = 240;
  const h = 48;
  const top = Math.max(max ?? 0, ...values, 1e-9);
  const points = values.map((v, i) => `${values.length === 1 ? w : (i / (values.length - 1)) * w},${h - (v / top) * (h - 2) - 1}`).join(' ');
  const last = values.at(-1);
  return (
    <figure class="chart">
      <figcaption>
        {label}: <strong>{last === undefined ? '—' : format(last)}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={`${label}, last ${values.length} samples`} preserveAspectRatio="none">
        <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
      </svg>
    </figure>
  );
}
