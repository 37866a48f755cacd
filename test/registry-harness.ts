/**
 * A real local registry for image tests: Debian's `docker-registry serve` on a free loopback
 * port with a temp storage root, optionally behind token auth (a tiny token server issuing
 * RS256 JWTs with an x5c chain, as Docker Hub's auth.docker.io does) or htpasswd (Basic).
 * Everything stays on 127.0.0.1; processes are stopped by pid, folders removed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, createSign, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bench/proc-util.ts';

/** The user and password the token server and htpasswd accept. */
export const REGISTRY_USER = 'hoody-test';
export const REGISTRY_PASSWORD = 'not-a-secret-7f3a';

/** A running test registry. */
export interface TestRegistry {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`: the domain part of references to it. */
  host: string;
  /** The temp folder holding config, storage (`data/`), logs and certificates. */
  root: string;
  /** The auth it was started with. */
  auth?: 'token' | 'htpasswd';
  /** User and password for `skopeo --dest-creds`/`--src-creds` and clients (set with auth). */
  creds?: { username: string; password: string };
  /** How many requests the token server answered (0 without token auth), for token caching checks. */
  tokenRequests(): number;
  /** The access log's request lines so far: method, path (with query) and status. */
  requests(): Promise<{ method: string; path: string; status: number }[]>;
  /** Successful blob GETs (each a download), optionally only those of one repository. */
  blobGets(repository?: string): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts `docker-registry serve` on 127.0.0.1 and a free port; resolves once `GET /v2/` answers
 * (200, or 401 with auth). skopeo's blob-info cache folder is created if missing (skopeo needs it
 * writable).
 */
export async function startRegistry(opts: { auth?: 'token' | 'htpasswd'; signal?: AbortSignal } = {}): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'hoody-registry-'));
  await mkdir('/var/lib/containers/cache', { recursive: true }).catch(() => undefined);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let token: TokenServer | undefined;
  let authYaml = '';
  try {
    if (opts.auth === 'token') {
      token = await startTokenServer(root);
      authYaml = `auth: {token: {realm: "${token.realm}", service: "${TOKEN_SERVICE}", issuer: "${TOKEN_ISSUER}", rootcertbundle: "${token.certFile}"}}\n`;
    } else if (opts.auth === 'htpasswd') {
      // distribution accepts bcrypt only; Python's crypt module makes it without another package (cost 4: it is checked on every request)
      const hash = execFileSync('python3', ['-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', REGISTRY_PASSWORD], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
      await writeFile(join(root, 'htpasswd'), `${REGISTRY_USER}:${hash}\n`);
      authYaml = `auth: {htpasswd: {realm: hoody-test, path: "${join(root, 'htpasswd')}"}}\n`;
    }
    const config =
      'version: 0.1\n' +
      'log: {level: warn, accesslog: {disabled: false}}\n' +
      `storage: {filesystem: {rootdirectory: "${join(root, 'data')}"}, delete: {enabled: true}}\n` +
      `http: {addr: "${host}"}\n` +
      authYaml;
    await writeFile(join(root, 'config.yml'), config);
    const logFile = join(root, 'registry.log');
    const fd = openSync(logFile, 'a');
    const child = spawn('docker-registry', ['serve', join(root, 'config.yml')], { stdio: ['ignore', fd, fd], detached: false });
    closeSync(fd);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await token?.close();
      await rm(root, { recursive: true, force: true });
    };
    const url = `http://${host}`;
    try {
      await waitReady(url, () => child.exitCode !== null, logFile, opts.signal);
    } catch (err) {
      await stop();
      throw err;
    }
    const requests = async (): Promise<{ method: string; path: string; status: number }[]> => {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      const out: { method: string; path: string; status: number }[] = [];
      for (const m of log.matchAll(/"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /g)) out.push({ method: m[1]!, path: m[2]!, status: Number(m[3]) });
      return out;
    };
    return {
      url,
      host,
      root,
      auth: opts.auth,
      creds: opts.auth ? { username: REGISTRY_USER, password: REGISTRY_PASSWORD } : undefined,
      tokenRequests: () => token?.count() ?? 0,
      requests,
      blobGets: async (repository) =>
        (await requests())
          .filter((r) => r.method === 'GET' && (r.status === 200 || r.status === 206))
          .map((r) => /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})/.exec(r.path))
          .filter((m): m is RegExpExecArray => m !== null && (repository === undefined || m[1] === repository))
          .map((m) => m[2]!),
      stop,
    };
  } catch (err) {
    await token?.close();
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

async function waitReady(url: string, exited: () => boolean, logFile: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await fetch(`${url}/v2/`, { signal }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200 || status === 401) return;
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (exited()) throw new Error(`registry "${url}" exited before serving:\n${log}`);
    if (Date.now() > deadline || signal?.aborted) throw new Error(`registry "${url}" did not answer GET /v2/ in 20 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const TOKEN_SERVICE = 'hoody-test-registry';
const TOKEN_ISSUER = 'hoody-test-issuer';

interface TokenServer {
  realm: string;
  certFile: string;
  count(): number;
  close(): Promise<void>;
}

/**
 * The token flow of distribution's `auth.token`: `GET /token?service=..&scope=repository:<name>:pull,push`
 * with Basic credentials answers `{token, access_token, expires_in}`, an RS256 JWT whose header
 * carries the signing certificate (`x5c`), which the registry checks against `rootcertbundle`.
 */
async function startTokenServer(root: string): Promise<TokenServer> {
  const keyFile = join(root, 'token.key');
  const certFile = join(root, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=hoody-test-token'], { stdio: 'ignore' });
  const key = await readFile(keyFile, 'utf8');
  const der = Buffer.from(
    (await readFile(certFile, 'utf8'))
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  let count = 0;
  const expected = `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    count++;
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/token' || req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    // every asked scope is granted: the test user may pull and push anything
    const access = u.searchParams.getAll('scope').map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = (rest.pop() ?? '').split(',').filter(Boolean);
      return { type, name: rest.join(':'), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const jwt = signJwt({ alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] }, { iss: TOKEN_ISSUER, sub: REGISTRY_USER, aud: u.searchParams.get('service') ?? TOKEN_SERVICE, iat: now, nbf: now - 5, exp: now + 300, jti: randomBytes(8).toString('hex'), access }, key);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: jwt, access_token: jwt, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    count: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function signJwt(header: object, claims: object, key: string): string {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64(header)}.${b64(claims)}`;
  return `${body}.${createSign('RSA-SHA256').update(body).sign(key).toString('base64url')}`;
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
