/** A minimal Server-Sent Events reader over fetch, for tests: collects events as they arrive. */

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

export interface SseStream {
  events: SseEvent[];
  comments: string[];
  /** Resolves when `predicate` holds for the events received so far. */
  until(predicate: (events: SseEvent[]) => boolean, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
  status: number;
  headers: Headers;
  /** Resolves when the stream ends: 'clean' after the body's proper end, 'broken' when it was cut. */
  ended: Promise<'clean' | 'broken'>;
}

/** Opens a stream as the SDK does: on a connection of its own, never reused once the stream ends. */
export async function openSse(url: string, token: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', connection: 'close', ...headers }, signal: controller.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  let ended: Promise<'clean' | 'broken'> = Promise.resolve('clean');
  if (res.ok && res.body) {
    ended = (async (): Promise<'clean' | 'broken'> => {
      let how: 'clean' | 'broken' = 'clean';
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const e: SseEvent = { event: 'message', data: undefined };
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else if (line.startsWith('id: ')) e.id = line.slice(4);
              else if (line.startsWith('event: ')) e.event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (data) {
              e.data = JSON.parse(data);
              events.push(e);
            }
            wake();
          }
        }
      } catch {
        // aborted, or the connection was cut
        how = 'broken';
      }
      wake();
      return how;
    })();
  }
  return {
    events,
    comments,
    status: res.status,
    headers: res.headers,
    ended,
    until: (predicate, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (predicate(events)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(events);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; received ${JSON.stringify(events.map((e) => [e.id, e.event, e.data?.log?.to_status ?? e.data?.phase]))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => controller.abort(),
  };
}
