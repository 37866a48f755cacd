/**
 * A container's configuration, edited while it is stopped: a PATCH of the fields changed, sent with
 * the ETag read when the form was filled (If-Match), so that a change made elsewhere meanwhile is
 * refused rather than overwritten.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Container, UpdateContainerBody } from '../sdk/index.ts';
import { RESTART_POLICIES, refusal } from './actions.ts';
import { useDashboard } from './context.ts';
import { joinCommand, parseEnvironment, parsePorts, parsePrograms, programsText, splitCommand } from './format.ts';
import { ErrorText, Field, fieldSetter, type FormText } from './ui.tsx';

const isKitProgram = (c: Container, name: string): boolean => c.hoody_kit && (name === 'terminal' || name === 'display');

const textOf = (c: Container): Record<string, string | boolean> => ({
  command: c.command ? joinCommand(c.command) : '',
  environment: Object.entries(c.environment_vars)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n'),
  ports: c.ports.map((p) => `${p.host_ip !== '0.0.0.0' ? `${p.host_ip}:` : ''}${p.host_port}:${p.container_port}${p.protocol === 'udp' ? '/udp' : ''}`).join(', '),
  programs: programsText(c.programs.filter((p) => !isKitProgram(c, p.name))),
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

/** A value over several lines cannot be written as one NAME=value line: such an environment is shown, not edited here. */
export const environmentEditable = (c: Container): boolean => Object.values(c.environment_vars).every((v) => !v.includes('\n'));

export function ConfigTab({ c }: { c: Container }) {
  const d = useDashboard();
  // the form shows only what was read with its ETag: a save is then based on exactly that version
  const [before, setBefore] = useState<FormText>();
  const [form, setForm] = useState<FormText>({});
  const [etag, setEtag] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const why = refusal(c, 'update');
  // the form and the version it was filled from, read together
  const fill = async (): Promise<void> => {
    const res = await fetch(`${d.client.apiBase}/containers/${c.id}`, { headers: { authorization: `Bearer ${d.token}` } });
    if (!res.ok) throw new Error(`could not read the configuration (HTTP ${res.status})`);
    const { data } = (await res.json()) as { data: Container };
    const text = textOf(data);
    setBefore(text);
    setForm(text);
    setEtag(res.headers.get('etag') ?? undefined);
  };
  useEffect(() => void fill().catch(setError), [c.id]);
  const set = fieldSetter(setForm);
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    if (!before) return;
    let patch: UpdateContainerBody;
    try {
      patch = patchOf(c, before, form);
    } catch (err) {
      return setError(err);
    }
    if (Object.keys(patch).length === 0) return d.notice('Nothing changed');
    setSaving(true);
    try {
      const { data } = await d.client.api.containers.update(c.id, patch, etag ? { headers: { 'if-match': etag } } : {});
      d.live.put(data);
      await fill();
      d.notice('Configuration saved');
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };
  if (!before) {
    return (
      <div>
        <ErrorText error={error} />
        <p class="muted">Reading the configuration…</p>
      </div>
    );
  }
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
          <Field label="Environment" hint={environmentEditable(c) ? 'NAME=value, one per line' : 'a value spans several lines: change it with the API, the CLI or the SDK'}>
            <textarea name="environment" rows={3} value={form.environment as string} onInput={set('environment')} readOnly={!environmentEditable(c)} />
          </Field>
          <Field label="Published ports">
            <input name="ports" value={form.ports as string} onInput={set('ports')} />
          </Field>
          <Field label="Programs" hint="name:port, name:port:public, name.2:port">
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
              {RESTART_POLICIES.map((r) => (
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
