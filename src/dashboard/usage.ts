/**
 * CPU and memory of the running containers a page shows, read from `?runtime=true` every few
 * seconds (at most MAX_WATCHED of them, the first shown), CPU as the share of one core since the
 * previous reading.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Container } from '../sdk/index.ts';
import { useDashboard } from './context.ts';

export interface Usage {
  memoryBytes: number;
  /** Percent of one core since the previous reading; undefined at the first. */
  cpuPercent: number | undefined;
}

export const MAX_WATCHED = 25;
const EVERY_MS = 5000;

/** CPU share between two readings of cumulative CPU time (ns) taken `elapsedMs` apart. */
export function cpuPercent(beforeNs: number, afterNs: number, elapsedMs: number): number | undefined {
  if (elapsedMs <= 0 || afterNs < beforeNs) return undefined;
  return ((afterNs - beforeNs) / 1e6 / elapsedMs) * 100;
}

export function useUsage(shown: readonly Container[]): ReadonlyMap<string, Usage> {
  const d = useDashboard();
  const [usage, setUsage] = useState<ReadonlyMap<string, Usage>>(new Map());
  const previous = useRef(new Map<string, { ns: number; at: number }>());
  // the ids to read are taken at each round: a filter typed or a status changed costs no request
  const watched = useRef<string[]>([]);
  watched.current = shown
    .filter((c) => c.status === 'running')
    .slice(0, MAX_WATCHED)
    .map((c) => c.id);
  useEffect(() => {
    const abort = new AbortController();
    let busy = false;
    const read = async (): Promise<void> => {
      // one round at a time: a slow daemon is not sent a second round on top of the first
      if (busy) return;
      busy = true;
      const next = new Map<string, Usage>();
      try {
        await Promise.all(
          watched.current.map(async (id) => {
            try {
              const { data } = await d.client.api.containers.get(id, { runtime: 'true', signal: abort.signal });
              if (!data.runtime_info) return;
              const at = performance.now();
              const before = previous.current.get(id);
              previous.current.set(id, { ns: data.runtime_info.cpu_usage_ns, at });
              next.set(id, { memoryBytes: data.runtime_info.memory_bytes, cpuPercent: before ? cpuPercent(before.ns, data.runtime_info.cpu_usage_ns, at - before.at) : undefined });
            } catch {
              // gone or stopped meanwhile: the next round tells
            }
          }),
        );
      } finally {
        busy = false;
      }
      if (!abort.signal.aborted) setUsage(next);
    };
    void read();
    const timer = setInterval(() => void read(), EVERY_MS);
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, []);
  return usage;
}
