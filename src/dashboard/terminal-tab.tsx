/** The container's terminals: a private session, or (with the kit) one of its shared ones; and its desktop's link. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Container, Service } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { ErrorText } from './ui.tsx';
import type { OpenTerminal } from './terminal-view.ts';

export function TerminalTab({ c }: { c: Container }) {
  const d = useDashboard();
  const [index, setIndex] = useState(0);
  const [open, setOpen] = useState(false);
  const [state, setState] = useState('');
  const [clients, setClients] = useState<{ id: string; user_id: string; address: string | null }[]>([]);
  const [error, setError] = useState<unknown>();
  const [display, setDisplay] = useState<Service>();
  const screen = useRef<HTMLDivElement>(null);
  const running = c.status === 'running';
  useEffect(() => {
    if (!c.hoody_kit) return;
    d.client.api.containers.services(c.id).then((r) => setDisplay(r.data.services.find((s) => s.program === 'display')), () => undefined);
  }, [c.id, c.hoody_kit]);
  useEffect(() => {
    if (!open || !running || !screen.current) return;
    let session: OpenTerminal | undefined;
    let closed = false;
    setClients([]);
    import('./terminal-view.ts')
      .then(({ openTerminal }) => openTerminal(d.client, c.id, screen.current as HTMLElement, index || undefined, { onState: setState, onClients: setClients }))
      .then(
        (s) => (closed ? s.close() : (session = s)),
        (err) => setError(err),
      );
    return () => {
      closed = true;
      session?.close();
    };
  }, [open, running, index, c.id]);
  return (
    <div class="terminal-tab">
      <div class="row wrap">
        {c.hoody_kit && (
          <label>
            <span class="label">Session</span>
            <select value={String(index)} onChange={(e) => setIndex(Number((e.target as HTMLSelectElement).value))}>
              <option value="0">private</option>
              {[1, 2, 3].map((i) => (
                <option key={i} value={String(i)}>
                  shared terminal-{i}
                </option>
              ))}
            </select>
          </label>
        )}
        <button type="button" class="primary" disabled={!running} title={running ? 'Open a shell in the container' : `Terminal: cannot open while ${c.status}`} onClick={() => setOpen((o) => !o)}>
          {open ? 'Close terminal' : 'Open terminal'}
        </button>
        <span class="muted" aria-live="polite" data-terminal-state>
          {state}
          {clients.length > 0 && ` · ${clients.length} attached: ${clients.map((cl) => cl.user_id).join(', ')}`}
        </span>
        {display?.url && (
          <a class="button" href={display.open_url ?? display.url} target="_blank" rel="noopener noreferrer">
            Open desktop
          </a>
        )}
      </div>
      <ErrorText error={error} />
      {open && running && <div ref={screen} class="screen" aria-label="Terminal" />}
    </div>
  );
}
