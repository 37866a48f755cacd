/**
 * Registry credentials from `<data-dir>/images/auth.json`, falling back to Docker's
 * `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`). Both have Docker's shape:
 * `{"auths": {"host[:port]": {"auth": base64("user:pass")} | {"username", "password"} | {"identitytoken"}}}`.
 * Credential helpers (`credsStore`, `credHelpers`) are not run: only inline entries are read.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What to authenticate to one registry with. */
export interface RegistryCredential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
}

/** Looks up the credential for a registry domain as references name it (`docker.io`, `localhost:5000`). */
export interface CredentialSource {
  get(domain: string): Promise<RegistryCredential | undefined>;
}

/** A credentials file that cannot be read or parsed. */
export class CredentialsFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`credentials file "${file}" ${reason}`);
    this.name = 'CredentialsFileError';
  }
}

const DOCKER_HUB_KEYS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The registry a config key means: scheme and path dropped, Docker Hub's many names made `docker.io`. */
export function normaliseRegistryKey(key: string): string {
  const host = key.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return DOCKER_HUB_KEYS.has(host) ? 'docker.io' : host;
}

/** The default files, first match wins: the data folder's auth.json, then Docker's config. */
export function defaultCredentialFiles(dataDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const dockerDir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  return [join(dataDir, 'images', 'auth.json'), join(dockerDir, 'config.json')];
}

/** The server's credentials: `<dataDir>/images/auth.json`, then Docker's config. */
export function serverCredentials(dataDir: string, env: NodeJS.ProcessEnv = process.env): FileCredentials {
  return new FileCredentials(defaultCredentialFiles(dataDir, env));
}

/** Credentials read from Docker-style config files, in order; re-read on each lookup so edits apply without a restart. */
export class FileCredentials implements CredentialSource {
  constructor(readonly files: string[]) {}

  async get(domain: string): Promise<RegistryCredential | undefined> {
    const want = normaliseRegistryKey(domain);
    for (const file of this.files) {
      const auths = await readAuths(file);
      for (const [key, entry] of Object.entries(auths)) {
        if (normaliseRegistryKey(key) !== want) continue;
        const cred = decodeEntry(file, key, entry);
        if (cred) return cred;
      }
    }
    return undefined;
  }
}

/** A fixed map of credentials (for tests and embedding). */
export class StaticCredentials implements CredentialSource {
  constructor(private readonly byDomain: Record<string, RegistryCredential>) {}

  async get(domain: string): Promise<RegistryCredential | undefined> {
    const want = normaliseRegistryKey(domain);
    for (const [key, cred] of Object.entries(this.byDomain)) if (normaliseRegistryKey(key) === want) return cred;
    return undefined;
  }
}

async function readAuths(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return {};
    throw new CredentialsFileError(file, `cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CredentialsFileError(file, 'is not valid JSON');
  }
  const auths = (parsed as { auths?: unknown } | null)?.auths;
  if (auths === undefined || auths === null) return {};
  if (typeof auths !== 'object' || Array.isArray(auths)) throw new CredentialsFileError(file, 'has "auths" that is not an object');
  return auths as Record<string, unknown>;
}

function decodeEntry(file: string, key: string, entry: unknown): RegistryCredential | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  const e = entry as { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown };
  const cred: RegistryCredential = {};
  if (typeof e.auth === 'string' && e.auth.length > 0) {
    const text = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0) throw new CredentialsFileError(file, `has an "auth" for "${key}" that is not base64 of user:password`);
    cred.username = text.slice(0, colon);
    cred.password = text.slice(colon + 1);
  } else if (typeof e.username === 'string' && typeof e.password === 'string') {
    cred.username = e.username;
    cred.password = e.password;
  }
  if (typeof e.identitytoken === 'string' && e.identitytoken.length > 0) cred.identityToken = e.identitytoken;
  return cred.username !== undefined || cred.identityToken ? cred : undefined;
}
