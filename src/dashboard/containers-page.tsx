/**
 * The containers table: every container the user sees, its status live from the event stream;
 * filters by project, status and name; several selected and acted on at once through the bulk API.
 * Only the rows on screen (and a few around) are in the page: a thousand containers cost what forty
 * do, when the list loads and when many change at once.
 */
import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { BulkResult, Container, LifecycleOperation, Project } from '../sdk/index.ts';
import { allowedForAll, LABELS, STATUSES } from './actions.ts';
import { useDashboard } from './context.ts';
import { bytes } from './format.ts';
import { ErrorText, StatusBadge, useSubscription } from './ui.tsx';
import { useUsage, type Usage } from './usage.ts';
import { useWindow, ROW_HEIGHT } from './row-window.ts';

const BULK: readonly LifecycleOperation[] = ['start', 'stop', 'force-stop', 'restart', 'pause', 'resume'];

interface RowProps {
  c: Container;
  /** Its place among the rows shown (from 2: the header is row 1), for assistive technology. */
  index: number;
  selected: boolean;
  project: string;
  usage: Usage | undefined;
  onSelect: (id: string, on: boolean) => void;
}

/** One row: re-rendered only when its container, selection or usage changed. */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return next.c !== p.c || next.selected !== p.selected || next.project !== p.project || next.usage !== p.usage || next.index !== p.index;
  }

  override render({ c, index, selected, project, usage, onSelect }: RowProps) {
    const ports = c.ports.map((p) => `${p.host_port}→${p.container_port}${p.protocol === 'udp' ? '/udp' : ''}`).join(' ');
    return (
      <tr data-id={c.id} data-name={c.name} class={selected ? 'selected' : ''} aria-rowindex={index}>
        <td>
          <input type="checkbox" checked={selected} aria-label={`Select ${c.name}`} onChange={(e) => onSelect(c.id, (e.target as HTMLInputElement).checked)} />
        </td>
        <td class="name" title={c.name}>
          <a href={`#/containers/${c.id}`}>{c.name}</a>
        </td>
        <td>
          <StatusBadge status={c.status} busy={c.current_operation?.operation} />
        </td>
        <td class="mono" title={c.container_image}>
          {c.container_image}
        </td>
        <td>{project}</td>
        <td>{c.server_name}</td>
        <td class="mono">
          {ports}
          {c.programs.length > 0 && <span class="muted">{ports ? ' · ' : ''}{c.programs.map((p) => `${p.name}-${p.index}`).join(' ')}</span>}
        </td>
        <td class="num">{usage?.cpuPercent === undefined ? '—' : `${usage.cpuPercent.toFixed(1)} %`}</td>
        <td class="num">{usage ? bytes(usage.memoryBytes) : '—'}</td>
      </tr>
    );
  }
}

/** The height of rows not in the page, so that the scroll bar and the rows' places stay true. */
function Spacer({ rows }: { rows: number }) {
  return (
    <tr class="spacer" aria-hidden="true" style={{ height: `${rows * ROW_HEIGHT}px` }}>
      <td colSpan={9} />
    </tr>
  );
}

export function ContainersPage() {
  const d = useDashboard();
  const [projects, setProjects] = useState<Project[]>([]);
  const [status, setStatus] = useState('');
  const [project, setProject] = useState('');
  const [name, setName] = useState('');
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [bulk, setBulk] = useState<{ running?: string; result?: BulkResult; error?: unknown }>({});
  useSubscription((notify) => d.live.subscribe(notify), [d.live]);
  useEffect(() => {
    d.client.api.projects.list().then((r) => setProjects(r.data.projects), (err) => d.report(err, 'list projects'));
  }, []);
  const projectNames = useMemo(() => new Map(projects.map((p) => [p.id, p.name])), [projects]);
  const all = d.live.list();
  const needle = name.trim().toLowerCase();
  const shown = all
    .filter((c) => (!status || c.status === status) && (!project || c.project_id === project) && (!needle || c.name.includes(needle)))
    // names are lowercase letters, digits and dashes: a plain comparison orders them, several times faster than localeCompare
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const usage = useUsage(shown);
  const body = useRef<HTMLTableSectionElement>(null);
  const counts = new Map<string, number>();
  for (const c of shown) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  const chosen = shown.filter((c) => selected.has(c.id));
  const { first, last } = useWindow(body, shown.length, `${chosen.length > 0}/${bulk.result ? bulk.result.results.length : '-'}/${bulk.error ? 1 : 0}`);
  const onSelect = useMemo(
    () => (id: string, on: boolean) =>
      setSelected((s) => {
        const next = new Set(s);
        if (on) next.add(id);
        else next.delete(id);
        return next;
      }),
    [],
  );
  const runBulk = async (operation: LifecycleOperation): Promise<void> => {
    if (operation === 'force-stop' && !(await d.confirm(`Force-stop ${chosen.length} containers? Their processes are killed at once.`, LABELS['force-stop']))) return;
    setBulk({ running: operation });
    try {
      const { data } = await d.client.api.containers.bulk({ operation, ids: chosen.map((c) => c.id) });
      setBulk({ result: data });
    } catch (err) {
      setBulk({ error: err });
    }
  };
  const deleteChosen = async (): Promise<void> => {
    if (!(await d.confirm(`Delete ${chosen.length} containers? Their files go; their status logs stay readable.`, 'Delete'))) return;
    setBulk({ running: 'delete' });
    const failures: string[] = [];
    for (const c of chosen) {
      try {
        await d.client.api.containers.delete(c.id);
        d.live.remove(c.id);
      } catch (err) {
        failures.push(`${c.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    setSelected(new Set());
    setBulk(failures.length ? { error: new Error(`not deleted: ${failures.join('; ')}`) } : {});
  };
  const statuses = chosen.map((c) => c.status);
  const allShownSelected = shown.length > 0 && chosen.length === shown.length;
  return (
    <section aria-labelledby="containers-title">
      <div class="row spread">
        <h1 id="containers-title">Containers</h1>
        <a class="button primary" href="#/create">
          New container
        </a>
      </div>
      <form class="filters row" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span class="label">Name</span>
          <input type="search" value={name} placeholder="filter by name" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          <span class="label">Status</span>
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span class="label">Project</span>
          <select value={project} onChange={(e) => setProject((e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <span class="muted count" aria-live="polite" data-shown={shown.length} data-running={counts.get('running') ?? 0}>
          {shown.length} of {all.length}
          {[...counts].map(([status, n]) => ` · ${n} ${status}`).join('')}
        </span>
      </form>
      {chosen.length > 0 && (
        <div class="bulk row" role="toolbar" aria-label="Act on the selected containers">
          <strong>{chosen.length} selected</strong>
          {BULK.map((op) => (
            <button type="button" key={op} data-bulk={op} class={op === 'force-stop' ? 'danger' : ''} disabled={!!bulk.running || !allowedForAll(statuses, op)} title={allowedForAll(statuses, op) ? `${LABELS[op]} every selected container` : `${LABELS[op]}: not allowed for every selected container's status`} onClick={() => void runBulk(op)}>
              {bulk.running === op ? `${LABELS[op]}…` : LABELS[op]}
            </button>
          ))}
          <button type="button" class="danger" data-bulk="delete" disabled={!!bulk.running || !allowedForAll(statuses, 'delete')} title={allowedForAll(statuses, 'delete') ? 'Delete every selected container' : 'Delete: only stopped or failed containers can be deleted'} onClick={() => void deleteChosen()}>
            Delete
          </button>
          <button type="button" onClick={() => setSelected(new Set())}>
            Clear
          </button>
        </div>
      )}
      {bulk.result && (
        <div class="notice" role="status">
          {bulk.result.operation}: {bulk.result.summary.succeeded} of {bulk.result.summary.total} succeeded
          {bulk.result.results
            .filter((r) => !r.ok)
            .map((r) => (
              <p class="error" key={r.container_id}>
                {d.live.get(r.container_id)?.name ?? r.container_id}: {r.error?.message} <code class="code">{r.error?.code}</code>
              </p>
            ))}
        </div>
      )}
      <ErrorText error={bulk.error} />
      <div class="table-wrap">
        <table class="containers" aria-rowcount={shown.length + 1}>
          <thead>
            <tr aria-rowindex={1}>
              <th>
                <input type="checkbox" aria-label="Select every container shown" checked={allShownSelected} onChange={(e) => setSelected((e.target as HTMLInputElement).checked ? new Set(shown.map((c) => c.id)) : new Set())} />
              </th>
              <th>Name</th>
              <th>Status</th>
              <th>Image</th>
              <th>Project</th>
              <th>Server</th>
              <th>Ports / programs</th>
              <th class="num">CPU</th>
              <th class="num">Memory</th>
            </tr>
          </thead>
          <tbody ref={body}>
            {first > 0 && <Spacer rows={first} />}
            {shown.slice(first, last).map((c, i) => (
              <Row key={c.id} c={c} index={first + i + 2} selected={selected.has(c.id)} project={projectNames.get(c.project_id) ?? ''} usage={usage.get(c.id)} onSelect={onSelect} />
            ))}
            {last < shown.length && <Spacer rows={shown.length - last} />}
          </tbody>
        </table>
        {d.live.loaded && shown.length === 0 && <p class="empty">{all.length === 0 ? 'No containers yet.' : 'No container matches these filters.'}</p>}
      </div>
    </section>
  );
}
