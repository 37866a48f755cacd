/**
 * /images: what this server can run. Images are per server, shared by every project on it:
 * every token may list and read them; tokens that may create containers (not read-only) may
 * pull and import; only admin tokens may delete, tag and prune.
 */
import type { FastifyInstance } from 'fastify';
import { PassThrough } from 'node:stream';
import { ImageDeleteQuery, ImageParams, PullImageBody, TagImageBody } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, ImageEnvelope, ImageListEnvelope, ImageRemovedEnvelope, ImagesPrunedEnvelope, errorResponses } from '../../api/responses.ts';
import type { AppDeps } from '../app.ts';
import { NDJSON, abortOnHangUp, acceptsNdjson } from '../streaming.ts';
import type { Actor } from '../../core/actor.ts';
import { HoodyError } from '../../core/errors.ts';
import type { Platform } from '../../images/types.ts';
import { InvalidPlatformError, parsePlatform } from '../../images/platform.ts';
import { InvalidReferenceError, parseReference } from '../../images/reference.ts';
import { imageDetailWire, imageWire, ok } from '../wire.ts';
import { imageFailure, mappingImageErrors } from '../image-errors.ts';
import { toErrorBody } from '../errors.ts';

const tags = ['images'];
const ADMIN_ERRORS = ['FORBIDDEN'] as const;

const SCHEMAS = {
  list: {
    tags,
    summary: 'List images',
    description: 'The images this server can run a container from: the built-in `busybox` always, and every pulled or imported image, with the containers of this server that use each.',
    response: { 200: ImageListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS) },
  },
  get: {
    tags,
    summary: 'Get an image',
    description:
      'One image by name (URL-encoded: `docker.io%2Flibrary%2Fnginx%3A1.27`) or id, with its config and history. A text is looked up as an exact id (`sha256:<64 hex>` or the 64 hex digits), then as a reference (normalised: `nginx` is `docker.io/library/nginx:latest`), then as a prefix of 12+ hex digits of one image\'s id (`IMAGE_AMBIGUOUS` when several ids begin with it).',
    params: ImageParams,
    response: { 200: ImageEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'IMAGE_NOT_FOUND', 'IMAGE_AMBIGUOUS') },
  },
  pull: {
    tags,
    summary: 'Pull an image',
    description:
      'Pulls from the reference\'s registry (here `busybox` means Docker Hub\'s) and answers the image once it is stored. With `Accept: application/x-ndjson` the answer streams one JSON object per line instead: the progress events (`resolved`, `layer-exists`, `download`, `downloaded`, `extracting`, `extracted`), then `{"kind":"done","image":{…}}` or `{"kind":"error","error":{"code","message","details","statusCode"}}` (`statusCode`: the status the code answers without a stream). An image over a limit of the server (layers, bytes declared or unpacked) is refused with `IMAGE_TOO_LARGE`, before any layer is downloaded when its manifest declares it, else as soon as its layers unpack past it. Tokens that may create containers (not read-only).',
    body: PullImageBody,
    response: { 200: ImageEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'IMAGE_TOO_LARGE', 'IMAGE_PULL_FAILED') },
  },
  import: {
    tags,
    summary: 'Import an image archive',
    description:
      'The request body is a `docker save` (legacy or Docker 25+), `podman save` or `oci-archive` tarball, sent as `application/x-tar` or `application/octet-stream` and streamed to the store. Answers the images it held. An archive larger than the server\'s limit (`HOODY_IMAGE_IMPORT_MAX_BYTES`, 16 GiB by default) is refused with 413 `IMAGE_TOO_LARGE`: at once when its Content-Length says so, else at the first byte past it; so is an image in it over a limit (layers, bytes declared or unpacked). A body that is not such an archive (not a tar file, no `manifest.json` or `index.json`, a member outside the archive, a blob that does not match its digest) is 400 `INVALID_INPUT`. Nothing of a refused archive is kept. Admin tokens only.',
    response: { 200: ImageListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'IMAGE_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE') },
  },
  remove: {
    tags,
    summary: 'Delete an image or one of its names',
    description: 'By name: removes that name (and the image when it was its last). By id (full, or a prefix of 12+ hex digits): removes the image with all its names; names are looked up as in `GET /images/{image}`. Refused with `IMAGE_IN_USE` while containers of this server use it, unless `force=true` (never while one of them runs). The built-in `busybox` cannot be deleted. Admin tokens only.',
    params: ImageParams,
    querystring: ImageDeleteQuery,
    response: { 200: ImageRemovedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...ADMIN_ERRORS, 'INVALID_INPUT', 'IMAGE_NOT_FOUND', 'IMAGE_IN_USE', 'IMAGE_AMBIGUOUS') },
  },
  tag: {
    tags,
    summary: 'Name an image',
    description: 'Gives the image one more name (moved from any image that had it). Admin tokens only.',
    params: ImageParams,
    body: TagImageBody,
    response: { 200: ImageEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'IMAGE_NOT_FOUND', 'IMAGE_AMBIGUOUS') },
  },
  prune: {
    tags,
    summary: 'Remove unused images',
    description: 'Removes every stored image no container of this server uses, and the layers no image uses. Admin tokens only.',
    response: { 200: ImagesPrunedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...ADMIN_ERRORS) },
  },
};

export async function imageRoutes(api: FastifyInstance, { images, store, server }: AppDeps): Promise<void> {
  /** Image id → the containers of this server created from it (containers older than image ids: by their image's name). */
  const usage = async (): Promise<Map<string, string[]>> => {
    const byImage = new Map<string, string[]>();
    const resolved = new Map<string, string | undefined>();
    for (const c of await store.listContainers({ server_id: server.id })) {
      let id = c.image_id ?? undefined;
      if (!id) {
        if (!resolved.has(c.container_image)) resolved.set(c.container_image, await images.resolve(c.container_image).catch(() => undefined));
        id = resolved.get(c.container_image);
      }
      if (id) byImage.set(id, [...(byImage.get(id) ?? []), c.id]);
    }
    // a snapshot's files sit on its image: the image stays while the container keeps the snapshot
    for (const s of await store.listSnapshots({ server_id: server.id })) {
      if (!s.image_id) continue;
      const users = byImage.get(s.image_id) ?? [];
      if (!users.includes(s.container_id)) byImage.set(s.image_id, [...users, s.container_id]);
    }
    return byImage;
  };

  /**
   * Those of `ids` whose overlays hold (or are about to hold) the image's layers: running, paused,
   * being made, or with a start or restart in flight (it mounts before its status says so).
   */
  const runningAmong = async (ids: string[]): Promise<string[]> => {
    const records = await Promise.all(ids.map((id) => store.getContainer(id)));
    const busy = (c: NonNullable<(typeof records)[number]>): boolean =>
      c.status === 'running' || c.status === 'paused' || c.status === 'creating' || ['create', 'start', 'restart'].includes(c.current_operation?.operation ?? '');
    return records.filter((c) => c && busy(c)).map((c) => c?.id as string);
  };

  api.get('/images', { schema: SCHEMAS.list }, async () => {
    const [list, used] = await Promise.all([images.list(), usage()]);
    return ok('Images retrieved successfully', { images: list.map((i) => imageWire(i, used.get(i.id) ?? [])) });
  });

  api.get('/images/:image', { schema: SCHEMAS.get }, async (request) => {
    const { image } = request.params as { image: string };
    const found = await mappingImageErrors(() => images.get(image));
    return ok('Image retrieved successfully', { image: imageDetailWire(found, (await usage()).get(found.id) ?? []) });
  });

  // an answer that may be a stream is not kept for Idempotency-Key replays
  api.post('/images/pull', { schema: SCHEMAS.pull, config: { idempotency: false } }, async (request, reply) => {
    const body = request.body as PullImageBody;
    // a bad reference is a 400 before any stream starts
    referenceOf(body.reference);
    const platform = body.platform ? platformOf(body.platform) : undefined;
    const signal = abortOnHangUp(reply);
    const opts = { ...(platform ? { platform } : {}), signal };
    if (!acceptsNdjson(request.headers.accept)) {
      const pulled = await mappingImageErrors(() => images.pull(body.reference, opts));
      return ok('Image pulled successfully', { image: imageDetailWire(pulled, (await usage()).get(pulled.id) ?? []) });
    }
    const out = new PassThrough();
    const line = (value: unknown): void => void out.write(`${JSON.stringify(value)}\n`);
    void images
      .pull(body.reference, { ...opts, onProgress: line })
      .then(async (pulled) => line({ kind: 'done', image: imageDetailWire(pulled, (await usage()).get(pulled.id) ?? []) }))
      .catch((err: unknown) => {
        const { statusCode, code, message, details } = toErrorBody(imageFailure(err));
        line({ kind: 'error', error: { code, message, ...(details ? { details } : {}), statusCode } });
      })
      .finally(() => out.end());
    return reply.type(NDJSON).send(out);
  });

  // its own context: only this route takes tarballs, handed over as the request stream (the importer counts it against its limit)
  await api.register(async (tarRoutes) => {
    tarRoutes.addContentTypeParser(['application/x-tar', 'application/octet-stream'], (_request, payload, done) => done(null, payload));
    tarRoutes.post('/images/import', { schema: SCHEMAS.import, config: { idempotency: false } }, async (request, reply) => {
      // an archive names its images itself (RepoTags): it could move a name every project uses to other files
      requireAdmin(request.actor, 'import images');
      const stream = request.body as NodeJS.ReadableStream | undefined;
      if (!stream || typeof (stream as { pipe?: unknown }).pipe !== 'function') throw new HoodyError('UNSUPPORTED_MEDIA_TYPE', 'send the archive as application/x-tar or application/octet-stream');
      // a body that says it is too large is refused before a byte of it is stored
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared)) await mappingImageErrors(async () => images.checkImportSize(declared));
      const imported = await mappingImageErrors(() => images.importArchive(stream, { signal: abortOnHangUp(reply), source: 'import (upload)' }));
      const used = await usage();
      return ok('Images imported successfully', { images: imported.map((i) => imageWire(i, used.get(i.id) ?? [])) });
    });
  });

  api.delete('/images/:image', { schema: SCHEMAS.remove }, async (request) => {
    requireAdmin(request.actor, 'delete images');
    const { image } = request.params as { image: string };
    const { force } = request.query as { force?: boolean };
    // asked while the image is held alone: a container being created or started waits, or is seen
    // (removing one of several names leaves the image, and is not asked)
    const check = async (id: string): Promise<void> => {
      const users = (await usage()).get(id) ?? [];
      if (users.length > 0 && !force) {
        throw new HoodyError('IMAGE_IN_USE', `image "${image}" is used by ${users.length} container(s) of this server`, { container_ids: users });
      }
      // its layers are the running containers' root filesystems: not even force removes them
      const running = await runningAmong(users);
      if (running.length > 0) {
        throw new HoodyError('IMAGE_IN_USE', `image "${image}" is used by ${running.length} running container(s): stop them first`, { container_ids: running, running: true });
      }
    };
    return ok('Image deleted successfully', await mappingImageErrors(() => images.remove(image, { check })));
  });

  api.post('/images/:image/tag', { schema: SCHEMAS.tag }, async (request) => {
    requireAdmin(request.actor, 'tag images');
    const { image } = request.params as { image: string };
    const { name } = request.body as { name: string };
    const tagged = await mappingImageErrors(() => images.tag(image, name));
    return ok('Image tagged successfully', { image: imageDetailWire(tagged, (await usage()).get(tagged.id) ?? []) });
  });

  api.post('/images/prune', { schema: SCHEMAS.prune }, async (request) => {
    requireAdmin(request.actor, 'prune images');
    const pruned = await mappingImageErrors(() => images.prune(async () => new Set((await usage()).keys())));
    return ok('Images pruned successfully', { removed: pruned.removed, reclaimed_bytes: pruned.reclaimedBytes });
  });
}

/** Images are shared by every project of the server: changing what others run is for admins. */
function requireAdmin(actor: Actor, what: string): void {
  if (!actor.isAdmin) throw new HoodyError('FORBIDDEN', `only an admin token may ${what}`);
}

/** Checks a reference's text, as the pull will read it. */
function referenceOf(text: string): void {
  try {
    parseReference(text);
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new HoodyError('INVALID_INPUT', err.message, { reference: text });
    throw err;
  }
}

/** `os/architecture[/variant]`, with the common aliases (`x86_64`, `aarch64`) normalised. */
function platformOf(text: string): Platform {
  try {
    return parsePlatform(text);
  } catch (err) {
    if (err instanceof InvalidPlatformError) throw new HoodyError('INVALID_INPUT', err.message, { platform: text });
    throw err;
  }
}

