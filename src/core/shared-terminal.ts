/**
 * A terminal session several clients share: one shell (one `runc exec -t`) per container and
 * index, whose output goes to every attached client. The daemon keeps the screen in a headless
 * xterm.js, so a client that attaches late gets the current screen, not an empty one.
 *
 * Attaching without a race: the client is added with a buffer, then an empty write is queued in
 * the mirror. Writes complete in order, so when that one does, the mirror holds exactly the output
 * that came before the client was added: the client gets a reset and the mirror's serialized
 * screen (with the state the serializer leaves out: scroll region, cursor visibility, mouse
 * encoding, line-drawing charset), then the start of a sequence or character the output was cut
 * in the middle of (the mirror has parsed it, the client has not), then the buffered output, then
 * goes live.
 *
 * Pacing: the shell's output is paused while the mirror lags behind by more than a megabyte (it
 * parses at 15 MB/s or more). A client slower than the others is not waited for: past
 * STALE_BYTES waiting for it, it gets nothing more until it has drained, then the screen anew.
 */
import headless from '@xterm/headless';
import { SerializeAddon } from '@xterm/addon-serialize';
import { newId, nowIso } from './ids.ts';
import type { TerminalSession } from './terminals.ts';

/** The address a client came from and who it is. */
export interface ClientInfo {
  userId: string;
  /** The client's address as the server saw it (the forwarded one behind a router); null when unknown. */
  address: string | null;
  /** The token it authenticated with (its attachment ends when the token is deleted). */
  tokenId?: string;
}

/** An attached client as `runtime_info` shows it. */
export interface ClientView {
  id: string;
  user_id: string;
  address: string | null;
  since: string;
}

/** How a client is reached: the transport (a WebSocket) behind it. */
export interface ClientSink {
  /** Terminal output; `done` once it is handed to the network. */
  output(chunk: Buffer, done: () => void): void;
  /** A control message (JSON on the wire). */
  control(message: Record<string, unknown>): void;
  /** Bytes sent and not yet handed to the network. */
  pending(): number;
  /** Ends the connection. */
  close(code: number, reason: string): void;
}

/** Output waiting to be parsed by the mirror past which the shell is paused, and below which it goes on. */
const MIRROR_HIGH = 1024 * 1024;
const MIRROR_LOW = 256 * 1024;
/** Bytes waiting for one client past which it is left behind (and sent the screen again once drained below RESYNC_BELOW). */
const STALE_BYTES = 8 * 1024 * 1024;
const RESYNC_BELOW = 256 * 1024;
/** How often clients left behind are checked for having drained. */
const STALE_CHECK_MS = 200;
/** Input waiting for the shell past which the mirror's answers to its queries are dropped. */
const REPLY_BACKLOG = 4096;
/** Resizes are applied at most this often (the last one asked wins): each reflows the mirror. */
const RESIZE_EVERY_MS = 50;
/** Lines of history the mirror keeps (and a late joiner gets). */
const SCROLLBACK = 1000;

type ClientState = 'joining' | 'live' | 'stale';

export class SharedClient {
  readonly id = newId();
  readonly since = nowIso();
  state: ClientState = 'joining';
  /** Output that came while joining. */
  held: Buffer[] = [];

  constructor(
    readonly info: ClientInfo,
    readonly sink: ClientSink,
    readonly onLeave?: () => void,
  ) {}

  view(): ClientView {
    return { id: this.id, user_id: this.info.userId, address: this.info.address, since: this.since };
  }
}

export class SharedTerminal {
  private readonly mirror: InstanceType<typeof headless.Terminal>;
  private readonly serializer = new SerializeAddon();
  private readonly clients = new Map<string, SharedClient>();
  private mirrorPending = 0;
  private pausedForMirror = false;
  private staleTimer: NodeJS.Timeout | undefined;
  private resizedAt = 0;
  private resizeTimer: NodeJS.Timeout | undefined;
  private wantedSize: { cols: number; rows: number } | undefined;
  /** The output's last bytes: where an unfinished escape sequence or character starts. */
  private tail: Buffer = Buffer.alloc(0);
  private readonly detachListeners: ((client: SharedClient) => void)[] = [];

  constructor(
    readonly index: number,
    readonly session: TerminalSession,
    cols: number,
    rows: number,
  ) {
    this.mirror = new headless.Terminal({ cols, rows, scrollback: SCROLLBACK, allowProposedApi: true });
    this.mirror.loadAddon(this.serializer as never);
    // the session's programs ask the terminal things (where the cursor is, what terminal it is):
    // the mirror answers, once, where every client would answer each (see isTerminalReport)
    // (not while input waits: a program that asks without reading would have the daemon queue answers without end)
    this.mirror.onData((reply: string) => {
      if (session.inputBacklog <= REPLY_BACKLOG) void session.write(Buffer.from(reply, 'utf8')).catch(() => undefined);
    });
    session.output.on('data', (chunk: Buffer) => this.fanOut(chunk));
    session.onExit((code) => {
      for (const c of this.clients.values()) {
        c.sink.control({ type: 'exit', code });
        this.drop(c, 1000, 'exited');
      }
    });
    session.onEnd(() => {
      for (const c of this.clients.values()) this.drop(c, 1000, 'the session ended');
      clearInterval(this.staleTimer);
      clearTimeout(this.resizeTimer);
      this.mirror.dispose();
    });
  }

  /** Adds a client: it gets the current screen, then the output as it comes; `onLeave` is called once when it leaves. */
  attach(info: ClientInfo, sink: ClientSink, onLeave?: () => void): SharedClient {
    const client = new SharedClient(info, sink, onLeave);
    this.clients.set(client.id, client);
    sink.control({ type: 'session', id: this.session.id, index: this.index, client: client.id, cols: this.session.size.cols, rows: this.session.size.rows });
    this.sendScreen(client);
    this.tellClients();
    return client;
  }

  /** Removes a client; the session goes on. */
  detach(client: SharedClient): void {
    if (!this.clients.delete(client.id)) return;
    client.onLeave?.();
    for (const l of this.detachListeners) l(client);
    if (!this.session.isEnded) this.tellClients();
  }

  /** Every client learns who is attached (`{"type":"clients","index","clients":[…]}`). */
  private tellClients(): void {
    const message = { type: 'clients', index: this.index, clients: this.clientViews() };
    for (const c of this.clients.values()) c.sink.control(message);
  }

  /** Called for each client that leaves, however it leaves. */
  onDetach(listener: (client: SharedClient) => void): void {
    this.detachListeners.push(listener);
  }

  clientViews(): ClientView[] {
    return [...this.clients.values()].map((c) => c.view());
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** The last resize wins: the shell, the mirror and every client learn the new size (at most every RESIZE_EVERY_MS; the last asked is applied). */
  resize(askedCols: number, askedRows: number): void {
    if (this.session.isEnded) return;
    const cols = clampCols(askedCols);
    const rows = clampRows(askedRows);
    const wait = this.resizedAt + RESIZE_EVERY_MS - Date.now();
    if (wait > 0) {
      this.wantedSize = { cols, rows };
      this.resizeTimer ??= setTimeout(() => {
        this.resizeTimer = undefined;
        const wanted = this.wantedSize;
        this.wantedSize = undefined;
        if (wanted) this.resize(wanted.cols, wanted.rows);
      }, wait);
      this.resizeTimer.unref();
      return;
    }
    this.resizedAt = Date.now();
    const { cols: was, rows: wasRows } = this.session.size;
    if (was === cols && wasRows === rows) return;
    this.session.resize(cols, rows);
    this.mirror.resize(cols, rows);
    for (const c of this.clients.values()) c.sink.control({ type: 'size', cols, rows });
  }

  /** Ends the clients of one token (it was deleted), or all when absent. */
  dropClients(filter: (c: SharedClient) => boolean, reason: string): void {
    for (const c of this.clients.values()) if (filter(c)) this.drop(c, 4001, reason);
  }

  private drop(client: SharedClient, code: number, reason: string): void {
    client.sink.close(code, reason);
    this.detach(client);
  }

  private fanOut(chunk: Buffer): void {
    this.tail = chunk.length >= TAIL_BYTES ? chunk.subarray(chunk.length - TAIL_BYTES) : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
    this.mirrorPending += chunk.length;
    this.mirror.write(chunk, () => {
      this.mirrorPending -= chunk.length;
      if (this.pausedForMirror && this.mirrorPending < MIRROR_LOW) {
        this.pausedForMirror = false;
        this.session.output.resume();
      }
    });
    if (!this.pausedForMirror && this.mirrorPending > MIRROR_HIGH) {
      this.pausedForMirror = true;
      this.session.output.pause();
    }
    for (const c of this.clients.values()) {
      if (c.state === 'joining') c.held.push(chunk);
      else if (c.state === 'live') {
        if (c.sink.pending() > STALE_BYTES) this.leaveBehind(c);
        else c.sink.output(chunk, noop);
      }
    }
  }

  /** The client's screen is sent anew once it has caught up with what it was sent. */
  private leaveBehind(client: SharedClient): void {
    client.state = 'stale';
    this.staleTimer ??= setInterval(() => {
      let any = false;
      for (const c of this.clients.values()) {
        if (c.state !== 'stale') continue;
        if (c.sink.pending() < RESYNC_BELOW) this.sendScreen(c);
        else any = true;
      }
      if (!any) {
        clearInterval(this.staleTimer);
        this.staleTimer = undefined;
      }
    }, STALE_CHECK_MS);
    this.staleTimer.unref();
  }

  /** A reset and the screen as the mirror holds it once every output before now is parsed; then what came meanwhile, then live. */
  private sendScreen(client: SharedClient): void {
    client.state = 'joining';
    client.held = [];
    // the output so far ends here: what of it is an unfinished sequence the client must get again
    const unfinished = this.tail.subarray(this.tail.length - unfinishedTail(this.tail));
    this.mirror.write('', () => {
      if (!this.clients.has(client.id) || this.session.isEnded) return;
      const screen = '\x1bc' + this.serializer.serialize({ scrollback: SCROLLBACK }) + leftOutState(this.mirror);
      client.sink.output(Buffer.concat([Buffer.from(screen, 'utf8'), unfinished]), noop);
      for (const chunk of client.held) client.sink.output(chunk, noop);
      client.held = [];
      client.state = 'live';
    });
  }
}

const noop = (): void => undefined;

/** A shared session's screen is kept in the daemon: its size is bounded (a client asking more gets this much). */
export const SHARED_MAX_COLS = 500;
export const SHARED_MAX_ROWS = 200;
export const clampCols = (n: number): number => Math.min(SHARED_MAX_COLS, Math.max(1, Math.floor(n)));
export const clampRows = (n: number): number => Math.min(SHARED_MAX_ROWS, Math.max(1, Math.floor(n)));

/** How much of the output's end is kept to find an unfinished sequence (a longer one is not repeated). */
const TAIL_BYTES = 4096;

/**
 * How many bytes at the end of `b` are an escape sequence or a UTF-8 character not finished yet:
 * a CSI without its final byte, an OSC/DCS/APC/PM/SOS string without its terminator, an ESC with
 * its next byte(s) still to come, a multi-byte character cut short.
 */
export function unfinishedTail(b: Buffer): number {
  const esc = b.lastIndexOf(0x1b);
  if (esc >= 0) {
    const rest = b.length - esc;
    if (rest === 1) return 1;
    const kind = b[esc + 1] as number;
    if (kind === 0x5b) {
      // CSI: parameters and intermediates, then one byte from @ to ~
      for (let i = esc + 2; i < b.length; i++) if ((b[i] as number) >= 0x40 && (b[i] as number) <= 0x7e) return utf8Tail(b);
      return rest;
    }
    if (kind === 0x5d || kind === 0x50 || kind === 0x5f || kind === 0x5e || kind === 0x58) {
      // a string: ended by BEL (OSC) or ST (ESC \, whose ESC would be the last one)
      return b.indexOf(0x07, esc + 2) >= 0 ? utf8Tail(b) : rest;
    }
    // a character set designation or another two-byte-prefix sequence needs one byte more
    if ((kind >= 0x20 && kind <= 0x2f) || kind === 0x23 || kind === 0x25) return rest >= 3 ? utf8Tail(b) : rest;
  }
  return utf8Tail(b);
}

/** The bytes at the end of `b` that start a UTF-8 character whose continuation bytes are still to come. */
function utf8Tail(b: Buffer): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const byte = b[b.length - back] as number;
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** What the mirror's parser keeps that the serialized screen does not say (read from xterm.js's services; nothing when they are not there). */
interface MirrorInternals {
  _core?: {
    coreService?: { isCursorHidden?: boolean };
    coreMouseService?: { activeEncoding?: string };
    buffer?: { scrollTop?: number; scrollBottom?: number; x?: number; y?: number };
    _charsetService?: { glevel?: number; _charsets?: (Record<string, string> | undefined)[] };
  };
}

const MOUSE_ENCODINGS: Record<string, string> = { SGR: '\x1b[?1006h', SGR_PIXELS: '\x1b[?1016h', URXVT: '\x1b[?1015h', UTF8: '\x1b[?1005h' };

/**
 * The state @xterm/addon-serialize leaves out, as sequences to write after its screen: the scroll
 * region (then the cursor put back where it was, as setting a region homes it), the line-drawing
 * character set in G0 or G1 and which is in use, a hidden cursor, and the mouse report encoding.
 */
function leftOutState(mirror: InstanceType<typeof headless.Terminal>): string {
  const core = (mirror as unknown as MirrorInternals)._core;
  let out = '';
  const buffer = core?.buffer;
  if (buffer && buffer.scrollTop !== undefined && buffer.scrollBottom !== undefined && (buffer.scrollTop !== 0 || buffer.scrollBottom !== mirror.rows - 1)) {
    out += `\x1b[${buffer.scrollTop + 1};${buffer.scrollBottom + 1}r\x1b[${(buffer.y ?? 0) + 1};${(buffer.x ?? 0) + 1}H`;
  }
  const charsets = core?._charsetService;
  // DEC special graphics maps q to a horizontal line
  const lineDrawing = (set: Record<string, string> | undefined): boolean => set?.q === '\u2500';
  if (lineDrawing(charsets?._charsets?.[0])) out += '\x1b(0';
  if (lineDrawing(charsets?._charsets?.[1])) out += '\x1b)0';
  if (charsets?.glevel === 1) out += '\x0e';
  if (core?.coreService?.isCursorHidden) out += '\x1b[?25l';
  const encoding = MOUSE_ENCODINGS[core?.coreMouseService?.activeEncoding ?? ''];
  if (encoding) out += encoding;
  return out;
}

/**
 * Whether a client's input is a terminal's automatic answer to a query (a cursor position report
 * `ESC [ row ; col R`, a device attributes report `ESC [ ? … c` / `ESC [ > … c`, a status report
 * `ESC [ 0 n`): in a shared session the mirror answers those, so the clients' are dropped (with
 * three clients attached, the shell would read three answers, the extra ones as typed text).
 */
export function isTerminalReport(data: Buffer): boolean {
  return TERMINAL_REPORTS.test(data.toString('latin1'));
}

/**
 * CPR, DA1/DA2, DSR, DECRQM (`ESC [ ? n ; v $ y`, `ESC [ n ; v $ y`) and DECRQSS (`ESC P 0|1 $ r … ST`):
 * the queries the mirror answers. (Those it does not answer, such as XTVERSION and colour queries,
 * are left to the clients.) A modified F3 key (`ESC [ 1 ; m R`) looks like a CPR and is dropped too.
 */
// eslint-disable-next-line no-control-regex -- the reports start with ESC
const TERMINAL_REPORTS = /^(\x1b\[\d+;\d+R|\x1b\[[?>][\d;]*c|\x1b\[0n|\x1b\[\??\d+;\d+\$y|\x1bP[01]\$r[^\x1b]*\x1b\\)+$/;
