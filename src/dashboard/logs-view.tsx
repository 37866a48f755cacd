/** A container's logs: the last lines, then (when following) each new line as it is written. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogLine } from '../sdk/index.ts';

type Numbered = LogLine & { n: number };
import { useDashboard } from './context.ts';
import { ErrorText } from './ui.tsx';

const KEPT = 5000;

export function LogsView({ id }: { id: string }) {
  const d = useDashboard();
  const [follow, setFollow] = useState(true);
  const [lines, setLines] = useState<Numbered[]>([]);
  const [error, setError] = useState<unknown>();
  const [state, setState] = useState('');
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError(undefined);
    setState(follow ? 'following' : 'loading');
    let batch: Numbered[] = [];
    let n = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      timer = undefined;
      const add = batch;
      batch = [];
      setLines((l) => [...l, ...add].slice(-KEPT));
    };
    (async () => {
      try {
        for await (const line of d.client.api.containers.logs(id, { tail: 500, follow, follow_restarts: follow, signal: abort.signal })) {
          batch.push({ ...line, n: n++ });
          timer ??= setTimeout(flush, 50);
        }
        flush();
        setState(follow ? 'the stream ended' : '');
      } catch (err) {
        if (!abort.signal.aborted) {
          setError(err);
          setState('');
        }
      }
    })();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [id, follow]);
  useEffect(() => {
    const el = box.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [lines, follow]);
  return (
    <div class="logs">
      <div class="row">
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow
        </label>
        <span class="muted" aria-live="polite">
          {lines.length} lines {state && `· ${state}`}
        </span>
      </div>
      <ErrorText error={error} />
      <pre ref={box} class="log-lines" tabIndex={0} aria-label="Log lines">
        {lines.map((l) => (
          <span key={l.n} class={l.stream === 'stderr' ? 'stderr' : undefined}>
            {l.line}
            {'\n'}
          </span>
        ))}
      </pre>
    </div>
  );
}
