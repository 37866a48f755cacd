/**
 * Image references, normalised as Docker does (distribution/reference): `nginx` is
 * `docker.io/library/nginx:latest`, the first path component is a registry when it holds a `.` or
 * a `:`, is `localhost` or has upper-case letters; `index.docker.io` is `docker.io`.
 */
import type { ImageReference } from './types.ts';

/** A reference text that is not valid. */
export class InvalidReferenceError extends Error {
  constructor(
    readonly text: string,
    reason: string,
  ) {
    super(`image reference "${text}" is not valid: ${reason}`);
    this.name = 'InvalidReferenceError';
  }
}

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const MAX_NAME_LENGTH = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Parses and normalises a reference; throws InvalidReferenceError. */
export function parseReference(text: string): ImageReference {
  if (typeof text !== 'string' || text.length === 0) throw new InvalidReferenceError(String(text), 'it is empty');
  if (/\s/.test(text)) throw new InvalidReferenceError(text, 'it holds white space');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError(text, 'the digest must be sha256: followed by 64 lower-case hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(text, `tag "${tag}" must be 1-128 of letters, digits, "_", "." and "-", not starting with "." or "-"`);
  }
  const [domain, repository] = splitDomain(rest, text);
  if (repository.length === 0) throw new InvalidReferenceError(text, 'the repository name is empty');
  for (const part of repository.split('/')) {
    if (part !== part.toLowerCase()) throw new InvalidReferenceError(text, 'the repository name must be lower-case');
    if (!PATH_COMPONENT.test(part)) throw new InvalidReferenceError(text, `"${part}" is not a valid path component (lower-case letters and digits, separated by ".", "_", "__" or "-")`);
  }
  if (domain.length + 1 + repository.length > MAX_NAME_LENGTH) throw new InvalidReferenceError(text, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  if (!tag && !digest) tag = DEFAULT_TAG;
  const base = `${domain}/${repository}`;
  const canonical = `${base}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { domain, repository, tag, digest, canonical, name: tag ? `${base}:${tag}` : `${base}@${digest}` };
}

/** Whether `text` parses as a reference. */
export function isValidReference(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}

/** The host that serves a registry's API: Docker Hub's is not `docker.io` itself. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}

/** The name Docker shows: `nginx:latest` for official images, `acme/api:1` on Docker Hub, full elsewhere. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return ref.name;
  return ref.name.slice(DEFAULT_DOMAIN.length + 1).replace(/^library\/(?=[^/]+$|[^/]+[:@])/, '');
}

function splitDomain(name: string, text: string): [string, string] {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isDomain = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (!isDomain) return [DEFAULT_DOMAIN, name.includes('/') ? name : OFFICIAL_PREFIX + name];
  if (!DOMAIN.test(first)) throw new InvalidReferenceError(text, `"${first}" is not a valid registry host`);
  const domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
  const repository = name.slice(slash + 1);
  return [domain, domain === DEFAULT_DOMAIN && !repository.includes('/') ? OFFICIAL_PREFIX + repository : repository];
}
