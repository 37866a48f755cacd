/** A container's snapshots: cut one (named, with a reason), restore, copy into a new container, delete. */
import { useState } from 'preact/hooks';
import type { Container, Snapshot } from '../sdk/index.ts';
import { refusal } from './actions.ts';
import { useDashboard } from './context.ts';
import { bytes, when } from './format.ts';
import { ErrorText } from './ui.tsx';
import { useResource } from './use-resource.ts';

export function SnapshotsTab({ c }: { c: Container }) {
  const d = useDashboard();
  const [alias, setAlias] = useState('');
  const [reason, setReason] = useState('');
  // newest first
  const { data: list, busy, error, run } = useResource(async () => [...(await d.client.api.containers.listSnapshots(c.id)).data.snapshots].reverse(), [] as Snapshot[], [c.id]);
  const create = (e: Event): void => {
    e.preventDefault();
    void run('create', async () => {
      await d.client.api.containers.createSnapshot(c.id, { ...(alias.trim() ? { alias: alias.trim() } : {}), ...(reason.trim() ? { reason: reason.trim() } : {}) });
      setAlias('');
      setReason('');
      d.notice('Snapshot made');
    });
  };
  const restore = async (s: Snapshot): Promise<void> => {
    if (!(await d.confirm(`Restore "${c.name}" to ${s.alias ?? s.id}? Its files and configuration now are replaced.`, 'Restore'))) return;
    await run(`restore ${s.id}`, async () => {
      const { data } = await d.client.api.containers.restoreSnapshot(c.id, s.id);
      d.live.put(data);
      d.notice(`Restored ${s.alias ?? s.id}`);
    });
  };
  const remove = async (s: Snapshot): Promise<void> => {
    if (!(await d.confirm(`Delete snapshot ${s.alias ?? s.id}?`, 'Delete'))) return;
    await run(`delete ${s.id}`, () => d.client.api.containers.deleteSnapshot(c.id, s.id));
  };
  const copy = async (s: Snapshot): Promise<void> => {
    const name = prompt(`Name of the new container made from ${s.alias ?? s.id}:`, `${c.name}-copy`.slice(0, 63));
    if (!name) return;
    await run(`copy ${s.id}`, async () => {
      const { data } = await d.client.api.containers.copy(c.id, { name, snapshot_id: s.id });
      d.live.put(data);
      d.notice(`Copied into "${data.name}"`);
    });
  };
  const cantSnapshot = refusal(c, 'snapshot');
  const cantRestore = refusal(c, 'restore');
  const cantCopy = refusal(c, 'copy');
  return (
    <div class="snapshots">
      <form class="row wrap" onSubmit={create} aria-label="New snapshot">
        <label>
          <span class="label">Name (optional)</span>
          <input value={alias} onInput={(e) => setAlias((e.target as HTMLInputElement).value)} placeholder="pre-deploy" />
        </label>
        <label>
          <span class="label">Reason (optional)</span>
          <input value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary" disabled={!!busy || !!cantSnapshot} title={cantSnapshot ? `Snapshot: ${cantSnapshot}` : 'Cut a snapshot of its files and configuration'}>
          {busy === 'create' ? 'Snapshotting…' : 'Snapshot'}
        </button>
      </form>
      <ErrorText error={error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Snapshot</th>
              <th>Made</th>
              <th>By</th>
              <th class="num">Files</th>
              <th class="num">Size</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id} data-snapshot={s.alias ?? s.id}>
                <td>
                  {s.alias ?? <span class="mono">{s.id}</span>}
                  {s.frozen_ms !== null && <span class="muted"> · frozen {s.frozen_ms.toFixed(0)} ms</span>}
                </td>
                <td>{when(s.created_at)}</td>
                <td>{s.created_by}</td>
                <td class="num">{s.files}</td>
                <td class="num">{bytes(s.size_bytes)}</td>
                <td class="actions compact">
                  <button type="button" disabled={!!busy || !!cantRestore} title={cantRestore ? `Restore: ${cantRestore}` : 'Put these files and this configuration back'} onClick={() => void restore(s)}>
                    Restore
                  </button>
                  <button type="button" disabled={!!busy || !!cantCopy} title={cantCopy ? `Copy: ${cantCopy}` : 'Make a new container from it'} onClick={() => void copy(s)}>
                    Copy
                  </button>
                  <button type="button" class="danger" disabled={!!busy} onClick={() => void remove(s)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.length === 0 && <p class="empty">No snapshots yet.</p>}
      </div>
    </div>
  );
}
