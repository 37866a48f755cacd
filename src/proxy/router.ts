/**
 * The service-URL router: its own HTTP listener that serves `{label}.{server}.{domain}` and
 * `{alias}.{domain}` from the route table, in the daemon's process. Requests go to the container's
 * address through a keep-alive undici Agent (streamed both ways, never buffered); WebSocket and
 * other upgrades become raw TCP tunnels, tracked per container and closed when it stops. Host is
 * kept, X-Forwarded-For/-Proto/-Host are set, hop-by-hop headers are dropped. A container that is
 * not running (or is being stopped or paused) is answered 503 at once from the daemon's state: a
 * paused container still accepts TCP and would never answer.
 */
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent } from 'undici';
import type { AuthService } from '../core/auth-service.ts';
import type { ErrorCode } from '../api/error-codes.ts';
import { ERROR_CODES } from '../api/error-codes.ts';
import { OPEN_PATH, SESSION_COOKIE, takeCookie, type Grant, type ProxyAccess } from './access.ts';
import { servingState, type HostRoute, type RoutedContainer, type RouteTable } from './route-table.ts';
import type { Actor } from '../core/actor.ts';
import type { TerminalSessions } from '../core/terminals.ts';
import type { Session, TokenSessions } from '../core/token-sessions.ts';
import { HoodyError } from '../core/errors.ts';
import { attachShared, isWebSocketHandshake, terminalPageFile, terminalSocketServer } from '../server/terminal.ts';
import { displayPageFile } from '../server/display-page.ts';
import type { KitDisplays } from '../core/kit.ts';
import { relayDisplay } from './display-relay.ts';
import { WebSocketServer } from 'ws';
import { originHost } from '../server/streaming.ts';

/** A Hoody token in an Authorization header. */
const HOODY_TOKEN = /^bearer\s+hoody_/i;

/**
 * Whether a request authenticated by cookie came from a page of its own host (or typed, or
 * followed from outside a browser): a WebSocket or a state-changing request whose Origin is
 * another host, or that the browser marks as cross-site, is not.
 */
function sameSiteRequest(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = (req.headers.host ?? '').toLowerCase();
  if (origin !== undefined && origin !== 'null') return originHost(origin) === host;
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return false;
  const safe = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
  // an upgrade or an unsafe method with no Origin at all comes from outside a browser, or from an old one
  return safe || origin === undefined;
}

/** The largest frame a display viewer may send: noVNC sends one RFB message per frame, the largest a clipboard text Xvnc takes (256 KiB). */
const DISPLAY_MAX_FRAME = 1024 * 1024;

/** Where a container's terminal and display hosts take their WebSockets. */
const KIT_SOCKET_PATHS = { terminal: '/__hoody/terminal', display: '/__hoody/display' } as const;

export interface RouterDeps {
  table: RouteTable;
  auth: AuthService;
  /** The container's terminal (its built-in `terminal` program): sessions and the actor of a session cookie. */
  terminals?: {
    sessions: Pick<TerminalSessions, 'attach'>;
    /** The actor of a grant (a session cookie's user and token); undefined when the token is gone. */
    actorOf(grant: Grant): Promise<Actor | undefined>;
  };
  access: ProxyAccess;
  /** The kit's displays: their VNC sockets and who is viewing them. */
  displays?: Pick<KitDisplays, 'socketOf' | 'isActive' | 'addViewer'>;
  /** Which of these token ids still exist (a session cookie ends with its token). */
  existingTokenIds(ids: readonly string[]): Promise<Set<string>>;
  /** Counts a private program's upgraded connections against their user's cap, and closes them when their token is deleted. */
  sessions?: Pick<TokenSessions, 'open'>;
  /**
   * Where a host this router does not serve is served: the router of the server whose container
   * it names (`{label}.{server}.{domain}`, or an alias of a container there); undefined: nowhere.
   */
  remote?: (host: string) => Promise<string | undefined>;
  /** Whether cookies are marked Secure (the URLs users open are https). */
  secureCookies: boolean;
  warn?: (message: string, err?: unknown) => void;
}

/** Headers of one hop, never forwarded (RFC 9110 7.6.1), plus what undici refuses to be given. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'expect', 'http2-settings']);
/** Headers the router sets itself. */
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
/** Marks a request one server's router relayed to another's. */
const RELAYED = 'x-hoody-relayed';
/** How long a relayed upgrade waits for the other router's connect (as plain relays do, through undici). */
const RELAY_CONNECT_TIMEOUT_MS = 5_000;
/** How long an upgrade waits for the head of its answer (a program's, or another router's). */
const UPGRADE_ANSWER_TIMEOUT_MS = 30_000;
/** Seconds a client is told to wait before trying a service that is not running again. */
const RETRY_AFTER_S = 5;
/** How long a token's existence is trusted for session cookies without asking the store again. */
const TOKEN_CHECK_MS = 1000;

export class ServiceRouter {
  private readonly agent = new Agent({ connections: 256, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000, bodyTimeout: 0, headersTimeout: 300_000, connect: { timeout: 5_000 } });
  private server: Server | undefined;
  private readonly tokenChecks = new Map<string, { exists: boolean; until: number }>();
  private readonly terminalSockets = terminalSocketServer();
  /** noVNC's WebSocket carries RFB in binary frames; its subprotocol, when it asks one, is `binary`. */
  private readonly displaySockets = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: DISPLAY_MAX_FRAME, handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false) });

  constructor(private readonly deps: RouterDeps) {}

  /** Starts listening; answers the URL it listens on. */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 }, (req, res) => this.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  }

  /** The port it listens on (tests ask for port 0). */
  get port(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  async close(): Promise<void> {
    for (const ws of this.terminalSockets.clients) ws.terminate();
    for (const ws of this.displaySockets.clients) ws.terminate();
    // upgraded sockets (tunnels to programs, relays to other routers) hold server.close() open
    for (const socket of this.upgraded) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    // destroy, not close: close waits for every request still open to a program (an endless stream)
    await this.agent.destroy().catch(() => undefined);
  }

  /** Every upgraded client connection while it is open. */
  private readonly upgraded = new Set<Socket>();

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res).catch((err: unknown) => {
      this.deps.warn?.('router: answering a request', err);
      if (!res.headersSent) answer(req, res, 502, 'INTERNAL_ERROR', 'the router failed to answer');
      else res.destroy();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = hostOf(req);
    const found = host ? this.deps.table.lookup(host) : undefined;
    if (!host || !found) {
      // a request another server's router relayed is never relayed again (their reads of the database may differ for a moment)
      const elsewhere = host && this.deps.remote && req.headers[RELAYED] === undefined ? await this.deps.remote(host) : undefined;
      return host && elsewhere ? this.relayToServer(req, res, host, elsewhere) : this.unknown(req, res, host);
    }
    const { route, container } = found;
    const url = req.url ?? '/';
    if (url === OPEN_PATH || url.startsWith(`${OPEN_PATH}?`)) return this.open(req, res, host, container);
    const access = await this.authorize(req, route, container, host);
    if (access.refused) return answer(req, res, access.refused.status, access.refused.code, access.refused.message);
    if (route.builtin) return this.builtin(req, res, route, container);
    const target = targetOf(route, container);
    if ('refused' in target) return answer(req, res, 503, target.refused.code, target.refused.message, target.refused.details);
    // an alias serves its target path and below, never above it
    if (route.targetPath !== '/' && hasDotSegment(url)) return answer(req, res, 400, 'INVALID_INPUT', 'a path with . or .. segments is not served through an alias with a target path');

    const headers = forwardHeaders(req, host, access.stripAuthorization);
    // undici's own handler interface: the answer goes to the client chunk by chunk, with no response
    // stream, promise or AbortController per request (those were most of the router's own cost)
    this.agent.dispatch(
      { origin: `http://${target.address}:${target.port}`, path: joinPath(route.targetPath, url), method: req.method as 'GET', headers, body: hasBody(req) ? req : null },
      new RelayHandler(req, res, (err) => {
        // the container stopped or its program is not listening (yet): the same 503 as a stopped one, so a client retries
        const state = servingState(container);
        if (!state.ok) return answer(req, res, 503, 'CONTAINER_NOT_RUNNING', `the container is ${state.status}`, { status: state.status });
        answer(req, res, 503, 'PROGRAM_NOT_ANSWERING', `nothing answered on port ${target.port} of the container (${errorCode(err)})`, { port: target.port });
      }),
    );
  }

  /**
   * A service of a container on another server: the request goes to that server's router as it
   * came (Host, Authorization and session cookie included: that router checks them), with the
   * X-Forwarded-* headers a program would get.
   */
  private relayToServer(req: IncomingMessage, res: ServerResponse, host: string, origin: string): void {
    // as to a program, but the token and the session cookie go too: that router checks them
    const headers = [...forwardHeaders(req, host, false, false, true), RELAYED, '1'];
    this.agent.dispatch(
      { origin, path: req.url ?? '/', method: req.method as 'GET', headers, body: hasBody(req) ? req : null },
      new RelayHandler(req, res, (err) => answer(req, res, 503, 'SERVER_OFFLINE', `the server of ${host} could not be reached (${errorCode(err)})`), true),
    );
  }

  /** A program the daemon serves itself: the terminal's or the display's page and files (their WebSockets are upgrades of KIT_SOCKET_PATHS). */
  private async builtin(req: IncomingMessage, res: ServerResponse, route: HostRoute, container: RoutedContainer): Promise<void> {
    const state = servingState(container);
    if (!state.ok) return answer(req, res, 503, 'CONTAINER_NOT_RUNNING', `the container is ${state.status}`, { status: state.status });
    const kind = route.builtin === 'display' ? 'display' : 'terminal';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const assets = `/${kind}/assets/`;
    const name = path === '/' ? 'page' : path.startsWith(assets) ? `assets/${path.slice(assets.length)}` : undefined;
    const read = kind === 'display' ? displayPageFile : terminalPageFile;
    const file = name && (req.method === 'GET' || req.method === 'HEAD') ? await read(name) : undefined;
    if (!file) return answer(req, res, 404, 'NOT_FOUND', `the ${kind} serves /, ${assets}… and its WebSocket ${KIT_SOCKET_PATHS[kind]}, not ${path}`);
    res.writeHead(200, { ...file.headers, 'content-length': String(file.body.length) });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  /** A host with no route: 404, or 503 for an alias deleted moments ago (it is being pointed elsewhere). */
  private unknown(req: IncomingMessage, res: ServerResponse, host: string | undefined): void {
    if (host && this.deps.table.recentlyRemoved(host)) return answer(req, res, 503, 'ALIAS_NOT_BOUND', `the alias ${host} was deleted moments ago; it answers again once it is created anew`);
    answer(req, res, 404, 'NOT_FOUND', `no service is served at ${host ?? 'this host'}`);
  }

  /** Trades an open link's ticket for a session cookie of this host, then goes to the service's root. */
  private async open(req: IncomingMessage, res: ServerResponse, host: string, container: RoutedContainer): Promise<void> {
    const ticket = new URL(req.url ?? '/', 'http://x').searchParams.get('ticket') ?? '';
    const grant = this.deps.access.verify('ticket', ticket, host);
    if (!grant || !(await this.tokenExists(grant.token))) return answer(req, res, 401, 'UNAUTHORIZED', 'this open link is not valid (expired, for another service, or its token was deleted): ask the API for a new one');
    if (grant.user !== container.ownerId) return answer(req, res, 404, 'NOT_FOUND', `no service is served at ${host}`);
    const cookie = `${SESSION_COOKIE}=${this.deps.access.session(host, grant)}; Path=/; Max-Age=${this.deps.access.sessionSeconds}; HttpOnly; SameSite=Lax${this.deps.secureCookies ? '; Secure' : ''}`;
    res.writeHead(303, { location: '/', 'set-cookie': cookie, 'cache-control': 'no-store', 'content-length': '0' });
    res.end();
  }

  /**
   * Who may use a private service: its container's owner, with a session cookie of this host or
   * a bearer token (which is then not forwarded). Another user is told it does not exist.
   */
  private async authorize(
    req: IncomingMessage,
    route: HostRoute,
    container: RoutedContainer,
    host: string,
  ): Promise<{ refused?: { status: number; code: ErrorCode; message: string }; stripAuthorization: boolean; grant?: Grant; actor?: Actor }> {
    // a Hoody token sent to a public program is not handed to the container
    if (route.public && !route.builtin) return { stripAuthorization: HOODY_TOKEN.test(req.headers.authorization ?? '') };
    const notFound = { refused: { status: 404, code: 'NOT_FOUND' as const, message: `no service is served at ${host}` }, stripAuthorization: false };
    // every value: a sibling host may have set one more of the name for a parent domain
    let grant: Grant | undefined;
    for (const value of takeCookie(req.headers.cookie, SESSION_COOKIE).values) {
      grant = this.deps.access.verify('session', value, host);
      if (grant) break;
    }
    if (grant && !(await this.tokenExists(grant.token))) grant = undefined;
    if (grant) {
      // the browser sends the cookie whatever page asked: another site's (a tenant's page on a sibling host) may not use it
      if (!sameSiteRequest(req)) return { refused: { status: 403, code: 'FORBIDDEN', message: 'a request from another site may not use this service\'s session cookie' }, stripAuthorization: false };
      return grant.user === container.ownerId ? { stripAuthorization: false, grant } : notFound;
    }
    const header = req.headers.authorization;
    if (header && /^bearer /i.test(header)) {
      const actor = this.deps.auth.rememberedActor(header) ?? (await this.deps.auth.authenticate(header).catch(() => undefined));
      if (actor) return actor.userId === container.ownerId ? { stripAuthorization: true, actor } : notFound;
    }
    return {
      refused: { status: 401, code: 'UNAUTHORIZED', message: 'this service is private: send "Authorization: Bearer <token>" of its owner, or open it through the link GET /api/v1/containers/{id}/services gives' },
      stripAuthorization: false,
    };
  }

  private async tokenExists(id: string): Promise<boolean> {
    const now = performance.now();
    const known = this.tokenChecks.get(id);
    if (known && known.until > now) return known.exists;
    const exists = (await this.deps.existingTokenIds([id])).has(id);
    if (this.tokenChecks.size > 10_000) this.tokenChecks.clear();
    this.tokenChecks.set(id, { exists, until: now + TOKEN_CHECK_MS });
    return exists;
  }

  /** An upgrade (WebSocket): the request head is replayed to the container, then bytes flow both ways until either side or a stop ends it. */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // an upgraded connection is the server's no more: closing the router ends it
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    this.tunnel(req, socket, head).catch((err: unknown) => {
      this.deps.warn?.('router: opening a tunnel', err);
      refuseUpgrade(socket, 502, 'INTERNAL_ERROR', 'the router failed to open the connection');
    });
  }

  /**
   * The kit's WebSockets on a container's terminal and display hosts: the owner's cookie (or
   * token) opens them, as their pages do. terminal-N attaches to the container's shared session N;
   * the display relays to its VNC socket (`?view_only=1`: the viewer only watches).
   */
  private async kit(req: IncomingMessage, socket: Socket, head: Buffer, route: HostRoute, container: RoutedContainer, access: { grant?: Grant; actor?: Actor }): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const terminals = this.deps.terminals;
    const kind = route.builtin === 'display' ? 'display' : 'terminal';
    if (url.pathname !== KIT_SOCKET_PATHS[kind] || !terminals || (kind === 'display' && !this.deps.displays)) return refuseUpgrade(socket, 404, 'NOT_FOUND', `the ${kind}'s WebSocket is ${KIT_SOCKET_PATHS[kind]}`);
    if (!isWebSocketHandshake(req)) return refuseUpgrade(socket, 400, 'INVALID_INPUT', 'not a WebSocket handshake');
    // a page of another site must not open it with the visitor's cookie
    const origin = req.headers.origin;
    if (origin !== undefined && originHost(origin) !== (req.headers.host ?? '').toLowerCase()) return refuseUpgrade(socket, 403, 'FORBIDDEN', `a ${kind} is opened only from its own page`);
    const state = servingState(container);
    if (!state.ok) return refuseUpgrade(socket, 503, 'CONTAINER_NOT_RUNNING', `the container is ${state.status}`);
    const actor = access.actor ?? (access.grant ? await terminals.actorOf(access.grant) : undefined);
    if (!actor) return refuseUpgrade(socket, 401, 'UNAUTHORIZED', 'sign in again: the token of this session was deleted');
    const viewOnly = kind === 'display' && url.searchParams.get('view_only') === '1';
    if (actor.readOnly && !viewOnly) return refuseUpgrade(socket, 403, 'FORBIDDEN', `this token is read-only: ${kind === 'display' ? 'open the display with ?view_only=1' : 'a terminal can change the container'}`);
    if (kind === 'display') return this.display(req, socket, head, container, actor, viewOnly);
    const size = (name: string): number => Math.min(1000, Math.max(1, Number(url.searchParams.get(name)) || (name === 'cols' ? 80 : 24)));
    // terminal-N is the container's shared session N: every page open on it sees the same screen
    attachShared(this.terminalSockets, req, socket, head, {
      terminals: terminals.sessions,
      actor,
      id: container.id,
      index: route.index,
      cols: size('cols'),
      rows: size('rows'),
      address: req.socket.remoteAddress ?? null,
      warn: this.deps.warn,
    });
  }

  /** A viewer of the container's display, counted against its user's cap and closed with its token or when the container stops. */
  private async display(req: IncomingMessage, socket: Socket, head: Buffer, container: RoutedContainer, actor: Actor, viewOnly: boolean): Promise<void> {
    const displays = this.deps.displays;
    if (!displays) return;
    if (!(await displays.isActive(container.id))) return refuseUpgrade(socket, 503, 'PROGRAM_NOT_ANSWERING', 'the display is not running (yet): try again in a moment');
    let session: Session | undefined;
    try {
      session = this.deps.sessions?.open(actor, 'tunnel');
    } catch (err) {
      if (err instanceof HoodyError) return refuseUpgrade(socket, ERROR_CODES[err.code].status, err.code, err.message);
      throw err;
    }
    if (socket.destroyed) return session?.close();
    container.tunnels.add(socket);
    // an upgrade the WebSocket server aborts never calls back: the socket's end gives the slot back then
    let relayed = false;
    socket.once('close', () => {
      if (relayed) return;
      session?.close();
      container.tunnels.delete(socket);
    });
    this.displaySockets.handleUpgrade(req, socket, head, (ws) => {
      relayed = true;
      const remove = displays.addViewer({ id: container.id, project_id: container.projectId }, { userId: actor.userId, address: req.socket.remoteAddress ?? null, viewOnly }, () => ws.close(1001, 'the display stopped'));
      session?.signal.addEventListener('abort', () => ws.close(4001, 'the token was deleted'), { once: true });
      relayDisplay(ws, displays.socketOf(container.id), viewOnly, () => {
        remove();
        session?.close();
        container.tunnels.delete(socket);
      });
    });
  }

  private async tunnel(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const host = hostOf(req);
    const found = host ? this.deps.table.lookup(host) : undefined;
    if (!host || !found) {
      if (host && this.deps.table.recentlyRemoved(host)) return refuseUpgrade(socket, 503, 'ALIAS_NOT_BOUND', `the alias ${host} was deleted moments ago`);
      // a service of another server: its router takes the upgrade (never relayed twice)
      const elsewhere = host && this.deps.remote && req.headers[RELAYED] === undefined ? await this.deps.remote(host) : undefined;
      if (host && elsewhere) return this.relayUpgradeToServer(req, socket, head, host, elsewhere);
      return refuseUpgrade(socket, 404, 'NOT_FOUND', `no service is served at ${host ?? 'this host'}`);
    }
    const { route, container } = found;
    const access = await this.authorize(req, route, container, host);
    if (access.refused) return refuseUpgrade(socket, access.refused.status, access.refused.code, access.refused.message);
    if (route.builtin) return this.kit(req, socket, head, route, container, access);
    const target = targetOf(route, container);
    if ('refused' in target) return refuseUpgrade(socket, 503, target.refused.code, target.refused.message);
    if (!isBodilessGet(req)) return refuseUpgrade(socket, 400, 'INVALID_INPUT', 'an upgrade is a GET request without a body');
    if (route.targetPath !== '/' && hasDotSegment(req.url ?? '/')) return refuseUpgrade(socket, 400, 'INVALID_INPUT', 'a path with . or .. segments is not served through an alias with a target path');
    if (socket.destroyed) return;
    // a private program's connection is its owner's token's: capped per user, closed when the token is deleted
    let session: Session | undefined;
    const owner = access.actor ?? (access.grant ? { userId: access.grant.user, tokenId: access.grant.token } : undefined);
    if (owner && this.deps.sessions) {
      try {
        session = this.deps.sessions.open(owner, 'tunnel');
      } catch (err) {
        if (!(err instanceof HoodyError)) throw err;
        return refuseUpgrade(socket, ERROR_CODES[err.code].status, err.code, err.message);
      }
    }
    const upstream = connect({ host: target.address, port: target.port });
    const close = (): void => {
      upstream.destroy();
      socket.destroy();
    };
    session?.signal.addEventListener('abort', close, { once: true });
    // tracked before it connects: a stop meanwhile closes it too
    container.tunnels.add(socket);
    socket.once('close', () => {
      container.tunnels.delete(socket);
      session?.close();
      upstream.destroy();
    });
    upstream.once('error', (err: Error & { code?: string }) => {
      if (upstream.bytesRead === 0 && socket.writable && !socket.destroyed) refuseUpgrade(socket, 503, 'PROGRAM_NOT_ANSWERING', `nothing answered on port ${target.port} of the container (${err.code ?? err.message})`);
      else close();
    });
    upstream.once('close', () => socket.destroy());
    upstream.once('connect', () => {
      upstream.setNoDelay(true);
      socket.setNoDelay(true);
      upstream.write(requestHead(req, joinPath(route.targetPath, req.url ?? '/'), forwardHeaders(req, host, access.stripAuthorization, true)));
      spliceOnceSwitched(upstream, socket, head, close);
    });
  }

  /**
   * An upgrade for a service of a container on another server: the request head goes to that
   * server's router as it came (Host, token and session cookie: that router checks them, and
   * counts and closes the connection as its own), then bytes flow both ways.
   */
  private relayUpgradeToServer(req: IncomingMessage, socket: Socket, head: Buffer, host: string, origin: string): void {
    if (!isBodilessGet(req)) return refuseUpgrade(socket, 400, 'INVALID_INPUT', 'an upgrade is a GET request without a body');
    if (socket.destroyed) return;
    const url = new URL(origin);
    const tls = url.protocol === 'https:';
    const port = Number(url.port || (tls ? 443 : 80));
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const upstream = tls ? tlsConnect({ host: hostname, port, servername: isIP(hostname) ? undefined : hostname, ALPNProtocols: ['http/1.1'] }) : connect({ host: hostname, port });
    const close = (): void => {
      upstream.destroy();
      socket.destroy();
    };
    // a server that does not answer the connect is offline, as for plain relays (undici's connect timeout)
    const connecting = setTimeout(() => upstream.destroy(Object.assign(new Error('no answer to the connect'), { code: 'ETIMEDOUT' })), RELAY_CONNECT_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(connecting);
      upstream.destroy();
    });
    upstream.once('error', (err: Error & { code?: string }) => {
      if (upstream.bytesRead === 0 && socket.writable && !socket.destroyed) refuseUpgrade(socket, 503, 'SERVER_OFFLINE', `the server of ${host} could not be reached (${err.code ?? err.message})`);
      else close();
    });
    upstream.once('close', () => socket.destroy());
    upstream.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(connecting);
      upstream.setNoDelay(true);
      socket.setNoDelay(true);
      upstream.write(requestHead(req, req.url ?? '/', [...forwardHeaders(req, host, false, true, true), RELAYED, '1']));
      spliceOnceSwitched(upstream, socket, head, close);
    });
  }
}

/** An upgrade is a GET without a body (RFC 6455): anything else would smuggle requests past the router's checks. */
function isBodilessGet(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] ?? '0') === '0';
}

/**
 * After an upgrade's request head went upstream: the answer is relayed to the client, and the
 * client's bytes go on only once the other end switched protocols (101); until then nothing more
 * is sent that could be read as another request. An answer that does not switch is the whole exchange.
 */
function spliceOnceSwitched(upstream: Socket, socket: Socket, head: Buffer, close: () => void): void {
  upstream.pipe(socket);
  let seen = Buffer.alloc(0);
  // an answer's head that never ends holds two sockets: not for ever
  const deadline = setTimeout(close, UPGRADE_ANSWER_TIMEOUT_MS);
  socket.once('close', () => clearTimeout(deadline));
  const onHead = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const end = seen.indexOf('\r\n\r\n');
    if (end < 0) {
      if (seen.length > 64 * 1024) close();
      return;
    }
    clearTimeout(deadline);
    upstream.off('data', onHead);
    if (/^HTTP\/1\.[01] 101 /.test(seen.subarray(0, Math.min(end, 64)).toString('latin1'))) {
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream);
    } else {
      upstream.once('end', () => socket.end());
    }
  };
  upstream.on('data', onHead);
}

/** The request's host, lower case, without its port. */
function hostOf(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (!host) return undefined;
  const colon = host.lastIndexOf(':');
  const name = colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
  return name.toLowerCase().replace(/\.$/, '');
}

/** Where a route's requests go now, or why they cannot. */
function targetOf(route: HostRoute, c: RoutedContainer): { address: string; port: number } | { refused: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
  const state = servingState(c);
  if (!state.ok) return { refused: { code: 'CONTAINER_NOT_RUNNING', message: `the container is ${state.status}`, details: { status: state.status } } };
  const program = c.programs.find((p) => p.name === route.program && p.index === route.index);
  if (!program) return { refused: { code: 'PROGRAM_NOT_ANSWERING', message: `the container declares no program "${route.program}" with index ${route.index}` } };
  if (!c.address) return { refused: { code: 'PROGRAM_NOT_ANSWERING', message: 'the container has network "none": the router cannot reach it' } };
  return { address: c.address, port: program.port };
}

/** Whether a request path climbs out of its prefix: a `.` or `..` segment, raw or percent-encoded. */
export function hasDotSegment(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path.split('/').some((seg) => {
    let decoded = seg;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return true;
    }
    return decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\');
  });
}

/** The alias's target path before the request's path (`/app` + `/x?y` → `/app/x?y`). */
export function joinPath(targetPath: string, url: string): string {
  if (targetPath === '/' || targetPath === '') return url.startsWith('/') ? url : `/${url}`;
  const base = targetPath.endsWith('/') ? targetPath.slice(0, -1) : targetPath;
  return url === '/' ? `${base}/` : `${base}${url.startsWith('/') ? url : `/${url}`}`;
}

/**
 * The headers sent to the container, as a flat list: the client's (hop-by-hop ones and the
 * router's own credentials dropped; an upgrade keeps Connection and Upgrade), then X-Forwarded-*.
 * A client on loopback (a TLS terminator in front) may give X-Forwarded-Proto and -Host; anyone's
 * X-Forwarded-For is extended with its address.
 */
function forwardHeaders(req: IncomingMessage, host: string, stripAuthorization: boolean, upgrade = false, keepSessionCookie = false): string[] {
  const out: string[] = [];
  const raw = req.rawHeaders;
  const connectionTokens = new Set((req.headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim()));
  let priorFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (upgrade && lower === 'upgrade') {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || connectionTokens.has(lower)) continue;
    if (FORWARDED.has(lower)) {
      if (lower === 'x-forwarded-for') priorFor = priorFor ? `${priorFor}, ${value}` : value;
      continue;
    }
    if (lower === 'authorization' && stripAuthorization) continue;
    if (lower === 'cookie' && !keepSessionCookie) {
      const rest = takeCookie(value, SESSION_COOKIE).rest;
      if (rest) out.push(name, rest);
      continue;
    }
    out.push(name, value);
  }
  const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const trusted = peer === '127.0.0.1' || peer === '::1';
  const proto = trusted && typeof req.headers['x-forwarded-proto'] === 'string' ? req.headers['x-forwarded-proto'] : 'http';
  const fwdHost = trusted && typeof req.headers['x-forwarded-host'] === 'string' ? req.headers['x-forwarded-host'] : (req.headers.host ?? host);
  out.push('X-Forwarded-For', priorFor ? `${priorFor}, ${peer}` : peer, 'X-Forwarded-Proto', proto, 'X-Forwarded-Host', fwdHost);
  // an upgrade names only itself as the connection's option: no header of the router's may be declared hop-by-hop
  if (upgrade) out.push('Connection', 'Upgrade');
  return out;
}

/** Whether a request carries a body (sent on as a stream), by its Content-Length or Transfer-Encoding. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/**
 * The upstream's response headers (undici's raw list: name, value, …) as a flat list for
 * writeHead, without hop-by-hop ones, and without a Set-Cookie of the router's own cookie.
 */
export function responseHeaders(raw: readonly Buffer[], keepSessionCookie = false): string[] {
  let connectionTokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as Buffer).length === 10 && (raw[i] as Buffer).toString('latin1').toLowerCase() === 'connection') {
      connectionTokens ??= new Set();
      for (const t of (raw[i + 1] as Buffer).toString('latin1').toLowerCase().split(',')) connectionTokens.add(t.trim());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionTokens?.has(lower)) continue;
    const value = (raw[i + 1] as Buffer).toString('latin1');
    // a program may not set (or shadow) the router's own cookie
    if (lower === 'set-cookie' && !keepSessionCookie && value.split('=')[0]?.trim() === SESSION_COOKIE) continue;
    out.push(name, value);
  }
  return out;
}

function requestHead(req: IncomingMessage, path: string, headers: string[]): string {
  let head = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

const errorCode = (err: unknown): string => {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  return e.cause?.code ?? e.code ?? e.message ?? String(err);
};

/** The error envelope of the API (JSON), or a small page for a browser; 503 adds Retry-After. */
function answer(req: IncomingMessage, res: ServerResponse, status: number, code: ErrorCode, message: string, details?: Record<string, unknown>): void {
  const wantsHtml = /\btext\/html\b/.test(req.headers.accept ?? '');
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (status === 503) headers['retry-after'] = String(RETRY_AFTER_S);
  let body: string;
  if (wantsHtml) {
    headers['content-type'] = 'text/html; charset=utf-8';
    headers['content-security-policy'] = "default-src 'none'; style-src 'unsafe-inline'";
    body = htmlPage(status, code, message);
  } else {
    headers['content-type'] = 'application/json; charset=utf-8';
    body = JSON.stringify({ statusCode: status, error: reasonOf(status), code, message, ...(details ? { details } : {}) });
  }
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The same answer on a socket whose request asked for an upgrade. */
function refuseUpgrade(socket: Socket, status: number, code: ErrorCode, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ statusCode: status, error: reasonOf(status), code, message });
  const retry = status === 503 ? `Retry-After: ${RETRY_AFTER_S}\r\n` : '';
  socket.end(`HTTP/1.1 ${status} ${reasonOf(status)}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`);
}

function reasonOf(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function htmlPage(status: number, code: ErrorCode, message: string): string {
  const title = status === 503 ? 'This service is not available right now' : status === 401 ? 'This service is private' : 'No such service';
  const hint = status === 503 ? 'It will be back once its container runs again; this page does not refresh by itself.' : status === 401 ? 'Open it through its link from Hoody (the API, the CLI or the dashboard).' : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status} ${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{color:#555}</style></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${hint ? `<p>${escapeHtml(hint)}</p>` : ''}<p><code>${status} ${escapeHtml(code)}</code> · ${escapeHtml(ERROR_CODES[code].description.split('.')[0] ?? '')}</p></body></html>`;
}

/**
 * Relays one answer of a program to the client (undici's dispatch handler): the head once it is
 * in, each chunk as it comes (server-sent events flush), at the client's pace (undici stops
 * reading the program while the client's buffer is full). A client that goes aborts the upstream
 * request at once, even before the program answered; a program that fails before its head is
 * answered by `failed`, after it ends the client's answer.
 */
export class RelayHandler {
  private abort: ((err?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private clientGone = false;
  private readonly socket: Socket;
  private readonly onDrain = (): void => this.resume?.();
  /**
   * The answer is done with, or its client went. The socket is watched too: an answer queued
   * behind another on a pipelining connection gets no `close` of its own when the connection
   * dies, and its request to the program would stay open for nobody.
   */
  private readonly onClose = (): void => {
    this.socket.off('close', this.onClose);
    this.res.off('close', this.onClose);
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.abort?.(new Error('the client went away'));
  };

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly failed: (err: Error) => void,
    /** The answer is another server's router's (its session cookie of an open link passes), not a program's. */
    private readonly fromRouter = false,
  ) {
    this.socket = req.socket;
    this.socket.on('close', this.onClose);
    res.on('close', this.onClose);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.clientGone || this.res.destroyed || this.socket.destroyed) abort(new Error('the client went away'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx (103 Early Hints): the final answer follows
    if (statusCode < 200) return true;
    this.resume = resume;
    this.res.on('drain', this.onDrain);
    this.res.writeHead(statusCode, responseHeaders(rawHeaders, this.fromRouter));
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.res.off('drain', this.onDrain);
    this.res.end();
  }

  onError(err: Error): void {
    this.res.off('drain', this.onDrain);
    if (this.clientGone || this.res.destroyed) return;
    if (this.res.headersSent) this.res.destroy();
    else this.failed(err);
  }
}
