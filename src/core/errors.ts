/**
 * Domain errors by category. Core code throws these; only src/server turns a code into an HTTP
 * status (through src/api/error-codes.ts).
 */
import type { ErrorCode } from '../api/error-codes.ts';

export class HoodyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'HoodyError';
  }
}

export const notFound = (what: string, id: string): HoodyError => new HoodyError('NOT_FOUND', `${what} "${id}" not found`);
export const forbidden = (message: string): HoodyError => new HoodyError('FORBIDDEN', message);
export const invalidInput = (message: string, details?: Record<string, unknown>): HoodyError => new HoodyError('INVALID_INPUT', message, details);
