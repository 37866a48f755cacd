/**
 * The daemon's one logger: pino, JSON lines by default, pretty when stdout is a terminal. The
 * pretty form is an in-process stream, not a transport (a worker thread costs memory).
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty and its ~30 modules load only for the pretty form: a service writing JSON never needs them
const requireHere = createRequire(import.meta.url);

/** The levels HOODY_LOG_LEVEL accepts, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How lines are written: one JSON object per line, or coloured text for a person at a terminal. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** What a log line may never show, wherever a header object ends up logged (as `req`, `request`, an error's `config`...). */
const REDACTED = ['authorization', 'headers.authorization', '*.authorization', '*.headers.authorization', '*.*.headers.authorization'];

/** A logger writing to `destination` (stdout when not given). */
export function createLogger(opts: { level: LogLevel; format: LogFormat; destination?: NodeJS.WritableStream & { fd?: number } }): Logger {
  const options = { level: opts.level, base: { pid: process.pid }, redact: { paths: REDACTED, censor: '[redacted]' } };
  if (opts.format === 'pretty') {
    // sync: a line is written before a crash or process.exit, as the JSON form does
    const out = opts.destination ?? process.stdout;
    const pretty = requireHere('pino-pretty') as typeof PinoPretty;
    return pino(options, pretty({ sync: true, colorize: out === process.stdout && process.stdout.isTTY === true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', destination: out }));
  }
  return pino(options, opts.destination ?? pino.destination({ fd: 1, sync: true }));
}

/** A reporter of problems nobody waits for (core services take this, not the logger). */
export const warnTo =
  (log: Logger) =>
  (message: string, err?: unknown): void => {
    if (err === undefined) log.warn(message);
    else log.warn({ err }, message);
  };
