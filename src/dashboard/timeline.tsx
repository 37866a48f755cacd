/** A container's status timeline: its status log, newest first, page by page, with who and why; the first page follows the stream. */
import { useEffect, useState } from 'preact/hooks';
import type { StatusLogPage } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { duration, when } from './format.ts';
import { ErrorText, StatusBadge } from './ui.tsx';

const PAGE = 20;

export function Timeline({ id }: { id: string }) {
  const d = useDashboard();
  const [page, setPage] = useState(1);
  const [data, setData] = useState<StatusLogPage>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  // users' names where this token may list users (an admin's); ids otherwise
  useEffect(() => {
    d.client.api.users.list().then((r) => setNames(new Map(r.data.users.map((u) => [u.id, u.name]))), () => undefined);
  }, []);
  useEffect(() => d.feed.subscribe((e) => e?.type === 'transition' && e.container_id === id && setTick((t) => t + 1)), [id]);
  useEffect(() => {
    let stale = false;
    d.client.api.containers.statusLogs(id, { page, limit: PAGE, sort_order: 'desc' }).then(
      (r) => !stale && (setData(r.data), setError(undefined)),
      (err) => !stale && setError(err),
    );
    return () => {
      stale = true;
    };
  }, [id, page, page === 1 ? tick : 0]);
  return (
    <div>
      <ErrorText error={error} />
      <div class="table-wrap">
        <table class="timeline">
          <thead>
            <tr>
              <th>When</th>
              <th>Change</th>
              <th>Operation</th>
              <th>Who</th>
              <th>Why</th>
              <th class="num">Took</th>
            </tr>
          </thead>
          <tbody>
            {data?.logs.map((l) => (
              <tr key={l.id}>
                <td>{when(l.transition_time)}</td>
                <td>
                  <StatusBadge status={l.from_status} /> → <StatusBadge status={l.to_status} />
                  {l.metadata.exit_code !== undefined ? <span class="muted"> exit {l.metadata.exit_code}</span> : null}
                </td>
                <td>{l.metadata.operation}</td>
                <td title={l.triggered_by}>
                  {names.get(l.triggered_by) ?? l.triggered_by}
                  {l.metadata.token ? <span class="muted"> via {l.metadata.token}</span> : null}
                </td>
                <td>
                  {l.metadata.reason ?? ''}
                  {l.metadata.error ? <span class="error-inline"> {l.metadata.error}</span> : null}
                </td>
                <td class="num">{duration(l.duration_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data && (
        <nav class="pager row" aria-label="Timeline pages">
          <button type="button" disabled={page <= 1} onClick={() => setPage((p) => p - 1)}>
            Newer
          </button>
          <span>
            page {data.pagination.page} of {Math.max(1, data.pagination.totalPages)} · {data.pagination.total} changes
          </span>
          <button type="button" disabled={page >= data.pagination.totalPages} onClick={() => setPage((p) => p + 1)}>
            Older
          </button>
        </nav>
      )}
    </div>
  );
}
