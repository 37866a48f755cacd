/**
 * libc functions called directly through koffi (a C FFI), declared by their C prototypes. koffi
 * is imported on first use: loading it costs ~11 ms and ~5 MB, so not at start-up.
 */

/** The functions asked for, by name, plus koffi's errno of the last call on this thread. */
export type LibcFunctions<T> = T & { errno: () => number };

/** Binds each C declaration in `prototypes` to libc.so.6; the caller states the JavaScript types. */
export async function libcFunctions<T extends object>(prototypes: { [K in keyof T]: string }): Promise<LibcFunctions<T>> {
  const { default: koffi } = await import('koffi');
  const lib = koffi.load('libc.so.6');
  const fns = Object.fromEntries(Object.entries(prototypes as Record<string, string>).map(([name, proto]) => [name, lib.func(proto)]));
  return { ...(fns as T), errno: () => koffi.errno() };
}

/** A koffi function with its `.async` form, which makes the call on libuv's thread pool. */
export interface NativeFn<A extends unknown[], R = number> {
  (...args: A): R;
  async: (...args: [...A, (err: unknown, result: R) => void]) => void;
}

/** Calls `fn` on the thread pool; rejects (with an Error) only when koffi could not make the call. */
export function onThreadPool<A extends unknown[], R>(fn: NativeFn<A, R>, ...args: A): Promise<R> {
  return new Promise((resolve, reject) => fn.async(...args, (err: unknown, result: R) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result))));
}
