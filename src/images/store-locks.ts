/** Small async locks for the image store: one writer at a time, and a cap on parallel work. */

/** Runs one task at a time, in the order asked. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it has finished (failed ones too). */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Runs at most `max` tasks at once; the rest wait their turn. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Runs `task` once fewer than `max` are running. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** One key's holders and the queue of those waiting for it. */
interface KeyState {
  readers: number;
  writer: boolean;
  queue: { write: boolean; go: () => void }[];
}

/**
 * Read-write locks by key: readers of a key share it, a writer holds it alone. Waiters are served
 * in the order they came (a reader behind a waiting writer waits too), so neither side starves.
 */
export class KeyedRwLock {
  private readonly keys = new Map<string, KeyState>();

  /** Waits for a shared hold of `key`; answers the function that lets it go (calling it twice does nothing). */
  acquireRead(key: string): Promise<() => void> {
    return this.acquire(key, false);
  }

  /** Waits for the sole hold of `key`; answers the function that lets it go. */
  acquireWrite(key: string): Promise<() => void> {
    return this.acquire(key, true);
  }

  /** Runs `task` holding `key` shared. */
  async read<T>(key: string, task: () => Promise<T>): Promise<T> {
    const release = await this.acquireRead(key);
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Runs `task` holding `key` alone. */
  async write<T>(key: string, task: () => Promise<T>): Promise<T> {
    const release = await this.acquireWrite(key);
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Whether anyone holds or waits for `key`. */
  busy(key: string): boolean {
    return this.keys.has(key);
  }

  private acquire(key: string, write: boolean): Promise<() => void> {
    let state = this.keys.get(key);
    if (!state) {
      state = { readers: 0, writer: false, queue: [] };
      this.keys.set(key, state);
    }
    const s = state;
    return new Promise((resolve) => {
      s.queue.push({ write, go: () => resolve(this.releaser(key, s, write)) });
      this.pump(s);
    });
  }

  private releaser(key: string, s: KeyState, write: boolean): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (write) s.writer = false;
      else s.readers--;
      this.pump(s);
      if (!s.writer && s.readers === 0 && s.queue.length === 0 && this.keys.get(key) === s) this.keys.delete(key);
    };
  }

  /** Lets in whoever may go now, in order. */
  private pump(s: KeyState): void {
    while (s.queue.length > 0 && !s.writer) {
      const next = s.queue[0] as KeyState['queue'][number];
      if (next.write && s.readers > 0) return;
      s.queue.shift();
      if (next.write) s.writer = true;
      else s.readers++;
      next.go();
    }
  }
}
