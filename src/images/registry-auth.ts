/**
 * Registry authentication: `WWW-Authenticate` challenges parsed, Bearer tokens fetched from the
 * realm (with Basic credentials when configured, or an identity token as OAuth2 refresh token)
 * and cached per (registry, scope) until they expire; Basic credentials sent where asked.
 */
import type { CredentialSource, RegistryCredential } from './credentials.ts';
import { RegistryError } from './registry-error.ts';
import { type RetryPolicy, fetchFollowing, hostOf, readCapped, schemeAllowed } from './registry-http.ts';
import { DEFAULT_DOMAIN, registryHost } from './reference.ts';

/** Token realms a registry's credentials may go to besides its own host, by registry. */
const KNOWN_AUTH_HOSTS: Record<string, string[]> = { [DEFAULT_DOMAIN]: ['auth.docker.io'] };

/**
 * Whether a registry's credentials may be sent to a token realm: its host is the registry's own
 * (the port aside), a known pair (`auth.docker.io` for `docker.io`), or listed in `authHosts`
 * (`host` or `host:port` entries). Any other realm gets an anonymous token request.
 */
export function realmTrusted(realm: URL, domain: string, authHosts: readonly string[]): boolean {
  const host = realm.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const own = [hostOf(domain), hostOf(registryHost(domain))].map((h) => h.toLowerCase());
  if (own.includes(host) || (KNOWN_AUTH_HOSTS[domain] ?? []).includes(host)) return true;
  return authHosts.some((entry) => {
    const e = entry.trim().toLowerCase();
    return e === host || e === realm.host.toLowerCase();
  });
}

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** Lower-case: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lower-case; quoted values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** Parses `Bearer realm="https://a/token",service="s",scope="repository:x:pull", Basic realm="r"` (quoted values may hold commas). */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const readToken = () => {
    const start = i;
    while (i < header.length && TOKEN.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  const skip = (chars: string) => {
    while (i < header.length && chars.includes(header[i] as string)) i++;
  };
  while (i < header.length) {
    skip(' \t,');
    const word = readToken();
    if (!word) {
      i++; // a stray character: step over it
      continue;
    }
    skip(' \t');
    if (header[i] === '=' && out.length > 0) {
      i++;
      skip(' \t');
      let value = '';
      if (header[i] === '"') {
        for (i++; i < header.length && header[i] !== '"'; i++) value += header[i] === '\\' ? (header[++i] ?? '') : header[i];
        i++;
      } else {
        const start = i;
        while (i < header.length && header[i] !== ',') i++;
        value = header.slice(start, i).trim();
      }
      (out[out.length - 1] as AuthChallenge).params[word.toLowerCase()] = value;
    } else {
      out.push({ scheme: word.toLowerCase(), params: {} });
      // a token68 after a scheme (`Basic abc==`) carries nothing we use
      if (header[i] !== ',' && header[i] !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=\s*[^=]/.test(header.slice(i))) {
        while (i < header.length && header[i] !== ',') i++;
      }
    }
  }
  return out;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** The auth state the client keeps: what each registry asked for and the tokens it gave. */
export class RegistryAuth {
  private readonly schemes = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  /** Registry → the realm host its credentials were last withheld from. */
  private readonly withheldFrom = new Map<string, string>();

  constructor(
    private readonly opts: {
      credentials?: CredentialSource;
      fetchImpl: typeof fetch;
      retry: RetryPolicy;
      insecureRegistries: readonly string[];
      /** Hosts besides a registry's own that may receive its credentials as a token realm. */
      authHosts?: readonly string[];
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** The Authorization value to send to `origin` for `scope`, when one is known (a Bearer token is refreshed when it has expired). */
  async header(origin: string, domain: string, scope: string, what: string, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.schemes.get(origin);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return basicHeader(await this.credential(domain));
    const cached = this.tokens.get(`${origin} ${scope}`);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.value}`;
    return `Bearer ${(await this.fetchToken(origin, domain, scope, challenge, what, signal)).value}`;
  }

  /** Handles a 401: drops the cached token and gets a new one (or takes up Basic); throws 'unauthorized' when nothing can be sent. */
  async challenge(headerValue: string | null, origin: string, domain: string, scope: string, what: string, signal?: AbortSignal): Promise<void> {
    this.tokens.delete(`${origin} ${scope}`);
    const challenges = parseWwwAuthenticate(headerValue ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      this.schemes.set(origin, bearer);
      await this.fetchToken(origin, domain, scope, bearer, what, signal);
      return;
    }
    if (basic) {
      const cred = await this.credential(domain);
      if (!basicHeader(cred)) throw new RegistryError('unauthorized', `${what}: the registry asks for a user name and password and none is configured for "${domain}"`, { status: 401 });
      this.schemes.set(origin, basic);
      return;
    }
    throw new RegistryError('unauthorized', `${what}: the registry refused access without a usable authentication challenge`, { status: 401 });
  }

  /** The token realm host the registry's credentials were last withheld from (not its own host, not listed), if they were. */
  withheld(domain: string): string | undefined {
    return this.withheldFrom.get(domain);
  }

  /** Whether any credential is configured for the registry. */
  async hasCredential(domain: string): Promise<boolean> {
    return (await this.credential(domain)) !== undefined;
  }

  private async credential(domain: string): Promise<RegistryCredential | undefined> {
    return this.opts.credentials?.get(domain);
  }

  private fetchToken(origin: string, domain: string, scope: string, challenge: AuthChallenge, what: string, signal?: AbortSignal): Promise<CachedToken> {
    const key = `${origin} ${scope}`;
    // parallel layer downloads share one token request
    let p = this.inflight.get(key);
    if (!p) {
      p = this.requestToken(domain, scope, challenge, what, signal).then((t) => {
        this.tokens.set(key, t);
        return t;
      });
      p.finally(() => this.inflight.delete(key)).catch(() => {});
      this.inflight.set(key, p);
    }
    return p;
  }

  private async requestToken(domain: string, scope: string, challenge: AuthChallenge, what: string, signal?: AbortSignal): Promise<CachedToken> {
    const { realm, service } = challenge.params;
    let url: URL;
    try {
      url = new URL(realm as string);
    } catch {
      throw new RegistryError('unauthorized', `${what}: the registry's token realm "${realm}" is not a URL`);
    }
    if (!schemeAllowed(url, this.opts.insecureRegistries)) throw new RegistryError('unauthorized', `${what}: the token realm "${realm}" is not https (plain http only for loopback or insecure registries)`);
    // a realm on another host gets no credentials: a registry could name any server as its realm
    const trusted = realmTrusted(url, domain, this.opts.authHosts ?? []);
    const configured = await this.credential(domain);
    const cred = trusted ? configured : undefined;
    if (configured && !trusted) this.withheldFrom.set(domain, url.hostname);
    else this.withheldFrom.delete(domain);
    const started = this.now();
    // the credentials go to the realm's origin only, not to where it redirects
    const follow = { credentialOrigin: url.origin, insecure: this.opts.insecureRegistries };
    let res: Response;
    if (cred?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'hoody', scope });
      if (service) form.set('service', service);
      res = await fetchFollowing(this.opts.fetchImpl, url.href, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, this.opts.retry, follow, what, signal);
    } else {
      if (service) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      const auth = basicHeader(cred);
      res = await fetchFollowing(this.opts.fetchImpl, url.href, { headers: auth ? { authorization: auth } : {} }, this.opts.retry, follow, what, signal);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => {});
      const withheld = configured && !trusted ? ` (the credentials for "${domain}" were not sent: the token realm's host "${url.hostname}" is not the registry's; list it in HOODY_REGISTRY_AUTH_HOSTS to trust it)` : '';
      const reason = cred
        ? `the token server refused the credentials for "${domain}"`
        : `the token server refused an anonymous token: the repository needs credentials (${configured ? 'withheld' : `none configured for "${domain}"`})${withheld}`;
      throw new RegistryError('unauthorized', `${what}: ${reason} (${res.status})`, { status: res.status });
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new RegistryError('unreachable', `${what}: the token server answered ${res.status}`, { status: res.status });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readCapped(res, 1 << 20, `${what}: token answer`)).toString('utf8'));
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError('unauthorized', `${what}: the token server's answer is not JSON`);
    }
    const value = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!value) throw new RegistryError('unauthorized', `${what}: the token server's answer holds no token`);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { value, expiresAt: started + seconds * 1000 };
  }
}

function basicHeader(cred: RegistryCredential | undefined): string | undefined {
  if (!cred || cred.username === undefined || cred.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
}
