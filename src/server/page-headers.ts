/**
 * The headers of the daemon's own pages (the terminal, the display) and their assets.
 *
 * Nothing from elsewhere: scripts, styles and the WebSocket of this origin only. Scripts only from
 * files (no inline script, no eval); styles may be inline too, as xterm.js sets the terminal's
 * dimensions and colours in style elements it makes. noVNC needs nothing more: it draws JPEG
 * rectangles and the remote cursor from data: URLs (img-src data:), uses no worker, no eval and
 * no blob: URL, and loads its modules from this origin.
 */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HEADERS = { 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' };
