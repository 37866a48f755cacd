/** Why an image operation failed, in categories the API maps to its error codes. */

/**
 * not-found: no such image here; invalid-reference: the text is no valid reference or platform;
 * pull-failed: the registry or the download failed (`details.kind` is the registry's error kind);
 * not-runnable: a container cannot run from it (no Entrypoint or Cmd, a User that cannot be resolved);
 * builtin: the built-in image cannot be changed; unavailable: this server cannot store or pull images;
 * ambiguous: an id prefix that several images' ids begin with;
 * too-large: a pull or import over a limit of the server (upload, layers, bytes declared or unpacked);
 * invalid-archive: an upload that is not an image archive Hoody can import.
 */
export type ImageErrorKind = 'not-found' | 'invalid-reference' | 'not-runnable' | 'pull-failed' | 'builtin' | 'unavailable' | 'ambiguous' | 'too-large' | 'invalid-archive';

/** An image operation's failure. */
export class ImageError extends Error {
  constructor(
    readonly kind: ImageErrorKind,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

/** A registry error's kind (`unauthorized`, `not-found`, `digest-mismatch`…) when the error carries one. */
export function registryErrorKind(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'failed';
}
