/**
 * The display page, served by the router on a container's display host: noVNC on the WebSocket
 * `/__hoody/display`, from the daemon's own files. The page's script loads noVNC as ES modules
 * (the package ships no bundle), so every module of its core/ and vendor/ is served under
 * `/display/assets/novnc/`, and nothing else of the package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { PAGE_HEADERS, pageFile } from './page-headers.ts';

const require = createRequire(import.meta.url);

const JAVASCRIPT = 'text/javascript; charset=utf-8';
/** The page's own assets and their types. */
const OWN: Record<string, string> = { 'display.js': JAVASCRIPT, 'display.css': 'text/css; charset=utf-8' };
/** The folders of noVNC that hold its modules. */
const NOVNC_DIRS = new Set(['core', 'vendor']);
const NOVNC_PREFIX = 'assets/novnc/';

const cache = new Map<string, Buffer>();

/**
 * The display page (`page`) or one of its assets (`assets/display.js`, `assets/display.css`,
 * `assets/novnc/<path>.js`): headers and body; undefined for any other name.
 */
export async function displayPageFile(name: string): Promise<{ headers: Record<string, string>; body: Buffer } | undefined> {
  if (name === 'page') {
    const body = await cached('page', () => pageFile('display-page', 'index.html'));
    return body && { headers: { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' }, body };
  }
  let file: (() => string) | undefined;
  let type = JAVASCRIPT;
  if (name.startsWith(NOVNC_PREFIX)) {
    const segments = novncSegments(name.slice(NOVNC_PREFIX.length));
    if (segments) file = () => novncFile(segments);
  } else if (name.startsWith('assets/')) {
    const own = name.slice('assets/'.length);
    if (Object.hasOwn(OWN, own)) {
      file = () => pageFile('display-page', own);
      type = OWN[own] as string;
    }
  }
  if (!file) return undefined;
  const body = await cached(name, file);
  return body && { headers: { ...PAGE_HEADERS, 'cache-control': 'public, max-age=3600', 'content-type': type }, body };
}

/**
 * The segments of a module's path in noVNC's core/ or vendor/, or undefined: plain names only (no
 * `.` or `..` segment, no empty one, no backslash, NUL or percent sign: an encoded path is
 * refused, not decoded), ending in `.js`.
 */
function novncSegments(path: string): string[] | undefined {
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(path) || !path.endsWith('.js')) return undefined;
  const segments = path.split('/');
  if (segments.some((s) => s === '.' || s === '..')) return undefined;
  return NOVNC_DIRS.has(segments[0] as string) ? segments : undefined;
}

/** The file of a module's segments, checked once more to be inside its folder. */
function novncFile(segments: string[]): string {
  const top = join(novncRoot(), segments[0] as string) + sep;
  const file = join(novncRoot(), ...segments);
  if (!file.startsWith(top)) throw new Error(`${file} is outside ${top}`);
  return file;
}

/** A file's bytes, kept once read (only files that exist: a name cannot grow the cache); undefined when there is no such file. */
async function cached(key: string, file: () => string): Promise<Buffer | undefined> {
  const hit = cache.get(key);
  if (hit) return hit;
  let body: Buffer;
  try {
    body = await readFile(file());
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
  cache.set(key, body);
  return body;
}

let novnc: string | undefined;
/**
 * The folder of the @novnc/novnc package. Its exports map names only its entry module, so its
 * package.json cannot be resolved: the entry is, and the package is the folder above it whose
 * package.json has its name.
 */
function novncRoot(): string {
  if (novnc) return novnc;
  const entry = require.resolve('@novnc/novnc');
  for (let dir = dirname(entry); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === '@novnc/novnc') return (novnc = dir);
  }
  throw new Error(`the @novnc/novnc package is not found above ${entry}`);
}

