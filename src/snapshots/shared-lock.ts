/** A read-write lock within the daemon: many shared holders, or one exclusive holder; waiters served in order. */
export class SharedLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Array<{ exclusive: boolean; wake: () => void }> = [];

  /** Runs `fn` alongside other shared holders. */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn);
  }

  /** Runs `fn` alone. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn);
  }

  /** Runs `fn` alone if nobody holds or waits for the lock now; else runs nothing and answers undefined (no one waits behind it). */
  async exclusiveIfIdle<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (!this.free(true) || this.queue.length > 0) return undefined;
    return this.run(true, fn);
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.free(exclusive) && this.queue.length === 0) this.take(exclusive);
    // a waiter is woken holding the lock already (next() takes it on its behalf)
    else await new Promise<void>((wake) => this.queue.push({ exclusive, wake }));
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers--;
      this.next();
    }
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.writer = true;
    else this.readers++;
  }

  private free(exclusive: boolean): boolean {
    return !this.writer && (!exclusive || this.readers === 0);
  }

  private next(): void {
    while (this.queue.length > 0 && this.free(this.queue[0]!.exclusive)) {
      const w = this.queue.shift()!;
      this.take(w.exclusive);
      w.wake();
      if (w.exclusive) break;
    }
  }
}
