/** A container's configuration, edited while it is stopped (PATCH, with the version read as If-Match). */
import { useState } from 'preact/hooks';
import type { Container, UpdateContainerBody } from '../sdk/index.ts';
import { refusal } from './actions.ts';
import { useDashboard } from './context.ts';
import { joinCommand, parseEnvironment, parsePorts, parsePrograms, splitCommand } from './format.ts';
import { ErrorText, Field } from './ui.tsx';

const isKitProgram = (c: Container, name: string): boolean => c.hoody_kit && (name === 'terminal' || name === 'display');

const textOf = (c: Container): Record<string, string | boolean> => ({
  command: c.command ? joinCommand(c.command) : '',
  environment: Object.entries(c.environment_vars)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n'),
  ports: c.ports.map((p) => `${p.host_ip !== '0.0.0.0' ? `${p.host_ip}:` : ''}${p.host_port}:${p.container_port}${p.protocol === 'udp' ? '/udp' : ''}`).join(', '),
  programs: c.programs.filter((p) => !isKitProgram(c, p.name)).map((p) => `${p.name}:${p.port}${p.public ? ':public' : ''}`).join(', '),
  cpu: String(c.resources.cpu),
  memory: String(c.resources.memory_mb),
  pids: String(c.resources.pids),
  restart: c.restart_policy,
  stop_timeout: String(c.stop_timeout),
  autostart: c.autostart,
});

/** What changed between the form and the container, as a PATCH body. */
export function patchOf(c: Container, before: Record<string, string | boolean>, form: Record<string, string | boolean>): UpdateContainerBody {
  const patch: UpdateContainerBody = {};
  const changed = (k: string): boolean => before[k] !== form[k];
  const text = (k: string): string => String(form[k] ?? '').trim();
  if (changed('command')) patch.command = text('command') ? splitCommand(text('command')) : null;
  if (changed('environment')) patch.environment_vars = parseEnvironment(String(form.environment ?? ''));
  if (changed('ports')) patch.ports = parsePorts(text('ports'));
  // the kit's own programs are not in the form: they are kept as they are
  if (changed('programs')) patch.programs = [...parsePrograms(text('programs')), ...c.programs.filter((p) => isKitProgram(c, p.name))];
  if (changed('cpu') || changed('memory') || changed('pids')) patch.resources = { cpu: Number(text('cpu')), memory_mb: Number(text('memory')), pids: Number(text('pids')) };
  if (changed('restart')) patch.restart_policy = text('restart') as Container['restart_policy'];
  if (changed('stop_timeout')) patch.stop_timeout = Number(text('stop_timeout'));
  if (changed('autostart')) patch.autostart = form.autostart === true;
  return patch;
}

export function ConfigTab({ c }: { c: Container }) {
  const d = useDashboard();
  const [before, setBefore] = useState(() => textOf(c));
  const [form, setForm] = useState(before);
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const why = refusal(c, 'update');
  const set = (k: string) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    setForm((f) => ({ ...f, [k]: el.type === 'checkbox' ? el.checked : el.value }));
  };
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    let patch: UpdateContainerBody;
    try {
      patch = patchOf(c, before, form);
    } catch (err) {
      return setError(err);
    }
    if (Object.keys(patch).length === 0) return d.notice('Nothing changed');
    setSaving(true);
    try {
      const { data } = await d.client.api.containers.update(c.id, patch);
      d.live.put(data);
      const fresh = textOf(data);
      setBefore(fresh);
      setForm(fresh);
      d.notice('Configuration saved');
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void save(e)}>
      {why && (
        <p class="notice" role="note">
          Editing needs the container stopped: {why}.
        </p>
      )}
      <fieldset disabled={!!why || saving}>
        <div class="grid2">
          <Field label="Command" hint="empty: the image's">
            <input name="command" value={form.command as string} onInput={set('command')} />
          </Field>
          <Field label="Environment" hint="NAME=value, one per line">
            <textarea name="environment" rows={3} value={form.environment as string} onInput={set('environment')} />
          </Field>
          <Field label="Published ports">
            <input name="ports" value={form.ports as string} onInput={set('ports')} />
          </Field>
          <Field label="Programs" hint="name:port[:public]">
            <input name="programs" value={form.programs as string} onInput={set('programs')} />
          </Field>
          <Field label="CPU cores">
            <input name="cpu" value={form.cpu as string} onInput={set('cpu')} />
          </Field>
          <Field label="Memory (MiB)">
            <input name="memory" value={form.memory as string} onInput={set('memory')} />
          </Field>
          <Field label="Processes">
            <input name="pids" value={form.pids as string} onInput={set('pids')} />
          </Field>
          <Field label="Stop timeout (s)">
            <input name="stop_timeout" value={form.stop_timeout as string} onInput={set('stop_timeout')} />
          </Field>
          <Field label="Restart policy">
            <select name="restart" value={form.restart as string} onChange={set('restart')}>
              {['no', 'on-failure', 'always'].map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <label class="check">
          <input type="checkbox" checked={form.autostart === true} onChange={set('autostart')} /> Start whenever the server starts
        </label>
        <ErrorText error={error} />
        <button type="submit" class="primary">
          {saving ? 'Saving…' : 'Save'}
        </button>
      </fieldset>
    </form>
  );
}
