/**
 * The one error the registry client throws, with a code the API maps to its error codes.
 */

/** Why a registry operation failed. */
export type RegistryErrorCode = 'not-found' | 'unauthorized' | 'denied' | 'digest-mismatch' | 'unsupported' | 'unreachable' | 'too-large' | 'platform';

/** A registry operation that failed; the message is lower-case and names the reference. */
export class RegistryError extends Error {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.status = options?.status;
  }

  /** The HTTP status that led to it, when one did. */
  readonly status: number | undefined;
}

/** Whether an error is the abort of a signal (not to be retried or wrapped). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR');
}
