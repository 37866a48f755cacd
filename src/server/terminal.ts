/**
 * Terminals over WebSocket: `GET /api/v1/containers/{id}/terminal?cols=&rows=&command=` upgraded.
 * The upgrade is authenticated like the API (a bearer token in Authorization, or, from a browser
 * that cannot set headers, as the subprotocol `hoody.token.<token>` next to `hoody.terminal`) and
 * refused from another site (`Origin` must be this host). Binary frames carry the terminal's bytes
 * both ways; text frames carry JSON control: `{"type":"resize","cols","rows"}` from the client,
 * `{"type":"session","id"}` then `{"type":"exit","code"}` from the server. Output is paused while
 * more than HIGH_WATER bytes wait to be sent to the client.
 *
 * And the terminal page, `/terminal/{id}`: xterm.js served from the daemon's own files.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Actor } from '../core/actor.ts';
import type { AuthService } from '../core/auth-service.ts';
import { HoodyError } from '../core/errors.ts';
import { MAX_SHARED_INDEX, type TerminalSession, type TerminalSessions } from '../core/terminals.ts';
import { isTerminalReport, type ClientSink, type SharedClient, type SharedTerminal } from '../core/shared-terminal.ts';
import { toErrorBody } from './errors.ts';
import { originHost } from './streaming.ts';
import { PAGE_HEADERS, pageFile } from './page-headers.ts';
import { sendPaced } from './ws-pacing.ts';

const PATH = /^\/api\/v1\/containers\/([0-9a-f]{24})\/terminal$/;
/** Bytes of output waiting for the client past which the command's output is paused, and below which it goes on. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** A subprotocol that carries a bearer token (browsers cannot set Authorization on a WebSocket). */
const TOKEN_PROTOCOL = 'hoody.token.';
export const TERMINAL_PROTOCOL = 'hoody.terminal';

export interface TerminalDeps {
  auth: AuthService;
  terminals: TerminalSessions;
  /** Sends the upgrade on to the daemon of the container's server; answers false when the terminal is opened here. */
  forward?: (req: IncomingMessage, socket: Socket, head: Buffer, actor: Actor, id: string) => Promise<boolean>;
  warn?: (message: string, err?: unknown) => void;
}

/** Answers WebSocket upgrades of terminal paths on the API's listener. */
export function serveTerminals(app: FastifyInstance, deps: TerminalDeps): void {
  const wss = terminalSocketServer();
  app.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    upgrade(req, socket, head).catch((err: unknown) => {
      // a refusal (no token, not found, not running) is the client's answer, not the daemon's problem
      if (!(err instanceof HoodyError)) deps.warn?.('opening a terminal', err);
      refuse(socket, err);
    });
  });
  let used = false;
  app.addHook('preClose', (done) => {
    // the daemon closes: its sessions end (their processes in the containers with them)
    if (used) deps.terminals.closeAll();
    for (const ws of wss.clients) ws.terminate();
    done();
  });

  async function upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const id = PATH.exec(url.pathname)?.[1];
    if (!id) return refuse(socket, new HoodyError('NOT_FOUND', 'no WebSocket is served at this path'));
    // checked before a session is opened: a handshake the WebSocket server then refused would leave it running
    if (!isWebSocketHandshake(req)) return refuse(socket, new HoodyError('INVALID_INPUT', 'not a WebSocket handshake (GET, Upgrade: websocket, Sec-WebSocket-Key, version 13)'));
    // a page of another site must not open a terminal with the visitor's credentials
    const origin = req.headers.origin;
    if (origin !== undefined && originHost(origin) !== (req.headers.host ?? '').toLowerCase()) {
      return refuse(socket, new HoodyError('FORBIDDEN', `a terminal is opened only from this server's own pages (Origin ${origin})`));
    }
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const fromProtocol = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL))?.slice(TOKEN_PROTOCOL.length);
    const actor = await deps.auth.authenticate(req.headers.authorization ?? (fromProtocol ? `Bearer ${fromProtocol}` : undefined));
    if (actor.readOnly) throw new HoodyError('FORBIDDEN', 'this token is read-only: a terminal can change the container');
    const size = (name: string, fallback: number): number => {
      const text = url.searchParams.get(name);
      const n = text === null ? fallback : Number(text);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new HoodyError('INVALID_INPUT', `${name} must be a whole number from 1 to 1000`);
      return n;
    };
    const cols = size('cols', 80);
    const rows = size('rows', 24);
    const indexText = url.searchParams.get('index');
    const index = indexText === null ? undefined : Number(indexText);
    if (index !== undefined && (!Number.isInteger(index) || index < 1 || index > MAX_SHARED_INDEX)) throw new HoodyError('INVALID_INPUT', `index must be a whole number from 1 to ${MAX_SHARED_INDEX}`);
    const command = url.searchParams.getAll('command');
    if (index !== undefined && command.length > 0) throw new HoodyError('INVALID_INPUT', 'a shared session (index) runs the shell: command is for a session of one client');
    if (command.some((w) => w.length === 0 || w.length > 65536) || command.length > 1024) throw new HoodyError('INVALID_INPUT', 'each command word must be 1 to 65536 characters');
    if (socket.destroyed) return;
    if (deps.forward && (await deps.forward(req, socket, head, actor, id))) return;
    used = true;
    const address = req.socket.remoteAddress ?? null;
    if (index !== undefined) return attachShared(wss, req, socket, head, { terminals: deps.terminals, actor, id, index, cols, rows, address, warn: deps.warn });
    const session = await deps.terminals.open(actor, id, { cols, rows, address, ...(command.length > 0 ? { command } : {}) });
    if (socket.destroyed) return deps.terminals.close(session);
    wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, session));
  }

  const bridge = (ws: WebSocket, session: TerminalSession): void => bridgeSession(ws, session, deps);
}

/** Carries a session over a WebSocket: its bytes both ways, resizes in, its id and exit code out, its output paced to the client. */
export function bridgeSession(ws: WebSocket, session: TerminalSession, deps: { terminals: Pick<TerminalSessions, 'close'>; warn?: (message: string, err?: unknown) => void }): void {
  {
    ws.send(JSON.stringify({ type: 'session', id: session.id }));
    sendPaced(ws, session.output, HIGH_WATER, LOW_WATER);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return writeInput(ws, session, data);
      const size = resizeOf(data);
      if (!size) return;
      try {
        session.resize(size.cols, size.rows);
      } catch (err) {
        deps.warn?.('resizing a terminal', err);
      }
    });
    session.onExit((code) => {
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ type: 'exit', code }));
        ws.close(1000, 'exited');
      }
    });
    ws.on('close', () => deps.terminals.close(session));
    ws.on('error', () => deps.terminals.close(session));
  }
}

/**
 * Upgrades, then attaches the WebSocket to the container's shared session `index` (opened when
 * there is none). A refusal after the upgrade comes as `{"type":"error","code","message"}` and a
 * close with code 4000 + the HTTP status.
 */
export function attachShared(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  o: { terminals: Pick<TerminalSessions, 'attach'>; actor: Actor; id: string; index: number; cols: number; rows: number; address: string | null; warn?: (message: string, err?: unknown) => void },
): void {
  if (socket.destroyed) return;
  wss.handleUpgrade(req, socket, head, (ws) => {
    const sink = webSocketSink(ws);
    o.terminals.attach(o.actor, o.id, o.index, { cols: o.cols, rows: o.rows, address: o.address }, sink).then(
      ({ terminal, client }) => {
        // gone while attaching
        if (ws.readyState !== ws.OPEN) return terminal.detach(client);
        bridgeShared(ws, terminal, client);
      },
      (err: unknown) => {
        if (!(err instanceof HoodyError)) o.warn?.('attaching to a terminal', err);
        const body = toErrorBody(err);
        sink.control({ type: 'error', code: body.code, message: body.message });
        sink.close(4000 + body.statusCode, body.code);
      },
    );
  });
}

/** A client of a shared session over a WebSocket: output and control frames out, its keystrokes and resizes in. */
function bridgeShared(ws: WebSocket, terminal: SharedTerminal, client: SharedClient): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (isTerminalReport(data)) return;
      return writeInput(ws, terminal.session, data);
    }
    const size = resizeOf(data);
    if (size) terminal.resize(size.cols, size.rows);
  });
  ws.on('close', () => terminal.detach(client));
  ws.on('error', () => terminal.detach(client));
}

/**
 * Keystrokes to the session. While more than INPUT_HIGH of input waits for a shell that does not
 * read, the client that sent it is paused; every paused client of the session goes on once the
 * backlog is below INPUT_LOW, whoever's write brought it there.
 */
function writeInput(ws: WebSocket, session: Pick<TerminalSession, 'write' | 'inputBacklog'>, data: Buffer): void {
  void session
    .write(data)
    .catch(() => undefined)
    .finally(() => {
      const held = pausedClients.get(session);
      if (!held || session.inputBacklog >= INPUT_LOW) return;
      pausedClients.delete(session);
      for (const client of held) client.resume();
    });
  if (session.inputBacklog > INPUT_HIGH && !ws.isPaused) {
    ws.pause();
    let held = pausedClients.get(session);
    if (!held) pausedClients.set(session, (held = new Set()));
    held.add(ws);
  }
}

/** The clients paused for a session's input backlog. */
const pausedClients = new WeakMap<object, Set<WebSocket>>();

/** Input waiting for the shell past which its client is paused, and below which it goes on. */
const INPUT_HIGH = 1024 * 1024;
const INPUT_LOW = 64 * 1024;

/** The size a `{"type":"resize","cols","rows"}` text frame asks for (clamped to 1…1000), or undefined. */
function resizeOf(data: Buffer): { cols: number; rows: number } | undefined {
  let msg: { type?: unknown; cols?: unknown; rows?: unknown };
  try {
    msg = JSON.parse(data.toString('utf8')) as typeof msg;
  } catch {
    return undefined;
  }
  if (msg.type !== 'resize' || !Number.isInteger(msg.cols) || !Number.isInteger(msg.rows)) return undefined;
  return { cols: Math.min(1000, Math.max(1, msg.cols as number)), rows: Math.min(1000, Math.max(1, msg.rows as number)) };
}

/** A WebSocket as a shared session's client. */
export function webSocketSink(ws: WebSocket): ClientSink {
  return {
    output: (chunk, done) => {
      if (ws.readyState !== ws.OPEN) return done();
      ws.send(chunk, { binary: true }, () => done());
    },
    control: (message) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    },
    pending: () => ws.bufferedAmount,
    close: (code, reason) => {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    },
  };
}

/** A WebSocket server for terminal sessions (upgrades handed to it by whoever accepted them). */
export function terminalSocketServer(): WebSocketServer {
  return new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, handleProtocols: (protocols) => (protocols.has(TERMINAL_PROTOCOL) ? TERMINAL_PROTOCOL : false) });
}

/** What the WebSocket server accepts as a handshake (it aborts anything else without a word). */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    (req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key) &&
    req.headers['sec-websocket-version'] === '13'
  );
}

/** The API's error envelope on a socket whose upgrade is refused. */
function refuse(socket: Socket, err: unknown): void {
  if (socket.destroyed) return;
  const body = toErrorBody(err);
  const text = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${body.statusCode} ${body.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

const require = createRequire(import.meta.url);

/** The page's files: xterm.js and its fit addon from the npm packages, the page's own script and style. */
const ASSETS: Record<string, { file: () => string; type: string }> = {
  'xterm.js': { file: () => require.resolve('@xterm/xterm/lib/xterm.js'), type: 'text/javascript; charset=utf-8' },
  'xterm.css': { file: () => require.resolve('@xterm/xterm/css/xterm.css'), type: 'text/css; charset=utf-8' },
  'addon-fit.js': { file: () => require.resolve('@xterm/addon-fit/lib/addon-fit.js'), type: 'text/javascript; charset=utf-8' },
  'terminal.js': { file: () => pageFile('terminal-page', 'terminal.js'), type: 'text/javascript; charset=utf-8' },
  'terminal.css': { file: () => pageFile('terminal-page', 'terminal.css'), type: 'text/css; charset=utf-8' },
};


const cache = new Map<string, Buffer>();

/**
 * The terminal page (`page`) or one of its assets (`assets/<name>`): status, headers and body;
 * undefined for any other name. Served on the API's listener and by the router on a container's
 * terminal host.
 */
export async function terminalPageFile(name: string): Promise<{ headers: Record<string, string>; body: Buffer } | undefined> {
  if (name === 'page') {
    const body = cache.get('index.html') ?? (await readFile(pageFile('terminal-page', 'index.html')));
    cache.set('index.html', body);
    return { headers: { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' }, body };
  }
  const key = name.startsWith('assets/') ? name.slice('assets/'.length) : '';
  const asset = Object.hasOwn(ASSETS, key) ? ASSETS[key] : undefined;
  if (!asset) return undefined;
  const body = cache.get(name) ?? (await readFile(asset.file()));
  cache.set(name, body);
  return { headers: { ...PAGE_HEADERS, 'cache-control': 'public, max-age=3600', 'content-type': asset.type }, body };
}

/** GET /terminal/{id} and its assets: the page opens a session of the container with the token given in its URL's fragment. */
export async function terminalPageRoutes(app: FastifyInstance): Promise<void> {
  app.get('/terminal/:id', { schema: { hide: true } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!/^[0-9a-f]{24}$/.test(id)) throw new HoodyError('NOT_FOUND', 'no such terminal page');
    const file = (await terminalPageFile('page')) as { headers: Record<string, string>; body: Buffer };
    return reply.headers(file.headers).send(file.body);
  });
  app.get('/terminal/assets/:name', { schema: { hide: true } }, async (request, reply) => {
    const { name } = request.params as { name: string };
    const file = await terminalPageFile(`assets/${name}`);
    if (!file) throw new HoodyError('NOT_FOUND', 'no such asset');
    return reply.headers(file.headers).send(file.body);
  });
}
