/** At most `size` tasks at once (file calls each wait on the thread pool: a few in flight keep its four threads busy). */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Runs `fn` once a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((wake) => this.waiting.push(wake));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // the slot passes straight to the next waiter
      if (next) next();
      else this.running--;
    }
  }
}

/** `fn` over `items`, at most `size` at once, answers in order. */
export async function mapLimit<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limiter = new Limiter(size);
  return Promise.all(items.map((item, i) => limiter.run(() => fn(item, i))));
}
