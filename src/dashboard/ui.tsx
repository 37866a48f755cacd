/** Small pieces every page uses: status badges, action buttons, errors, the confirmation dialog, tabs. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { HoodyApiError, type Container } from '../sdk/index.ts';
import { BUTTON_ACTIONS, DESTRUCTIVE, LABELS, refusal, type ButtonAction } from './actions.ts';
import { useDashboard } from './context.ts';

/** "message (CODE)" for an API error; the message for anything else. */
export function describeError(err: unknown): { message: string; code?: string; details?: string } {
  if (err instanceof HoodyApiError) {
    const details = err.details === undefined ? undefined : JSON.stringify(err.details);
    return { message: err.message, code: err.code, ...(details && details !== '{}' ? { details } : {}) };
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

export function ErrorText({ error }: { error: unknown }) {
  if (!error) return null;
  const e = describeError(error);
  return (
    <p class="error" role="alert">
      {e.message}
      {e.code && <code class="code">{e.code}</code>}
      {e.details && <span class="details">{e.details}</span>}
    </p>
  );
}

export function StatusBadge({ status, busy }: { status: string; busy?: string | null }) {
  return (
    <span class={`status status-${status}`} data-status={status}>
      {status}
      {busy ? <span class="busy"> · {busy}…</span> : null}
    </span>
  );
}

/** One container's lifecycle buttons; a refused one is disabled and says why. */
export function ActionButtons({ c, onDeleted, compact }: { c: Container; onDeleted?: () => void; compact?: boolean }) {
  const d = useDashboard();
  const [running, setRunning] = useState<ButtonAction | undefined>();
  const act = async (action: ButtonAction): Promise<void> => {
    if (DESTRUCTIVE.has(action)) {
      const question = action === 'delete' ? `Delete container "${c.name}"? Its files go; its status log stays readable.` : `Force-stop "${c.name}"? Its processes are killed at once, without a chance to save their work.`;
      if (!(await d.confirm(question, LABELS[action]))) return;
    }
    setRunning(action);
    try {
      if (action === 'delete') {
        await d.client.api.containers.delete(c.id);
        d.live.remove(c.id);
        d.notice(`Deleted "${c.name}"`);
        onDeleted?.();
      } else {
        await d.client.api.containers.manage(c.id, action);
        const fresh = await d.client.api.containers.get(c.id);
        d.live.put(fresh.data);
      }
    } catch (err) {
      d.report(err, `${LABELS[action]} "${c.name}"`);
    } finally {
      setRunning(undefined);
    }
  };
  return (
    <div class={compact ? 'actions compact' : 'actions'} role="group" aria-label={`Actions on ${c.name}`}>
      {BUTTON_ACTIONS.map((action) => {
        const why = refusal(c, action);
        return (
          <button
            type="button"
            key={action}
            class={DESTRUCTIVE.has(action) ? 'danger' : ''}
            disabled={why !== undefined || running !== undefined}
            title={why ? `${LABELS[action]}: ${why}` : `${LABELS[action]} ${c.name}`}
            aria-label={`${LABELS[action]} ${c.name}`}
            data-action={action}
            onClick={() => void act(action)}
          >
            {running === action ? `${LABELS[action]}…` : LABELS[action]}
          </button>
        );
      })}
    </div>
  );
}

export interface PendingQuestion {
  question: string;
  action: string;
  answer: (yes: boolean) => void;
}

/** The modal confirmation: the destructive button is not the default; Escape cancels. */
export function ConfirmDialog({ pending }: { pending: PendingQuestion | undefined }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (pending && !dialog.open) dialog.showModal();
    if (!pending && dialog.open) dialog.close();
  }, [pending]);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-question" onCancel={() => pending?.answer(false)}>
      <p id="confirm-question">{pending?.question}</p>
      <div class="row end">
        <button type="button" autofocus onClick={() => pending?.answer(false)}>
          Cancel
        </button>
        <button type="button" class="danger" data-confirm onClick={() => pending?.answer(true)}>
          {pending?.action}
        </button>
      </div>
    </dialog>
  );
}

export function Tabs<T extends string>({ tabs, current, onChange }: { tabs: readonly { id: T; label: string }[]; current: T; onChange: (t: T) => void }) {
  return (
    <div class="tabs" role="tablist">
      {tabs.map((t) => (
        <button type="button" role="tab" key={t.id} aria-selected={t.id === current} class={t.id === current ? 'tab current' : 'tab'} onClick={() => onChange(t.id)}>
          {t.label}
        </button>
      ))}
    </div>
  );
}

/** A labelled control; the hint is outside the label, so that the control's name is the label alone. */
export function Field({ label, hint, children }: { label: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label>
        <span class="label">{label}</span>
        {children}
      </label>
      {hint && <span class="hint">{hint}</span>}
    </div>
  );
}

/** A form's fields as text (and checkboxes as booleans), by name. */
export type FormText = Record<string, string | boolean>;

/** The input handler of field `k`: its value (or a checkbox's state) into the form. */
export const fieldSetter =
  (setForm: (update: (form: FormText) => FormText) => void) =>
  (k: string) =>
  (e: Event): void => {
    const el = e.target as HTMLInputElement;
    setForm((f) => ({ ...f, [k]: el.type === 'checkbox' ? el.checked : el.value }));
  };

/** Re-renders the caller whenever `subscribe`'s source changes. */
export function useSubscription(subscribe: (notify: () => void) => () => void, deps: unknown[] = []): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const notify = (): void => setTick((t) => t + 1);
    const stop = subscribe(notify);
    // what changed between the render and this subscription (the list answered meanwhile) is drawn too
    notify();
    return stop;
  }, deps);
}
