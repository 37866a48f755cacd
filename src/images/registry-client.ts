/**
 * A registry client (OCI distribution API v2) on Node's fetch: manifests and indexes resolved
 * for a platform, every manifest, config and blob verified by digest, Bearer and Basic auth,
 * bounded retries, resumable blob downloads. Redirects are followed here (fetchFollowing): at
 * most five, never from https to http, credentials only to the registry's own origin.
 */
import { type Hash, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CredentialSource, type RegistryCredential, StaticCredentials } from './credentials.ts';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits, checkDeclaredLayers } from './limits.ts';
import { INDEX_TYPES, type ImageManifest, MANIFEST_ACCEPT, MANIFEST_TYPES, checkManifest, parseManifest } from './manifest.ts';
import { PlatformNotFoundError, selectManifest } from './platform.ts';
import { RegistryAuth } from './registry-auth.ts';
import { RegistryError, isAbortError } from './registry-error.ts';
import { DEFAULT_RETRY, type RetryPolicy, describeNetworkError, fetchFollowing, readCapped, registryBaseUrl } from './registry-http.ts';
import type { Descriptor, ImageConfig, ImageReference, LayerSource, Platform } from './types.ts';

/** The largest manifest or index accepted. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** The largest image config accepted. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Options of a RegistryClient. */
export interface RegistryClientOptions {
  /** A source (FileCredentials for the server), or a plain map of `host[:port]` to credential. */
  credentials?: CredentialSource | Record<string, RegistryCredential>;
  /** `host[:port]` of registries reached over plain http (loopback always is). */
  insecureRegistries?: string[];
  /**
   * Hosts besides a registry's own that may receive its credentials as a token realm
   * (HOODY_REGISTRY_AUTH_HOSTS); `auth.docker.io` for `docker.io` always may.
   */
  authHosts?: string[];
  /** Further attempts after a network error, 429 or 5xx (default 3). */
  retries?: number;
  /** The first backoff wait in ms, doubled per retry (default 250). */
  retryDelayMs?: number;
  fetchImpl?: typeof fetch;
  /** The clock for token expiry (tests move it). */
  now?: () => number;
  /** The most layers, and blob bytes, a manifest may declare (the defaults when absent). */
  limits?: Partial<Pick<ImageLimits, 'maxLayers' | 'maxBytes'>>;
}

/** A reference resolved to one platform's manifest, its verified config and its layers. */
export interface ResolvedImage {
  /** Digest of the platform manifest (the child when the reference named an index). */
  manifestDigest: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  configDigest: string;
  configBytes: Buffer;
  config: ImageConfig;
  /** Lowest first, each with its diff_id from config.rootfs.diff_ids. */
  layers: LayerSource[];
  /** Digest of the index or manifest list the reference named, when it named one. */
  indexDigest?: string;
}

/** Options of one blob download. */
export interface DownloadOptions {
  /** Called as bytes arrive (unthrottled: throttle in the caller). */
  onProgress?: (downloaded: number, total: number) => void;
  signal?: AbortSignal;
}

/** Talks to registries for one server; keeps tokens between calls. */
export class RegistryClient {
  private readonly fetchImpl: typeof fetch;
  private readonly insecure: string[];
  private readonly retry: RetryPolicy;
  private readonly auth: RegistryAuth;
  private readonly limits: Pick<ImageLimits, 'maxLayers' | 'maxBytes'>;

  constructor(opts: RegistryClientOptions = {}) {
    this.fetchImpl = opts.fetchImpl ?? fetch;
    this.limits = { maxLayers: opts.limits?.maxLayers ?? DEFAULT_IMAGE_LIMITS.maxLayers, maxBytes: opts.limits?.maxBytes ?? DEFAULT_IMAGE_LIMITS.maxBytes };
    this.insecure = opts.insecureRegistries ?? [];
    this.retry = { ...DEFAULT_RETRY, ...(opts.retries !== undefined ? { retries: opts.retries } : {}), ...(opts.retryDelayMs !== undefined ? { baseDelayMs: opts.retryDelayMs } : {}) };
    this.auth = new RegistryAuth({ credentials: credentialSource(opts.credentials), fetchImpl: this.fetchImpl, retry: this.retry, insecureRegistries: this.insecure, authHosts: opts.authHosts ?? [], ...(opts.now ? { now: opts.now } : {}) });
  }

  /** The URL of an API path of the reference's registry (`https://` unless loopback or listed insecure). */
  url(ref: ImageReference, path: string): string {
    return `${registryBaseUrl(ref.domain, this.insecure)}/v2/${ref.repository}/${path}`;
  }

  /**
   * Resolves a reference to the manifest for `platform`, with its config fetched and verified.
   * A manifest declaring more layers or bytes than the limits is refused (`too-large`) before
   * any blob is fetched.
   */
  async resolve(ref: ImageReference, platform: Platform, signal?: AbortSignal): Promise<ResolvedImage> {
    const top = await this.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
    let manifestDigest = top.digest;
    let indexDigest: string | undefined;
    let doc = top.doc;
    let mediaType = top.mediaType;
    let bytes = top.bytes;
    if (INDEX_TYPES.has(mediaType)) {
      let child: Descriptor;
      try {
        child = selectManifest(doc as { manifests?: Descriptor[] }, platform);
      } catch (err) {
        if (err instanceof PlatformNotFoundError) throw new RegistryError('platform', `image "${ref.canonical}": ${err.message}`, { cause: err });
        throw err;
      }
      if (!DIGEST.test(child.digest)) throw new RegistryError('unsupported', `image "${ref.canonical}": the index names a digest "${child.digest}" that is not sha256`);
      const sub = await this.fetchManifest(ref, child.digest, signal);
      if (INDEX_TYPES.has(sub.mediaType)) throw new RegistryError('unsupported', `image "${ref.canonical}": an index inside an index is not supported`);
      indexDigest = top.digest;
      ({ digest: manifestDigest, doc, mediaType, bytes } = sub);
    }
    if (!MANIFEST_TYPES.has(mediaType)) throw new RegistryError('unsupported', `image "${ref.canonical}": manifest type "${mediaType}" is not supported`);
    const manifest = checkManifest(doc, mediaType, `image "${ref.canonical}"`);
    // before any blob is asked for: how many layers, how many bytes
    checkDeclaredLayers(manifest.layers, this.limits, `image "${ref.canonical}"`);
    const configBytes = await this.fetchSmallBlob(ref, manifest.config, MAX_CONFIG_BYTES, signal);
    let config: ImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    } catch {
      throw new RegistryError('unsupported', `image "${ref.canonical}": its config is not JSON`);
    }
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !DIGEST.test(d))) throw new RegistryError('unsupported', `image "${ref.canonical}": its config has no valid rootfs.diff_ids`);
    if (diffIds.length !== manifest.layers.length) throw new RegistryError('unsupported', `image "${ref.canonical}": the manifest has ${manifest.layers.length} layers but the config ${diffIds.length} diff_ids`);
    const layers = manifest.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: diffIds[i] as string }));
    return { manifestDigest, manifest, manifestBytes: bytes, configDigest: manifest.config.digest, configBytes, config, layers, ...(indexDigest ? { indexDigest } : {}) };
  }

  /**
   * Downloads a blob into `destTempPath`, resuming from the bytes already there (`Range`; a 200
   * answer restarts from 0), and checks its size and sha256 (hashed while streaming, after the
   * kept prefix): a mismatch removes the file and throws 'digest-mismatch'. The caller then
   * commits it with ContentStore.commitBlob, which hashes again as its own guard.
   * A cut connection is retried from where it stopped, within the retry budget.
   */
  async downloadBlob(ref: ImageReference, layer: Pick<LayerSource, 'digest' | 'size'>, destTempPath: string, opts: DownloadOptions = {}): Promise<void> {
    const { signal, onProgress } = opts;
    const what = `image "${ref.canonical}" blob ${layer.digest}`;
    if (!DIGEST.test(layer.digest)) throw new RegistryError('unsupported', `${what}: only sha256 digests are supported`);
    // a bad result built on bytes kept from an earlier run gets one fresh try from byte 0
    for (let fresh = false; ; fresh = true) {
      const kept = await this.fetchWithResume(ref, layer, destTempPath, what, onProgress, signal);
      const final = await sizeOf(destTempPath);
      if (final === layer.size && kept.digest === layer.digest) return;
      await rm(destTempPath, { force: true });
      if (kept.resumed && !fresh) continue;
      if (final !== layer.size) throw new RegistryError('digest-mismatch', `${what}: got ${final} bytes, the manifest says ${layer.size}`);
      throw new RegistryError('digest-mismatch', `${what}: the content hashes to ${kept.digest}`);
    }
  }

  /** Fills the temp file, resuming from its size and again after each cut within the retry budget; returns its sha256 and whether earlier bytes were kept. */
  private async fetchWithResume(ref: ImageReference, layer: Pick<LayerSource, 'digest' | 'size'>, path: string, what: string, onProgress: DownloadOptions['onProgress'], signal?: AbortSignal): Promise<{ digest: string; resumed: boolean }> {
    let resumed = false;
    for (let attempt = 0; ; attempt++) {
      let have = await sizeOf(path);
      if (have > layer.size) {
        await rm(path, { force: true });
        have = 0;
      }
      if (have > 0) resumed = true;
      try {
        // a complete temp file from an earlier run only needs its hash checked
        const digest = have === layer.size && have > 0 ? await hashFile(path, have, signal) : await this.fetchInto(ref, layer, path, have, what, onProgress, signal);
        return { digest, resumed };
      } catch (err) {
        if (isAbortError(err) || signal?.aborted || !(err instanceof RegistryError) || err.code !== 'unreachable' || attempt >= this.retry.retries) throw err;
        await sleep(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt), undefined, { signal });
      }
    }
  }

  /** Fetches the blob from byte `from` (or from 0 when the registry ignores the range) into `path`; returns the sha256 of the whole file. */
  private async fetchInto(ref: ImageReference, layer: Pick<LayerSource, 'digest' | 'size'>, path: string, from: number, what: string, onProgress: DownloadOptions['onProgress'], signal?: AbortSignal): Promise<string> {
    const res = await this.get(ref, `blobs/${layer.digest}`, from > 0 ? { range: `bytes=${from}-` } : {}, what, signal);
    let offset = 0;
    if (res.status === 206) {
      const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
      offset = start === undefined ? -1 : Number(start);
      if (offset !== from) {
        // a range we did not ask for: start over without one
        await res.body?.cancel().catch(() => {});
        await rm(path, { force: true });
        return this.fetchInto(ref, layer, path, 0, what, onProgress, signal);
      }
    } else if (res.status === 416 && from > 0) {
      await res.body?.cancel().catch(() => {});
      await rm(path, { force: true });
      return this.fetchInto(ref, layer, path, 0, what, onProgress, signal);
    } else if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw statusError(res.status, what);
    }
    const hash = createHash('sha256');
    if (offset > 0) await hashInto(hash, path, offset, signal);
    const file = await open(path, offset > 0 ? 'a' : 'w');
    let done = offset;
    try {
      onProgress?.(done, layer.size);
      if (res.body) {
        // read by hand rather than `for await`: the read stops at the size the manifest gives (the end of
        // the stream is not waited for once every byte is in), and an abort stops it even when the
        // body's stream would not settle (a read left pending by a request torn down as it finished)
        const reader = res.body.getReader();
        const aborted = new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
        aborted.catch(() => undefined);
        try {
          while (done < layer.size) {
            const next = await (signal ? Promise.race([reader.read(), aborted]) : reader.read());
            if (next.done) break;
            const chunk = next.value;
            done += chunk.byteLength;
            if (done > layer.size) throw new RegistryError('digest-mismatch', `${what}: the registry sent more than the ${layer.size} bytes the manifest says`);
            hash.update(chunk);
            await file.write(chunk);
            onProgress?.(done, layer.size);
          }
        } finally {
          // what is left (nothing, or bytes past the size) is not waited for
          reader.cancel().catch(() => undefined);
        }
      }
      return `sha256:${hash.digest('hex')}`;
    } catch (err) {
      if (err instanceof RegistryError || isAbortError(err) || signal?.aborted) {
        if (err instanceof RegistryError) await rm(path, { force: true });
        throw signal?.aborted ? (signal.reason ?? err) : err;
      }
      throw new RegistryError('unreachable', `${what}: the download was cut at ${done} of ${layer.size} bytes: ${describeNetworkError(err)}`, { cause: err });
    } finally {
      await file.close();
    }
  }

  /** GETs a manifest by tag or digest; verifies the body's sha256 against the digest asked for and Docker-Content-Digest. */
  private async fetchManifest(ref: ImageReference, tagOrDigest: string, signal?: AbortSignal): Promise<{ digest: string; mediaType: string; bytes: Buffer; doc: Record<string, unknown> }> {
    const what = `image "${ref.canonical}"`;
    const res = await this.get(ref, `manifests/${tagOrDigest}`, { accept: MANIFEST_ACCEPT }, what, signal);
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw statusError(res.status, what, 'manifest');
    }
    const bytes = await readCapped(res, MAX_MANIFEST_BYTES, `${what}: the manifest`);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (tagOrDigest.startsWith('sha256:') && digest !== tagOrDigest) throw new RegistryError('digest-mismatch', `${what}: manifest ${tagOrDigest} hashes to ${digest}`);
    const announced = res.headers.get('docker-content-digest');
    if (announced?.startsWith('sha256:') && announced !== digest) throw new RegistryError('digest-mismatch', `${what}: the manifest hashes to ${digest} but the registry says ${announced}`);
    const { mediaType, doc } = parseManifest(bytes, res.headers.get('content-type'), what);
    return { digest, mediaType, bytes, doc };
  }

  /** GETs a small blob into memory, verified against its descriptor. */
  private async fetchSmallBlob(ref: ImageReference, d: Descriptor, max: number, signal?: AbortSignal): Promise<Buffer> {
    const what = `image "${ref.canonical}" config ${d.digest}`;
    if (d.size > max) throw new RegistryError('too-large', `${what} is ${d.size} bytes, more than the ${max} allowed`);
    const res = await this.get(ref, `blobs/${d.digest}`, {}, what, signal);
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw statusError(res.status, what);
    }
    const bytes = await readCapped(res, max, what);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (digest !== d.digest || bytes.length !== d.size) throw new RegistryError('digest-mismatch', `${what}: the content hashes to ${digest} (${bytes.length} bytes)`);
    return bytes;
  }

  /** A GET with auth: on 401 the challenge is answered once (a cached token is dropped and fetched again), then the answer stands. */
  private async get(ref: ImageReference, path: string, headers: Record<string, string>, what: string, signal?: AbortSignal): Promise<Response> {
    const url = this.url(ref, path);
    const origin = new URL(url).origin;
    const scope = `repository:${ref.repository}:pull`;
    for (let challenged = false; ; challenged = true) {
      const authorization = await this.auth.header(origin, ref.domain, scope, what, signal);
      const res = await fetchFollowing(this.fetchImpl, url, { headers: { ...headers, ...(authorization ? { authorization } : {}) } }, this.retry, { credentialOrigin: origin, insecure: this.insecure }, what, signal);
      if (res.status !== 401) {
        if (retryable(res.status)) {
          await res.body?.cancel().catch(() => {});
          throw new RegistryError('unreachable', `${what}: the registry answered ${res.status} after ${this.retry.retries + 1} attempts`, { status: res.status });
        }
        return res;
      }
      await res.body?.cancel().catch(() => {});
      if (challenged) {
        // Docker Hub answers a missing repository like a private one
        const withheld = this.auth.withheld(ref.domain);
        const reason = withheld
          ? `access denied: the credentials for "${ref.domain}" were not sent to its token realm "${withheld}", which is not the registry's host (list it in HOODY_REGISTRY_AUTH_HOSTS to trust it)`
          : (await this.auth.hasCredential(ref.domain))
            ? `the registry refused the credentials for "${ref.domain}"`
            : `access denied: the repository does not exist or needs credentials (none configured for "${ref.domain}")`;
        throw new RegistryError('unauthorized', `${what}: ${reason}`, { status: 401 });
      }
      await this.auth.challenge(res.headers.get('www-authenticate'), origin, ref.domain, scope, what, signal);
    }
  }
}

function credentialSource(c: RegistryClientOptions['credentials']): CredentialSource | undefined {
  if (!c) return undefined;
  return typeof (c as CredentialSource).get === 'function' ? (c as CredentialSource) : new StaticCredentials(c as Record<string, RegistryCredential>);
}

function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

function statusError(status: number, what: string, thing = 'blob'): RegistryError {
  if (status === 404) return new RegistryError('not-found', `${what}: ${thing} not found`, { status });
  if (status === 403) return new RegistryError('denied', `${what}: access denied`, { status });
  if (status === 401) return new RegistryError('unauthorized', `${what}: authentication required`, { status });
  return new RegistryError('unreachable', `${what}: the registry answered ${status}`, { status });
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function hashFile(path: string, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await hashInto(hash, path, size, signal);
  return `sha256:${hash.digest('hex')}`;
}

async function hashInto(hash: Hash, path: string, size: number, signal?: AbortSignal): Promise<void> {
  for await (const chunk of createReadStream(path, { start: 0, end: size - 1, signal })) hash.update(chunk as Buffer);
}
