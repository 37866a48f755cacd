import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The headers of the daemon's own pages (the terminal, the display) and their assets, and where
 * their own files are.
 *
 * Nothing from elsewhere: scripts, styles and the WebSocket of this origin only. Scripts only from
 * files (no inline script, no eval); styles may be inline too, as xterm.js sets the terminal's
 * dimensions and colours in style elements it makes. noVNC needs nothing more: it draws JPEG
 * rectangles and the remote cursor from data: URLs (img-src data:), uses no worker, no eval and
 * no blob: URL, and loads its modules from this origin.
 */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HEADERS = { 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' };

const here = dirname(fileURLToPath(import.meta.url));
const roots = new Map<string, string>();

/**
 * A page's own file, in the package's src/server/<folder>/ (shipped with it), whether this module
 * runs from src/ or from the build's bundle.
 */
export function pageFile(folder: 'terminal-page' | 'display-page', name: string): string {
  let root = roots.get(folder);
  for (let dir = here; root === undefined; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'server', folder))) roots.set(folder, (root = dir));
    else if (dirname(dir) === dir) throw new Error(`the files of ${folder} are not found above ${here}`);
  }
  return join(root, 'src', 'server', folder, name);
}
