/**
 * Fastify makes a child logger for every request (to carry its id), whether or not the request
 * logs anything; making a pino child costs more than the rest of the logging a request does at
 * the default level. This one makes the pino child on the first line the request logs.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LogFn } from 'pino';

class LazyChildLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  /** The pino child, made on first use. */
  realLogger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.opts));
  }

  get level(): string {
    return this.made?.level ?? this.opts.level ?? this.parent.level;
  }

  set level(level: string) {
    this.realLogger().level = level;
  }

  // on the prototype (below): a closure per method per request would cost what this saves
  declare fatal: LogFn;
  declare error: LogFn;
  declare warn: LogFn;
  declare info: LogFn;
  declare debug: LogFn;
  declare trace: LogFn;
  declare silent: LogFn;

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.realLogger().child(bindings, options);
  }
}

const METHODS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
for (const name of METHODS) {
  Object.defineProperty(LazyChildLogger.prototype, name, {
    value: function (this: LazyChildLogger, ...args: unknown[]): void {
      (this.realLogger()[name] as (...a: unknown[]) => void)(...args);
    },
  });
}

/** A `childLoggerFactory` for Fastify: the request's logger, made real when first used. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts);
}
