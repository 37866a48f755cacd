/**
 * The dashboard's files: `/` (its page) and `/dashboard/<file>` (its hashed scripts, stylesheet and
 * source maps), as `npm run build` wrote them to dist/dashboard, each sent compressed (brotli or
 * gzip, as the browser accepts) from the copies the build made. No token is needed for them: the
 * page signs in with a token the user gives it, and calls the API with it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HoodyError } from '../core/errors.ts';
import { PAGE_HEADERS } from './page-headers.ts';
import { HOODY_MARK } from './openapi.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};
// a file name as the build writes them: no folder, no dot file
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** Where the build put the dashboard: dist/dashboard of the package this module runs from. */
export function dashboardFolder(from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      const folder = join(dir, 'dist', 'dashboard');
      return existsSync(join(folder, 'index.html')) ? folder : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

type Encoding = 'br' | 'gzip';

/** The encodings the build makes copies in that `accept-encoding` takes, best first. */
export function chooseEncodings(header: string | undefined): Encoding[] {
  const accepted = new Map<string, number>();
  for (const part of (header ?? '').split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q ? Number(q.slice(2)) : 1;
    if (name) accepted.set(name, Number.isFinite(weight) ? weight : 0);
  }
  const wants = (name: string): boolean => (accepted.get(name) ?? accepted.get('*') ?? 0) > 0;
  return (['br', 'gzip'] as const).filter(wants);
}

// the build's files only: a name asked for that does not exist is not remembered (anyone may ask)
const cache = new Map<string, Buffer>();

async function cached(path: string): Promise<Buffer | null> {
  const known = cache.get(path);
  if (known) return known;
  const body = await readFile(path).catch(() => null);
  if (body) cache.set(path, body);
  return body;
}

async function send(request: FastifyRequest, reply: FastifyReply, folder: string, name: string, cacheControl: string): Promise<FastifyReply> {
  const type = TYPES[name.slice(name.lastIndexOf('.'))];
  const plain = type ? await cached(join(folder, name)) : null;
  if (!type || !plain) throw new HoodyError('NOT_FOUND', `no dashboard file "${name}"`);
  // the best copy the browser takes: brotli, else gzip (a file too small to gain has neither), else as it is
  const accepted = chooseEncodings(request.headers['accept-encoding']);
  reply.headers({ ...PAGE_HEADERS, 'content-type': type, 'cache-control': cacheControl, vary: 'accept-encoding' });
  for (const encoding of accepted) {
    const packed = await cached(join(folder, `${name}.${encoding === 'br' ? 'br' : 'gz'}`));
    if (packed) return reply.header('content-encoding', encoding).send(packed);
  }
  return reply.send(plain);
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Hoody</title><p>The dashboard is not built: run <code>npm run build</code> and start the daemon again. The API is at <a href="/docs">/docs</a>.</p>`;

/** GET / (the dashboard), /dashboard/<file> (its assets) and /favicon.svg. */
export async function dashboardRoutes(app: FastifyInstance, folder: string | null = dashboardFolder() ?? null): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    if (!folder) return reply.status(503).headers({ ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' }).send(NOT_BUILT);
    // the page names the hashed files of this build: never kept, so that an upgrade is seen at once
    return send(request, reply, folder, 'index.html', 'no-cache');
  });
  app.get('/dashboard/:name', { schema: { hide: true } }, async (request, reply) => {
    const { name } = request.params as { name: string };
    if (!folder || !NAME.test(name) || name === 'index.html') throw new HoodyError('NOT_FOUND', `no dashboard file "${name}"`);
    return send(request, reply, folder, name, 'public, max-age=31536000, immutable');
  });
  app.get('/favicon.svg', { schema: { hide: true } }, async (_request, reply) =>
    reply.headers({ ...PAGE_HEADERS, 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' }).send(HOODY_MARK),
  );
}
