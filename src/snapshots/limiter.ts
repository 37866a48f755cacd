import { Limiter } from '../images/store-locks.ts';

/** At most so many tasks at once (file calls each wait on the thread pool: a few in flight keep its four threads busy). */
export { Limiter };

/** `fn` over `items`, at most `size` at once, answers in order. */
export async function mapLimit<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limiter = new Limiter(size);
  return Promise.all(items.map((item, i) => limiter.run(() => fn(item, i))));
}
