/**
 * Work per key, one after another: `run(key, work)` starts `work` once every earlier work of that
 * key has finished (whether it succeeded or not), and answers its result. A key with nothing
 * queued holds no memory.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(key) ?? Promise.resolve()).then(work);
    const tracked = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tracked);
    void tracked.then(() => {
      if (this.tails.get(key) === tracked) this.tails.delete(key);
    });
    return run;
  }
}
