/** The servers: status, capacity and use; maintenance on and off. */
import { useEffect } from 'preact/hooks';
import type { Server } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { ago } from './format.ts';
import { ErrorText } from './ui.tsx';
import { useResource } from './use-resource.ts';

export function ServersPage() {
  const d = useDashboard();
  const { data: servers, busy, error, reload, run } = useResource(async () => (await d.client.api.servers.list()).data.servers, [] as Server[], []);
  // heartbeats change a server's status and use: read again every 10 s
  useEffect(() => {
    const timer = setInterval(() => void reload(), 10_000);
    return () => clearInterval(timer);
  }, []);
  const maintenance = async (s: Server, enabled: boolean): Promise<void> => {
    if (enabled && !(await d.confirm(`Put ${s.name} in maintenance? It takes no new containers and its running containers are stopped gracefully.`, 'Enter maintenance'))) return;
    await run(s.id, () => d.client.api.servers.maintenance(s.id, { enabled, reason: 'from the dashboard' }));
  };
  return (
    <section aria-labelledby="servers-title">
      <h1 id="servers-title">Servers</h1>
      <ErrorText error={error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Version</th>
              <th>Containers</th>
              <th>Memory</th>
              <th>Seen</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {servers.map((s) => (
              <tr key={s.id}>
                <td>{s.name}</td>
                <td>
                  <span class={`status status-${s.status}`}>{s.status}</span>
                </td>
                <td>{s.version ?? '—'}</td>
                <td>{s.usage ? `${s.usage.running} running of ${s.usage.containers}` : '—'}</td>
                <td>{s.usage && s.capacity ? `${s.usage.memory_mb} of ${s.capacity.memory_mb} MiB` : '—'}</td>
                <td>{ago(s.last_seen_at)}</td>
                <td>
                  {s.status === 'maintenance' ? (
                    <button type="button" disabled={!!busy} onClick={() => void maintenance(s, false)}>
                      Leave maintenance
                    </button>
                  ) : (
                    <button type="button" class="danger" disabled={!!busy || s.status === 'offline'} title={s.status === 'offline' ? 'Maintenance: the server is offline' : undefined} onClick={() => void maintenance(s, true)}>
                      Enter maintenance
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
