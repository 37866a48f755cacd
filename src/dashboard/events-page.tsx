/** The live events feed: transitions, operations and client attaches, newest first, as the stream brings them. */
import { useState } from 'preact/hooks';
import type { HoodyEvent } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { when } from './format.ts';
import { useSubscription } from './ui.tsx';

function describe(e: HoodyEvent, name: string): string {
  if (e.type === 'transition') return `${name}: ${e.log.from_status} → ${e.log.to_status} (${e.log.metadata.operation}, by ${e.log.triggered_by}${e.log.metadata.reason ? `: ${e.log.metadata.reason}` : ''})`;
  if (e.type === 'operation') return `${name}: ${e.operation} ${e.phase}${e.error ? `: ${e.error.message} (${e.error.code})` : ''} (by ${e.triggered_by})`;
  return `${name}: ${e.client.user_id} ${e.action} ${e.program}-${e.index} (${e.clients} now)`;
}

const timeOf = (e: HoodyEvent): string => (e.type === 'transition' ? e.log.transition_time : e.at);

export function EventsPage() {
  const d = useDashboard();
  const [kind, setKind] = useState('');
  useSubscription((notify) => d.feed.subscribe(notify), []);
  const shown = d.feed.recent.filter(({ event }) => !kind || event.type === kind).slice(0, 200);
  return (
    <section aria-labelledby="events-title">
      <div class="row spread">
        <h1 id="events-title">Events</h1>
        <label>
          <span class="label">Kind</span>
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            <option value="transition">transitions</option>
            <option value="operation">operations</option>
            <option value="client">terminal and display clients</option>
          </select>
        </label>
      </div>
      <p class="muted">Since this page was opened; the status logs keep every transition.</p>
      <ol class="events" aria-live="polite">
        {shown.map(({ n, event: e }) => (
          <li key={n} data-event-type={e.type}>
            <time>{when(timeOf(e))}</time> <a href={`#/containers/${e.container_id}`}>{describe(e, d.live.get(e.container_id)?.name ?? e.container_id)}</a>
          </li>
        ))}
      </ol>
    </section>
  );
}
