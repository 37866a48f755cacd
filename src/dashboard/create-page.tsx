/**
 * The create form: every field of `POST /containers` a user sets by hand. An image that is not on
 * the server is pulled first, with its progress shown; the API's own validation answers are shown
 * as they come (message, code and details).
 */
import { useEffect, useState } from 'preact/hooks';
import type { CreateContainerBody, Image, ImagePullEvent, Project } from '../sdk/index.ts';
import { RESTART_POLICIES } from './actions.ts';
import { useDashboard } from './context.ts';
import { parseEnvironment, parsePorts, parsePrograms, splitCommand } from './format.ts';
import { ErrorText, Field, fieldSetter } from './ui.tsx';
import { PullProgress, progressOf, type PullState } from './pull-progress.tsx';


/** The form's text as the API's body; throws (with the field's name) on text it cannot read. */
export function bodyOf(form: Record<string, string | boolean>): CreateContainerBody {
  const text = (k: string): string => String(form[k] ?? '').trim();
  const body: CreateContainerBody = { name: text('name'), container_image: text('image') || 'busybox' };
  if (text('project')) body.project_id = text('project');
  if (text('command')) body.command = splitCommand(text('command'));
  const env = parseEnvironment(String(form.environment ?? ''));
  if (Object.keys(env).length) body.environment_vars = env;
  if (text('ports')) body.ports = parsePorts(text('ports'));
  if (text('programs')) body.programs = parsePrograms(text('programs'));
  body.autostart = form.autostart === true;
  if (form.kit === true) body.hoody_kit = true;
  const resources: NonNullable<CreateContainerBody['resources']> = {};
  if (text('cpu')) resources.cpu = Number(text('cpu'));
  if (text('memory')) resources.memory_mb = Number(text('memory'));
  if (text('pids')) resources.pids = Number(text('pids'));
  if (Object.keys(resources).length) body.resources = resources;
  if (text('restart')) body.restart_policy = text('restart') as CreateContainerBody['restart_policy'];
  if (text('network')) body.network = text('network') as CreateContainerBody['network'];
  return body;
}

/** Whether `reference` names one of `images` (by a name as written or normalised, or by id). */
export function isStored(reference: string, images: readonly Image[]): boolean {
  const ref = reference.includes(':') || reference.includes('@') ? reference : `${reference}:latest`;
  const candidates = new Set([reference, ref, `docker.io/${ref}`, `docker.io/library/${ref}`]);
  return reference === 'busybox' || images.some((i) => i.id === reference || i.names.some((n) => candidates.has(n)));
}

export function CreatePage() {
  const d = useDashboard();
  const [projects, setProjects] = useState<Project[]>([]);
  const [images, setImages] = useState<Image[]>([]);
  const [form, setForm] = useState<Record<string, string | boolean>>({ image: 'busybox', autostart: true, restart: 'no', network: '' });
  const [error, setError] = useState<unknown>();
  const [phase, setPhase] = useState<'idle' | 'pulling' | 'creating'>('idle');
  const [pull, setPull] = useState<PullState>({});
  useEffect(() => {
    d.client.api.projects.list().then((r) => setProjects(r.data.projects), (err) => d.report(err, 'list projects'));
    d.client.api.images.list().then((r) => setImages(r.data.images), () => undefined);
  }, []);
  const set = fieldSetter(setForm);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    let body: CreateContainerBody;
    try {
      body = bodyOf(form);
    } catch (err) {
      return setError(err);
    }
    try {
      if (!isStored(body.container_image, images)) {
        setPhase('pulling');
        setPull({});
        // pulled here with its progress shown; the create pulls again only if it is placed on another server
        await d.client.api.images.pull(body.container_image, { onProgress: (ev: ImagePullEvent) => setPull((p) => progressOf(p, ev)) });
      }
      setPhase('creating');
      const { data } = await d.client.api.containers.create(body);
      d.live.put(data);
      d.notice(`Created "${data.name}"`);
      location.hash = `#/containers/${data.id}`;
    } catch (err) {
      setError(err);
    } finally {
      setPhase('idle');
    }
  };
  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title">New container</h1>
      <form class="form" onSubmit={(e) => void submit(e)} aria-describedby="create-error">
        <div class="grid2">
          <Field label="Name" hint="lowercase letters, digits and dashes">
            <input name="name" required value={form.name as string} onInput={set('name')} autocomplete="off" />
          </Field>
          <Field label="Image" hint="busybox is built in; others are pulled when missing">
            <input name="image" required list="image-names" value={form.image as string} onInput={set('image')} />
            <datalist id="image-names">
              {images.flatMap((i) => i.names).map((n) => (
                <option key={n} value={n} />
              ))}
            </datalist>
          </Field>
          <Field label="Project">
            <select name="project" value={form.project as string} onChange={set('project')}>
              <option value="">default</option>
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Command" hint="as a shell splits it; empty: the image's">
            <input name="command" value={form.command as string} onInput={set('command')} placeholder="sleep infinity" />
          </Field>
          <Field label="Environment" hint="NAME=value, one per line">
            <textarea name="environment" rows={3} value={form.environment as string} onInput={set('environment')} />
          </Field>
          <Field label="Published ports" hint="8080:80, 53/udp, 127.0.0.1:9000:9000">
            <input name="ports" value={form.ports as string} onInput={set('ports')} />
          </Field>
          <Field label="Programs" hint="name:port, or name:port:public, for service URLs">
            <input name="programs" value={form.programs as string} onInput={set('programs')} placeholder="web:8080" />
          </Field>
          <Field label="Network">
            <select name="network" value={form.network as string} onChange={set('network')}>
              <option value="">server default</option>
              <option value="bridge">bridge</option>
              <option value="none">none (loopback only)</option>
            </select>
          </Field>
          <Field label="CPU cores">
            <input name="cpu" inputMode="decimal" value={form.cpu as string} onInput={set('cpu')} placeholder="default" />
          </Field>
          <Field label="Memory (MiB)">
            <input name="memory" inputMode="numeric" value={form.memory as string} onInput={set('memory')} placeholder="default" />
          </Field>
          <Field label="Processes">
            <input name="pids" inputMode="numeric" value={form.pids as string} onInput={set('pids')} placeholder="default" />
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
          <input type="checkbox" name="autostart" checked={form.autostart === true} onChange={set('autostart')} /> Start it now, and whenever the server starts
        </label>
        <label class="check">
          <input type="checkbox" name="kit" checked={form.kit === true} onChange={set('kit')} /> Hoody Kit (shared terminals and a desktop)
        </label>
        {phase === 'pulling' && <PullProgress state={pull} />}
        <div id="create-error">
          <ErrorText error={error} />
        </div>
        <div class="row">
          <button type="submit" class="primary" disabled={phase !== 'idle'}>
            {phase === 'pulling' ? 'Pulling…' : phase === 'creating' ? 'Creating…' : 'Create'}
          </button>
          <a class="button" href="#/">
            Cancel
          </a>
        </div>
      </form>
    </section>
  );
}
