/** Tokens: create one (its secret is shown once), revoke one. Revoking the token signed in with ends this session. */
import { useState } from 'preact/hooks';
import type { CreatedToken, Token } from '../sdk/index.ts';
import { useDashboard } from './context.ts';
import { when } from './format.ts';
import { ErrorText } from './ui.tsx';
import { useResource } from './use-resource.ts';

export function TokensPage() {
  const d = useDashboard();
  const [name, setName] = useState('');
  const [readOnly, setReadOnly] = useState(false);
  const [automation, setAutomation] = useState(false);
  const [created, setCreated] = useState<CreatedToken>();
  const { data: tokens, busy, error, run } = useResource(async () => (await d.client.api.tokens.list()).data.tokens, [] as Token[], []);
  const create = (e: Event): void => {
    e.preventDefault();
    void run('create', async () => {
      const { data } = await d.client.api.tokens.create({ name: name.trim(), read_only: readOnly, automation });
      setCreated(data);
      setName('');
    });
  };
  const revoke = async (t: Token): Promise<void> => {
    if (!(await d.confirm(`Revoke token "${t.name}"? Everything using it stops working at once.`, 'Revoke'))) return;
    await run(t.id, () => d.client.api.tokens.delete(t.id));
  };
  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">Tokens</h1>
      <form class="row wrap" onSubmit={create} aria-label="New token">
        <label>
          <span class="label">Name</span>
          <input required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="ci-deploy" />
        </label>
        <label class="check">
          <input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly((e.target as HTMLInputElement).checked)} /> read-only
        </label>
        <label class="check">
          <input type="checkbox" checked={automation} onChange={(e) => setAutomation((e.target as HTMLInputElement).checked)} /> automation (named in the status log)
        </label>
        <button type="submit" class="primary" disabled={!!busy}>
          Create token
        </button>
      </form>
      {created && (
        <div class="secret" role="status">
          <p>
            The secret of <strong>{created.name}</strong>, shown this once; copy it now:
          </p>
          <input readOnly class="mono" value={created.token} aria-label="New token secret" onFocus={(e) => (e.target as HTMLInputElement).select()} />
          <button type="button" onClick={() => void navigator.clipboard?.writeText(created.token).then(() => d.notice('Copied'))}>
            Copy
          </button>
          <button type="button" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      <ErrorText error={error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>User</th>
              <th>Kind</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <tr key={t.id} data-token={t.name}>
                <td>{t.name}</td>
                <td>{t.user_id}</td>
                <td>{[t.read_only ? 'read-only' : 'read-write', t.automation ? 'automation' : ''].filter(Boolean).join(', ')}</td>
                <td>{when(t.created_at)}</td>
                <td>
                  <button type="button" class="danger" disabled={!!busy} onClick={() => void revoke(t)}>
                    Revoke
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
