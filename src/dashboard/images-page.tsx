/** The images on this server: pull one (with progress), import an archive, delete. */
import { useState } from 'preact/hooks';
import type { Image } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { bytes, when } from './format.ts';
import { PullProgress, progressOf, type PullState } from './pull-progress.tsx';
import { ErrorText } from './ui.tsx';
import { useResource } from './use-resource.ts';

export function ImagesPage() {
  const d = useDashboard();
  const [reference, setReference] = useState('');
  const [pull, setPull] = useState<PullState | undefined>();
  const { data: images, busy, error, run } = useResource(async () => (await d.client.api.images.list()).data.images, [] as Image[], []);
  const doPull = (e: Event): void => {
    e.preventDefault();
    if (!reference.trim()) return;
    setPull({});
    void run('pull', async () => {
      try {
        await d.client.api.images.pull(reference.trim(), { onProgress: (ev) => setPull((p) => progressOf(p ?? {}, ev)) });
      } finally {
        setPull(undefined);
      }
      d.notice(`Pulled ${reference.trim()}`);
      setReference('');
    });
  };
  const doImport = (e: Event): void => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    void run('import', async () => {
      const { data } = await d.client.api.images.import(file);
      d.notice(`Imported ${data.images.map((i) => i.name).join(', ')}`);
      input.value = '';
    });
  };
  const remove = async (i: Image): Promise<void> => {
    if (!(await d.confirm(`Delete image ${i.name}?`, 'Delete'))) return;
    await run(`delete ${i.id}`, () => d.client.api.images.delete(i.id));
  };
  return (
    <section aria-labelledby="images-title">
      <h1 id="images-title">Images</h1>
      <div class="row wrap">
        <form class="row" onSubmit={doPull} aria-label="Pull an image">
          <label>
            <span class="label">Reference</span>
            <input value={reference} onInput={(e) => setReference((e.target as HTMLInputElement).value)} placeholder="docker.io/library/alpine:3.20" />
          </label>
          <button type="submit" class="primary" disabled={!!busy}>
            {busy === 'pull' ? 'Pulling…' : 'Pull'}
          </button>
        </form>
        <label class="button">
          {busy === 'import' ? 'Importing…' : 'Import an archive…'}
          <input type="file" class="visually-hidden" accept=".tar,.tar.gz,.tgz,application/x-tar" disabled={!!busy} onChange={doImport} />
        </label>
      </div>
      {pull && <PullProgress state={pull} />}
      <ErrorText error={error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th class="num">Size</th>
              <th class="num">Layers</th>
              <th>Stored</th>
              <th>Used by</th>
              <th>Source</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {images.map((i) => (
              <tr key={i.id}>
                <td class="mono">{i.name}</td>
                <td class="num">{bytes(i.size_bytes)}</td>
                <td class="num">{i.layers}</td>
                <td>{when(i.stored_at)}</td>
                <td>{i.used_by.length ? `${i.used_by.length} containers` : '—'}</td>
                <td class="muted">{i.source}</td>
                <td>
                  <button type="button" class="danger" disabled={i.builtin || !!busy} title={i.builtin ? 'the built-in image cannot be deleted' : `Delete ${i.name}`} onClick={() => void remove(i)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
