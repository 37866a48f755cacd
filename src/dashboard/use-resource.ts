/** A page's list read from the API, and the actions on it: each shows its progress and error, then reads the list again. */
import { useEffect, useState } from 'preact/hooks';

export interface Resource<T> {
  data: T;
  /** The action under way ('' when none), as `run` named it. */
  busy: string;
  error: unknown;
  reload(): Promise<void>;
  /** Runs `work` as the action `what`; its error is shown, and the list is read again after it. */
  run(what: string, work: () => Promise<unknown>): Promise<void>;
}

export function useResource<T>(load: () => Promise<T>, initial: T, deps: unknown[]): Resource<T> {
  const [data, setData] = useState<T>(initial);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState<unknown>();
  const reload = (): Promise<void> => load().then((v) => setData(() => v), setError);
  useEffect(() => void reload(), deps);
  const run = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    setBusy(what);
    setError(undefined);
    try {
      await work();
      await reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy('');
    }
  };
  return { data, busy, error, reload, run };
}
