/** A page's list read from the API, and the actions on it: each shows its progress and error, then reads the list again. */
import { useEffect, useRef, useState } from 'preact/hooks';

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
  // a read's error goes with the next good read; an action's stays until the next action
  const [readError, setReadError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();
  // reads can overlap (a timer, an action's read): the last one asked for is the one shown
  const asked = useRef(0);
  const reload = (): Promise<void> => {
    const n = ++asked.current;
    return load().then(
      (v) => {
        if (n !== asked.current) return;
        setData(() => v);
        setReadError(undefined);
      },
      (err: unknown) => {
        if (n === asked.current) setReadError(err);
      },
    );
  };
  useEffect(() => void reload(), deps);
  const run = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    setBusy(what);
    setActionError(undefined);
    try {
      await work();
      await reload();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy('');
    }
  };
  return { data, busy, error: actionError ?? readError, reload, run };
}
