/** Image failures as API errors, and the image catalog the core creates containers with. */
import { HoodyError } from '../core/errors.ts';
import type { ImageCatalog } from '../core/container-service.ts';
import { ImageError, type ImageStore } from '../runtime/image-store.ts';

/** Maps an image failure to its API error; anything else passes through unchanged. */
export function imageFailure(err: unknown): unknown {
  if (!(err instanceof ImageError)) return err;
  switch (err.kind) {
    case 'not-found':
      return new HoodyError('IMAGE_NOT_FOUND', err.message, err.details);
    case 'pull-failed':
      return new HoodyError('IMAGE_PULL_FAILED', err.message, err.details);
    case 'too-large':
      return new HoodyError('IMAGE_TOO_LARGE', err.message, err.details);
    case 'unavailable':
      return new HoodyError('SERVICE_UNAVAILABLE', err.message, err.details);
    case 'ambiguous':
      return new HoodyError('IMAGE_AMBIGUOUS', err.message, err.details);
    case 'builtin':
    case 'invalid-reference':
    case 'not-runnable':
    case 'invalid-archive':
      return new HoodyError('INVALID_INPUT', err.message, err.details);
  }
}

/** Runs `work`, answering an image failure as its API error. */
export async function mappingImageErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw imageFailure(err);
  }
}

/** The core's view of the image facade: ensure, with image failures as API errors. */
export function imageCatalog(images: ImageStore): ImageCatalog {
  return {
    ensure: (reference, opts) => mappingImageErrors(() => images.hold(reference, opts)),
  };
}
