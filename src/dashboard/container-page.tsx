/** One container: its header and actions, and tabs for its overview, timeline, logs, terminals, snapshots and configuration. */
import { useEffect, useState } from 'preact/hooks';
import type { ContainerWithRuntime, Service } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { bytes, joinCommand, when } from './format.ts';
import { Sparkline } from './chart.tsx';
import { ActionButtons, ErrorText, StatusBadge, Tabs, useSubscription } from './ui.tsx';
import { cpuPercent } from './usage.ts';
import { Timeline } from './timeline.tsx';
import { LogsView } from './logs-view.tsx';
import { TerminalTab } from './terminal-tab.tsx';
import { SnapshotsTab } from './snapshots-tab.tsx';
import { ConfigTab } from './config-tab.tsx';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'timeline', label: 'Timeline' },
  { id: 'logs', label: 'Logs' },
  { id: 'terminal', label: 'Terminal' },
  { id: 'snapshots', label: 'Snapshots' },
  { id: 'config', label: 'Configuration' },
] as const;
type Tab = (typeof TABS)[number]['id'];

export function ContainerPage({ id, tab }: { id: string; tab: string }) {
  const d = useDashboard();
  useSubscription((notify) => d.live.subscribe((ids) => (ids.has(id) || ids.has('*')) && notify()), [id]);
  const [missing, setMissing] = useState<unknown>();
  const c = d.live.get(id);
  const known = c !== undefined;
  useEffect(() => {
    // a container not in the list yet (just made elsewhere), or no longer (deleted elsewhere): ask
    if (!known) d.client.api.containers.get(id).then((r) => d.live.put(r.data), setMissing);
  }, [id, known]);
  const current: Tab = TABS.some((t) => t.id === tab) ? (tab as Tab) : 'overview';
  if (!c) return missing ? <ErrorText error={missing} /> : <p class="muted">Loading…</p>;
  return (
    <section aria-labelledby="container-title">
      <p class="crumbs">
        <a href="#/">Containers</a> /
      </p>
      <div class="row spread wrap">
        <h1 id="container-title">
          {c.name} <StatusBadge status={c.status} busy={c.current_operation?.operation} />
        </h1>
        <ActionButtons c={c} onDeleted={() => (location.hash = '#/')} />
      </div>
      <Tabs tabs={TABS} current={current} onChange={(t) => (location.hash = `#/containers/${id}/${t}`)} />
      <div class="tab-panel" role="tabpanel">
        {current === 'overview' && <Overview id={id} />}
        {current === 'timeline' && <Timeline id={id} />}
        {current === 'logs' && <LogsView id={id} />}
        {current === 'terminal' && <TerminalTab c={c} />}
        {current === 'snapshots' && <SnapshotsTab c={c} />}
        {current === 'config' && <ConfigTab c={c} />}
      </div>
    </section>
  );
}

const SAMPLES = 60;

function Overview({ id }: { id: string }) {
  const d = useDashboard();
  const c = d.live.get(id);
  const [info, setInfo] = useState<ContainerWithRuntime>();
  const [services, setServices] = useState<Service[]>([]);
  const [cpu, setCpu] = useState<number[]>([]);
  const [memory, setMemory] = useState<number[]>([]);
  const [error, setError] = useState<unknown>();
  const live = c?.status === 'running' || c?.status === 'paused';
  useEffect(() => {
    let stopped = false;
    let last: { ns: number; at: number } | undefined;
    const read = async (): Promise<void> => {
      try {
        const { data } = await d.client.api.containers.get(id, { runtime: 'true' });
        if (stopped) return;
        setError(undefined);
        // no runtime_info: its server does not answer (offline), and this one cannot look inside it
        if (!data.runtime_info) return setInfo(undefined);
        setInfo(data);
        const at = performance.now();
        const share = last ? cpuPercent(last.ns, data.runtime_info.cpu_usage_ns, at - last.at) : undefined;
        last = { ns: data.runtime_info.cpu_usage_ns, at };
        if (share !== undefined) setCpu((v) => [...v, share].slice(-SAMPLES));
        setMemory((v) => [...v, data.runtime_info.memory_bytes].slice(-SAMPLES));
      } catch (err) {
        if (!stopped) setError(err);
      }
    };
    void read();
    d.client.api.containers.services(id).then((r) => !stopped && setServices(r.data.services), () => undefined);
    const timer = live ? setInterval(() => void read(), 2000) : undefined;
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [id, live]);
  if (!c) return null;
  const rt = info?.runtime_info;
  const viewers = rt?.displays.connected_clients ?? [];
  return (
    <div class="overview">
      <ErrorText error={error} />
      <div class="charts row wrap">
        <Sparkline label="CPU" values={cpu} max={c.resources.cpu * 100} format={(v) => `${v.toFixed(1)} % of ${c.resources.cpu * 100} %`} />
        <Sparkline label="Memory" values={memory} max={c.resources.memory_mb * 1024 * 1024} format={(v) => `${bytes(v)} of ${c.resources.memory_mb} MiB`} />
      </div>
      <dl class="facts">
        <dt>Image</dt>
        <dd class="mono">{c.container_image}</dd>
        <dt>Command</dt>
        <dd class="mono">{c.command ? joinCommand(c.command) : "the image's"}</dd>
        <dt>Server</dt>
        <dd>
          {c.server_name} ({c.server_status})
        </dd>
        <dt>Resources</dt>
        <dd>
          {c.resources.cpu} CPU · {c.resources.memory_mb} MiB · {c.resources.pids} processes
        </dd>
        <dt>Restart policy</dt>
        <dd>
          {c.restart_policy}
          {c.autostart ? ' · autostart' : ''}
        </dd>
        <dt>Address</dt>
        <dd class="mono">{c.ip_address ?? c.network}</dd>
        <dt>Processes</dt>
        <dd>{rt ? rt.processes_total : '—'}</dd>
        <dt>Listening</dt>
        <dd class="mono">{rt?.listening_ports.join(' ') || '—'}</dd>
        <dt>Exit code</dt>
        <dd>{c.exit_code ?? '—'}</dd>
        <dt>Created</dt>
        <dd>{when(c.created_at)}</dd>
      </dl>
      <h2>Service URLs</h2>
      {services.length === 0 ? (
        <p class="muted">No programs: add one in Configuration to get a URL.</p>
      ) : (
        <ul class="services">
          {services.map((s) => (
            <li key={s.host}>
              <strong>
                {s.program}-{s.index}
              </strong>{' '}
              <span class={`state state-${s.status}`}>{s.status}</span>{' '}
              {s.url ? (
                <a href={s.open_url ?? s.url} target="_blank" rel="noopener noreferrer">
                  open {s.url}
                </a>
              ) : (
                <span class="muted">no router on this server</span>
              )}
            </li>
          ))}
        </ul>
      )}
      <h2>Connected</h2>
      <ul class="connected">
        {(rt?.terminals ?? []).map((t) => (
          <li key={t.id}>
            Terminal {t.index ?? `session ${t.id.slice(-6)}`}: {t.clients.map((cl) => `${cl.user_id}${cl.address ? ` from ${cl.address}` : ''}`).join(', ') || 'no one attached'}
          </li>
        ))}
        {c.hoody_kit && (
          <li>
            Display {rt?.displays.active ? 'active' : 'inactive'}: {viewers.map((v) => `${v.user_id}${v.view_only ? ' (view only)' : ''}`).join(', ') || 'no viewer'}
          </li>
        )}
        {!rt?.terminals.length && !c.hoody_kit && <li class="muted">No terminal or display is open.</li>}
      </ul>
    </div>
  );
}
