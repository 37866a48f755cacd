/** `client.api.images`: what this server can run; pull, import, tag, delete, prune. */
import { HoodyApiError } from './errors.ts';
import { callOptions, ndjson, segment, type CallOptions, type Transport } from './transport.ts';
import type { ApiResponse, Image, ImageDetail, ImagePullEvent, ImageRemoved, ImagesPruned } from './types.ts';

export interface PullOptions extends CallOptions {
  /** `os/architecture[/variant]` to pick from a multi-platform image; the server's by default. */
  platform?: string;
  /** Told each progress event (per layer: resolved, download, downloaded, extracting, extracted) as the pull goes. */
  onProgress?: (event: Exclude<ImagePullEvent, { kind: 'done' } | { kind: 'error' }>) => void;
}

export class ImagesApi {
  constructor(private readonly http: Transport) {}

  /** `GET /images`: the images this server can run (the built-in `busybox` always), with the containers using each. */
  list(options: CallOptions = {}): Promise<ApiResponse<{ images: Image[] }>> {
    return this.http.request('GET', '/images', callOptions(options));
  }

  /** `GET /images/{image}`: by name (`nginx:1.27`, `docker.io/library/nginx:1.27`) or id, with config and history. */
  get(image: string, options: CallOptions = {}): Promise<ApiResponse<{ image: ImageDetail }>> {
    return this.http.request('GET', `/images/${segment(image)}`, callOptions(options));
  }

  /**
   * `POST /images/pull`: resolves once the image is stored. With `onProgress`, the answer is
   * streamed (NDJSON) and each progress event is passed on as it arrives.
   */
  async pull(reference: string, options: PullOptions = {}): Promise<ApiResponse<{ image: ImageDetail }>> {
    const body = { reference, ...(options.platform ? { platform: options.platform } : {}) };
    if (!options.onProgress) return this.http.request('POST', '/images/pull', { ...callOptions(options), body });
    const res = await this.http.open('POST', '/images/pull', { ...callOptions(options), body, accept: 'application/x-ndjson' });
    for await (const event of ndjson<ImagePullEvent>(res)) {
      if (event.kind === 'done') return { statusCode: 200, message: 'Image pulled successfully', data: { image: event.image } };
      if (event.kind === 'error') {
        throw new HoodyApiError({ statusCode: event.error.statusCode ?? 502, code: event.error.code as never, message: event.error.message, ...(event.error.details ? { details: event.error.details } : {}) });
      }
      options.onProgress(event);
    }
    throw new HoodyApiError({ statusCode: res.status, code: 'INVALID_RESPONSE', message: `POST /images/pull: the stream ended before "done" or "error"` });
  }

  /** `POST /images/import`: a `docker save`, `podman save` or `oci-archive` tarball, streamed; answers the images it held. */
  import(archive: Blob | ReadableStream<Uint8Array> | Uint8Array, options: CallOptions = {}): Promise<ApiResponse<{ images: Image[] }>> {
    return this.http.request('POST', '/images/import', { ...callOptions(options), raw: { body: archive, contentType: 'application/x-tar' } });
  }

  /** `DELETE /images/{image}`: a name, or the image by id; refused while containers use it unless `force`. Admin tokens only. */
  delete(image: string, options: CallOptions & { force?: boolean } = {}): Promise<ApiResponse<ImageRemoved>> {
    return this.http.request('DELETE', `/images/${segment(image)}`, { ...callOptions(options), ...(options.force ? { query: { force: true } } : {}) });
  }

  /** `POST /images/{image}/tag`: one more name for the image. Admin tokens only. */
  tag(image: string, name: string, options: CallOptions = {}): Promise<ApiResponse<{ image: ImageDetail }>> {
    return this.http.request('POST', `/images/${segment(image)}/tag`, { ...callOptions(options), body: { name } });
  }

  /** `POST /images/prune`: removes the images no container uses. Admin tokens only. */
  prune(options: CallOptions = {}): Promise<ApiResponse<ImagesPruned>> {
    return this.http.request('POST', '/images/prune', callOptions(options));
  }
}
