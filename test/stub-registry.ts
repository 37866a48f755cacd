/**
 * A stub OCI registry on node:http for unit tests of the registry client and the puller: tiny
 * images built in memory (hand-written tar + gzip), manifests and blobs by digest, Range
 * requests, optional Bearer (with its own token endpoint) or Basic auth, and hooks to misbehave.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The ustar header of a regular file of `size` bytes. */
export function ustarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A ustar archive of regular files: 512-byte headers, data padded to 512, two zero blocks. */
export function tarOf(files: { name: string; content: string | Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const data = Buffer.from(f.content);
    parts.push(ustarHeader(f.name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** One stored blob of an image. */
export interface StubLayer {
  tar: Buffer;
  gz: Buffer;
  digest: string;
  diffId: string;
}

/** A tiny image: config, layers, manifest bytes and their digests. */
export interface TinyImage {
  config: Buffer;
  configDigest: string;
  layers: StubLayer[];
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
}

const OCI = { manifest: 'application/vnd.oci.image.manifest.v1+json', config: 'application/vnd.oci.image.config.v1+json', layer: 'application/vnd.oci.image.layer.v1.tar+gzip', index: 'application/vnd.oci.image.index.v1+json' };
const DOCKER = { manifest: 'application/vnd.docker.distribution.manifest.v2+json', config: 'application/vnd.docker.container.image.v1+json', layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip', index: 'application/vnd.docker.distribution.manifest.list.v2+json' };

/** Builds a two-layer image (or `layerCount`) for an architecture; `seed` makes its bytes distinct. */
export function tinyImage(opts: { architecture?: string; format?: 'oci' | 'docker'; seed?: string; layerCount?: number; layerBytes?: number } = {}): TinyImage {
  const t = opts.format === 'docker' ? DOCKER : OCI;
  const arch = opts.architecture ?? 'amd64';
  const seed = opts.seed ?? 'a';
  const layers: StubLayer[] = [];
  for (let i = 0; i < (opts.layerCount ?? 2); i++) {
    // random text: gzip cannot shrink it much, so the blob has about the size asked for
    const filler = opts.layerBytes ? randomBytes(opts.layerBytes).toString('base64').slice(0, opts.layerBytes) : '';
    const tar = tarOf([{ name: `layer${i}.txt`, content: `layer ${i} of ${seed} for ${arch}\n${filler}` }]);
    const gz = gzipSync(tar);
    layers.push({ tar, gz, digest: sha256(gz), diffId: sha256(tar) });
  }
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: t.manifest,
      config: { mediaType: t.config, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: t.layer, digest: l.digest, size: l.gz.length })),
    }),
  );
  return { config, configDigest: sha256(config), layers, manifest, manifestDigest: sha256(manifest), mediaType: t.manifest };
}

/** An index (OCI) or manifest list (Docker) over images, with an attestation entry in the OCI one. */
export function indexOf(images: TinyImage[], format: 'oci' | 'docker' = 'oci'): { bytes: Buffer; digest: string; mediaType: string } {
  const t = format === 'docker' ? DOCKER : OCI;
  const manifests: object[] = images.map((im) => ({ mediaType: im.mediaType, digest: im.manifestDigest, size: im.manifest.length, platform: { os: 'linux', architecture: JSON.parse(im.config.toString()).architecture } }));
  if (format === 'oci') manifests.push({ mediaType: OCI.manifest, digest: sha256('attestation'), size: 11, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: t.index, manifests }));
  return { bytes, digest: sha256(bytes), mediaType: t.index };
}

/** A request the stub saw. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The body of a POST to the token endpoint. */
  body?: string;
}

type Hook = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | void;

/** The stub registry: serves what is put in it; `requests` lists what it was asked. */
export class StubRegistry {
  readonly requests: SeenRequest[] = [];
  readonly tokenRequests: SeenRequest[] = [];
  readonly manifests = new Map<string, { bytes: Buffer; mediaType: string; digestHeader?: string }>();
  readonly blobs = new Map<string, Buffer>();
  /** Called first for each registry request; returning true means it answered. */
  hook?: Hook;
  /** Bearer: tokens it accepts; Basic: the user and password it wants. */
  auth?: { kind: 'bearer'; expiresIn?: number; user?: string; password?: string } | { kind: 'basic'; user: string; password: string };
  readonly validTokens = new Set<string>();
  private tokenCount = 0;
  private server?: Server;
  port = 0;

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Puts an image's manifest (under tags and its digest), config and layers. */
  putImage(repo: string, image: TinyImage, tags: string[] = []): void {
    for (const ref of [...tags, image.manifestDigest]) this.manifests.set(`${repo}:${ref}`, { bytes: image.manifest, mediaType: image.mediaType });
    this.blobs.set(image.configDigest, image.config);
    for (const l of image.layers) this.blobs.set(l.digest, l.gz);
  }

  /** Puts an index under tags and its digest. */
  putIndex(repo: string, index: { bytes: Buffer; digest: string; mediaType: string }, tags: string[] = []): void {
    for (const ref of [...tags, index.digest]) this.manifests.set(`${repo}:${ref}`, { bytes: index.bytes, mediaType: index.mediaType });
  }

  blobRequests(digest?: string): SeenRequest[] {
    return this.requests.filter((r) => r.path.includes('/blobs/') && (!digest || r.path.endsWith(digest)));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    const seen = { method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers };
    if (url.pathname === '/token') return this.token(req, res, seen);
    this.requests.push(seen);
    if (this.hook?.(req, res, url.pathname)) return;
    if (!this.authorised(req, res)) return;
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(url.pathname === '/v2/' ? 200 : 404).end('{}');
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const man = this.manifests.get(`${repo}:${ref}`);
      if (!man) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      return void res.writeHead(200, { 'content-type': man.mediaType, 'docker-content-digest': man.digestHeader ?? sha256(man.bytes), 'content-length': man.bytes.length }).end(man.bytes);
    }
    const blob = this.blobs.get(ref);
    if (!blob) return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    serveBlob(req, res, blob);
  }

  private authorised(req: IncomingMessage, res: ServerResponse): boolean {
    const a = this.auth;
    if (!a) return true;
    const got = req.headers.authorization ?? '';
    if (a.kind === 'basic') {
      if (got === `Basic ${Buffer.from(`${a.user}:${a.password}`).toString('base64')}`) return true;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="stub, with a comma"' }).end();
      return false;
    }
    if (got.startsWith('Bearer ') && this.validTokens.has(got.slice(7))) return true;
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${this.host}/token",service="stub,registry",scope="repository:x:pull"` }).end();
    return false;
  }

  private token(req: IncomingMessage, res: ServerResponse, seen: SeenRequest): void {
    this.tokenRequests.push(seen);
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant: answers with access_token
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.body = body;
        const form = new URLSearchParams(body);
        if (form.get('grant_type') !== 'refresh_token' || !form.get('refresh_token')) return void res.writeHead(400).end();
        const token = `tok-${++this.tokenCount}`;
        this.validTokens.add(token);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token }));
      });
      return;
    }
    const a = this.auth;
    if (a?.kind === 'bearer' && a.user && req.headers.authorization !== `Basic ${Buffer.from(`${a.user}:${a.password}`).toString('base64')}`) return void res.writeHead(401).end();
    const token = `tok-${++this.tokenCount}`;
    this.validTokens.add(token);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, ...(a?.kind === 'bearer' && a.expiresIn ? { expires_in: a.expiresIn } : {}) }));
  }
}

/** Answers a blob GET, honouring `Range: bytes=N-` with 206. */
export function serveBlob(req: IncomingMessage, res: ServerResponse, blob: Buffer): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) {
    const from = Number(range[1]);
    if (from >= blob.length) return void res.writeHead(416).end();
    res.writeHead(206, { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}`, 'content-length': blob.length - from, 'content-type': 'application/octet-stream' }).end(blob.subarray(from));
    return;
  }
  res.writeHead(200, { 'content-length': blob.length, 'content-type': 'application/octet-stream' }).end(blob);
}
