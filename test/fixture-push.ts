/**
 * Puts fixture images into a test registry: `skopeo copy` of a layout tag (OCI manifest, or
 * Docker schema 2 with `v2s2`), and multi-platform OCI indexes and Docker manifest lists PUT by
 * hand (skopeo 1.9 cannot build them), through the registry's auth when it has one.
 */
import { createHash } from 'node:crypto';
import { run } from './image-fixtures.ts';
import type { TestRegistry } from './registry-harness.ts';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** A pushed image: its reference and the manifest the registry holds for it. */
export interface PushedImage {
  /** `127.0.0.1:<port>/<repository>:<tag>` */
  reference: string;
  repository: string;
  tag: string;
  manifestDigest: string;
  mediaType: string;
  size: number;
}

/** Copies `oci:<layout>:<tag>` to `<registry>/<repository>:<destTag>` with skopeo (Docker schema 2 when `format` is `v2s2`). */
export async function pushImage(reg: TestRegistry, layout: string, tag: string, repository: string, opts: { destTag?: string; format?: 'oci' | 'v2s2'; signal?: AbortSignal } = {}): Promise<PushedImage> {
  const destTag = opts.destTag ?? tag;
  const creds = reg.creds ? ['--dest-creds', `${reg.creds.username}:${reg.creds.password}`] : [];
  const format = opts.format === 'v2s2' ? ['--format', 'v2s2'] : [];
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...creds, ...format, `oci:${layout}:${tag}`, `docker://${reg.host}/${repository}:${destTag}`], { signal: opts.signal });
  return manifestOf(reg, repository, destTag, opts.format === 'v2s2' ? DOCKER_MANIFEST : OCI_MANIFEST);
}

/** What the registry holds under `<repository>:<ref>`: digest, media type, size. */
export async function manifestOf(reg: TestRegistry, repository: string, ref: string, accept: string = [INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(', ')): Promise<PushedImage> {
  const res = await registryFetch(reg, `/v2/${repository}/manifests/${ref}`, { headers: { accept } }, `repository:${repository}:pull`);
  if (res.status !== 200) throw new Error(`manifest "${repository}:${ref}" answered ${res.status}: ${await res.text()}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!;
  return { reference: `${reg.host}/${repository}:${ref}`, repository, tag: ref, manifestDigest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType, size: bytes.length };
}

/** One platform's manifest for an index or list. */
export interface PlatformEntry {
  image: PushedImage;
  platform: { os: string; architecture: string; variant?: string };
}

/**
 * PUTs an OCI index (`kind: 'oci'`) or a Docker manifest list (`'docker'`) under
 * `<repository>:<tag>`, listing the entries in the order given.
 */
export async function pushIndex(reg: TestRegistry, repository: string, tag: string, kind: 'oci' | 'docker', entries: PlatformEntry[]): Promise<PushedImage> {
  const mediaType = kind === 'oci' ? INDEX : DOCKER_LIST;
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType,
    manifests: entries.map((e) => ({ mediaType: e.image.mediaType, digest: e.image.manifestDigest, size: e.image.size, platform: e.platform })),
  });
  const res = await registryFetch(reg, `/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': mediaType }, body }, `repository:${repository}:pull,push`);
  if (res.status !== 201) throw new Error(`PUT of the ${kind} index "${repository}:${tag}" answered ${res.status}: ${await res.text()}`);
  return { reference: `${reg.host}/${repository}:${tag}`, repository, tag, manifestDigest: `sha256:${createHash('sha256').update(body).digest('hex')}`, mediaType, size: Buffer.byteLength(body) };
}

/** A request to the registry; on a 401 it authenticates (Basic, or a token from the realm with the test credentials) and tries once more. */
export async function registryFetch(reg: TestRegistry, path: string, init: RequestInit, scope: string): Promise<Response> {
  const first = await fetch(`${reg.url}${path}`, init);
  if (first.status !== 401 || !reg.creds) return first;
  await first.arrayBuffer();
  const basic = `Basic ${Buffer.from(`${reg.creds.username}:${reg.creds.password}`).toString('base64')}`;
  const challenge = first.headers.get('www-authenticate') ?? '';
  let authorization = basic;
  if (challenge.startsWith('Bearer ')) {
    const param = (k: string): string => new RegExp(`${k}="([^"]*)"`).exec(challenge)?.[1] ?? '';
    const u = new URL(param('realm'));
    u.searchParams.set('service', param('service'));
    u.searchParams.set('scope', scope);
    const t = (await (await fetch(u, { headers: { authorization: basic } })).json()) as { token: string };
    authorization = `Bearer ${t.token}`;
  }
  return fetch(`${reg.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization } });
}

/** The fixtures as pushed: one repository each, tag `1.0`, plus the multi-platform ones. */
export interface PushedFixtures {
  base: PushedImage;
  layered: PushedImage;
  layeredV2s2: PushedImage;
  edge: PushedImage;
  xattr: PushedImage;
  insertbug: PushedImage;
  evil: PushedImage;
  /** An OCI index listing arm64 (v8) first, then amd64 (`test/multi:index`). */
  index: PushedImage;
  /** A Docker manifest list, arm64 first, then amd64 (`test/multi:list`). */
  list: PushedImage;
  /** The amd64 and arm64 manifests the index and list point at (OCI and schema 2). */
  amd64: PushedImage;
  arm64: PushedImage;
  amd64V2s2: PushedImage;
  arm64V2s2: PushedImage;
}

/** Pushes every fixture of a layout built by buildFixtureLayout; `base` first, so `layered` shares its lowest blob. */
export async function pushFixtures(reg: TestRegistry, layout: string, signal?: AbortSignal): Promise<PushedFixtures> {
  const o = { destTag: '1.0', signal };
  const base = await pushImage(reg, layout, 'base', 'test/base', o);
  const layered = await pushImage(reg, layout, 'layered', 'test/layered', o);
  const layeredV2s2 = await pushImage(reg, layout, 'layered', 'test/layered', { ...o, destTag: '1.0-v2s2', format: 'v2s2' });
  const edge = await pushImage(reg, layout, 'edge', 'test/edge', o);
  const xattr = await pushImage(reg, layout, 'xattr', 'test/xattr', o);
  const insertbug = await pushImage(reg, layout, 'insertbug', 'test/insertbug', o);
  const evil = await pushImage(reg, layout, 'evil', 'test/evil', o);
  const amd64 = await pushImage(reg, layout, 'layered', 'test/multi', { ...o, destTag: 'amd64' });
  const arm64 = await pushImage(reg, layout, 'layered-arm64', 'test/multi', { ...o, destTag: 'arm64' });
  const amd64V2s2 = await pushImage(reg, layout, 'layered', 'test/multi', { ...o, destTag: 'amd64-v2s2', format: 'v2s2' });
  const arm64V2s2 = await pushImage(reg, layout, 'layered-arm64', 'test/multi', { ...o, destTag: 'arm64-v2s2', format: 'v2s2' });
  const arm = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  const amd = { os: 'linux', architecture: 'amd64' };
  const index = await pushIndex(reg, 'test/multi', 'index', 'oci', [
    { image: arm64, platform: arm },
    { image: amd64, platform: amd },
  ]);
  const list = await pushIndex(reg, 'test/multi', 'list', 'docker', [
    { image: arm64V2s2, platform: arm },
    { image: amd64V2s2, platform: amd },
  ]);
  return { base, layered, layeredV2s2, edge, xattr, insertbug, evil, index, list, amd64, arm64, amd64V2s2, arm64V2s2 };
}
