/** The one error type the SDK throws: the server's error envelope, or a client-side failure in the same shape. */
import type { ErrorCode } from '../api/error-codes.ts';

/** Codes the client itself produces; the server never answers them. */
export const CLIENT_ERROR_CODES = ['NETWORK_ERROR', 'TIMEOUT', 'ABORTED', 'INVALID_RESPONSE'] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** A server code from the documented table, a client code, or a code from a newer server. */
export type HoodyErrorCode = ErrorCode | ClientErrorCode | (string & {});

export interface HoodyApiErrorInit {
  statusCode: number;
  code: HoodyErrorCode;
  message: string;
  details?: Record<string, unknown>;
  /** The HTTP reason phrase the server sent (`Bad Request`), when there was an answer. */
  error?: string;
  cause?: unknown;
}

/**
 * A failed call. `statusCode` is the HTTP status (0 when no answer arrived), `code` the stable
 * UPPER_SNAKE code to branch on, `message` the server's words, `details` its extra data.
 */
export class HoodyApiError extends Error {
  readonly statusCode: number;
  readonly code: HoodyErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly error: string | undefined;

  constructor(init: HoodyApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'HoodyApiError';
    this.statusCode = init.statusCode;
    this.code = init.code;
    this.details = init.details;
    this.error = init.error;
  }

  /** The envelope as the server would send it, for logging or re-serialising. */
  toJSON(): { statusCode: number; error?: string; code: string; message: string; details?: Record<string, unknown> } {
    return {
      statusCode: this.statusCode,
      ...(this.error ? { error: this.error } : {}),
      code: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** True for a HoodyApiError, with an optional code to match. */
export function isHoodyApiError(err: unknown, code?: HoodyErrorCode): err is HoodyApiError {
  return err instanceof HoodyApiError && (code === undefined || err.code === code);
}
