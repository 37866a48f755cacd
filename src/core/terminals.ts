/**
 * Interactive terminal sessions in running containers: a pty held by the daemon, a shell (or a
 * given command) in the container on its slave side through `runc exec -t`. A session ends when its
 * command exits, when its client goes (then every process of its session in the container gets
 * SIGHUP, then SIGKILL), or when its container stops. Sessions are listed per container
 * (`runtime_info.terminals`) and capped per user.
 */
import type { Readable } from 'node:stream';
import { newId, nowIso } from './ids.ts';
import type { Actor } from './actor.ts';
import type { EventHub } from './event-hub.ts';
import type { TokenSessions } from './token-sessions.ts';
import { startExec, type ContainerExec } from './container-exec.ts';
import type { RuntimeDriver, ExecProcess } from '../runtime/driver.ts';
import { Pty } from '../runtime/pty.ts';
import { HoodyError } from './errors.ts';
import { KIT_TERMINALS } from './services.ts';
import { SharedTerminal, clampCols, clampRows, type ClientInfo, type ClientSink, type ClientView, type SharedClient } from './shared-terminal.ts';

/** A session as `runtime_info.terminals` shows it. */
export interface TerminalView {
  id: string;
  /** The shared session's index (terminal-1 is 1); null for a session of one client that ends with it. */
  index: number | null;
  user_id: string;
  command: string[];
  cols: number;
  rows: number;
  started_at: string;
  clients: ClientView[];
}

export interface TerminalOptions {
  cols: number;
  rows: number;
  /** The shell when absent. */
  command?: string[];
  /** Where its client connects from (shown in runtime_info). */
  address?: string | null;
}

/** The shell a session runs when it names none: bash when the container has it, else sh. */
export const DEFAULT_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

/** After its command exited, how long a session's output may be silent before the session ends without the pty's end. */
const OUTPUT_IDLE_MS = 5000;

/** How long the processes of a closed session have after SIGHUP before SIGKILL. */
const HANGUP_GRACE_MS = 2000;

export class TerminalSession {
  readonly id = newId();
  readonly startedAt = nowIso();
  private ended = false;
  private readonly exitListeners: ((code: number | null) => void)[] = [];
  private exitCode: number | null | undefined;

  constructor(
    readonly containerId: string,
    readonly userId: string,
    readonly command: string[],
    private cols: number,
    private rows: number,
    private readonly pty: Pty,
    private readonly proc: ExecProcess,
  ) {
    // the command's end: its last output is read to the end of the pty first
    let outputDone = false;
    let exited: number | null | undefined;
    const finish = (): void => {
      if (!outputDone || exited === undefined) return;
      this.exitCode = exited;
      // the exit code first: who listens for it can say it before the session's end closes them
      for (const l of this.exitListeners.splice(0)) l(exited);
      this.end();
    };
    pty.output.once('end', () => {
      outputDone = true;
      finish();
    });
    pty.output.once('close', () => {
      outputDone = true;
      finish();
    });
    proc.child.once('exit', (code, sig) => {
      exited = code ?? (sig ? 128 + (signalNumbers[sig] ?? 0) : null);
      pty.finishOutput();
      // the pty ends once what it holds has been read (at the client's pace); should anything else
      // keep its other side open, the session ends anyway once the output has been idle this long
      // (bytesRead, not a 'data' listener: one would start the output flowing before its reader is attached)
      let read = this.pty.output.bytesRead;
      const idle = (): void => {
        if (outputDone) return;
        // still flowing, or held back for a slow client: not idle
        const now = this.pty.output.bytesRead;
        if (this.pty.output.isPaused() || now !== read) {
          read = now;
          return void setTimeout(idle, OUTPUT_IDLE_MS).unref();
        }
        outputDone = true;
        finish();
      };
      setTimeout(idle, OUTPUT_IDLE_MS).unref();
      finish();
    });
  }

  /** What the command writes on its terminal. */
  get output(): Readable {
    return this.pty.output;
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.cols, rows: this.rows };
  }

  /** Writes input in the order it came: each write waits for the one before. */
  write(data: Buffer): Promise<void> {
    this.backlog += data.length;
    const next = this.writes.then(() => this.pty.write(data)).finally(() => (this.backlog -= data.length));
    this.writes = next.catch(() => undefined);
    return next;
  }

  /** Input bytes queued and not yet written to the terminal (its reader is slow, or reads nothing). */
  get inputBacklog(): number {
    return this.backlog;
  }

  private backlog = 0;

  /** The last write queued. */
  private writes: Promise<void> = Promise.resolve();

  resize(cols: number, rows: number): void {
    if (this.ended) return;
    this.cols = cols;
    this.rows = rows;
    this.pty.resize(cols, rows);
    // runc exec -t copies its terminal's size to the container's on SIGWINCH
    if (this.proc.child.exitCode === null && this.proc.child.pid) {
      try {
        process.kill(this.proc.child.pid, 'SIGWINCH');
      } catch {
        /* gone */
      }
    }
  }

  /** Called once with the exit code when the command has ended (null: unknown). */
  onExit(listener: (code: number | null) => void): void {
    if (this.exitCode !== undefined) listener(this.exitCode);
    else this.exitListeners.push(listener);
  }

  /** Ends the session: its processes in the container get SIGHUP, then SIGKILL. */
  close(): void {
    if (this.ended) return;
    void this.proc.killSession('SIGHUP').catch(() => undefined);
    const kill = setTimeout(() => void this.proc.killSession('SIGKILL').catch(() => undefined), HANGUP_GRACE_MS);
    kill.unref();
    this.proc.child.once('exit', () => clearTimeout(kill));
    this.end();
  }

  /** Called once when the session ends, however it ends (its command exited, it was closed). */
  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  private readonly endListeners: (() => void)[] = [];

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pty.close();
    for (const l of this.endListeners.splice(0)) l();
  }

  get isEnded(): boolean {
    return this.ended;
  }
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

export interface TerminalDeps {
  exec: Pick<ContainerExec, 'prepare'>;
  driver: Pick<RuntimeDriver, 'exec'>;
  events?: Pick<EventHub, 'subscribe'>;
  /** Counts each session (and each client of a shared one) against its user's cap (TOO_MANY_REQUESTS past it) and ends it when its token is deleted. */
  tokens: Pick<TokenSessions, 'open'>;
  /** Told of each client that attaches to or detaches from a shared session. */
  onClient?: (change: ClientChange) => void;
}

/** A client attached to or detached from a shared session (for the event stream). */
export interface ClientChange {
  action: 'attached' | 'detached';
  containerId: string;
  projectId: string;
  index: number;
  sessionId: string;
  client: ClientView;
  /** How many clients the session has after the change. */
  clients: number;
}

/** The highest index of a shared session: the kit's terminals. */
export const MAX_SHARED_INDEX = KIT_TERMINALS;

export class TerminalSessions {
  private readonly sessions = new Map<string, TerminalSession>();
  /** Shared sessions by `{container}:{index}`, and the ones being opened. */
  private readonly shared = new Map<string, SharedTerminal>();
  private readonly opening = new Map<string, Promise<SharedTerminal>>();
  /** The client of each one-client session, for the listing. */
  private readonly soleClients = new Map<string, ClientView>();
  private readonly feed: { close(): void } | undefined;

  constructor(private readonly deps: TerminalDeps) {
    // a container that stops takes its sessions with it
    this.feed = deps.events?.subscribe((e) => {
      if (e.type === 'transition' && e.row.to_status !== 'running') this.closeContainer(e.row.container_id);
      if (e.type === 'operation' && e.event.phase === 'accepted' && ['stop', 'force-stop', 'restart', 'delete'].includes(e.event.operation)) this.closeContainer(e.event.container_id);
    });
  }

  /** Opens a session in the actor's running container (INVALID_TRANSITION when it does not run); it ends with its client. */
  async open(actor: Actor, id: string, opts: TerminalOptions): Promise<TerminalSession> {
    // the slot is held from here, before anything is awaited: sessions opened at once count each other
    const slot = this.deps.tokens.open(actor, 'terminal');
    let session: TerminalSession;
    try {
      session = await this.openCounted(actor, id, opts);
    } catch (err) {
      slot.close();
      throw err;
    }
    this.soleClients.set(session.id, { id: session.id, user_id: actor.userId, address: opts.address ?? null, since: session.startedAt });
    session.onEnd(() => {
      slot.close();
      this.soleClients.delete(session.id);
    });
    // its token deleted: the session ends
    if (slot.signal.aborted) this.close(session);
    else slot.signal.addEventListener('abort', () => this.close(session), { once: true });
    return session;
  }

  /**
   * Attaches a client to the container's shared session `index`, opening it (a shell) when there
   * is none. The client gets the current screen, then the output; the session outlives it.
   */
  async attach(actor: Actor, id: string, index: number, opts: Omit<TerminalOptions, 'command'>, sink: ClientSink): Promise<{ terminal: SharedTerminal; client: SharedClient }> {
    const slot = this.deps.tokens.open(actor, 'terminal');
    try {
      // the owner's running container, checked for every client
      const { container } = await this.deps.exec.prepare(actor, id, { command: DEFAULT_SHELL });
      const terminal = await this.sharedSession(actor, container.id, container.project_id, index, opts);
      if (slot.signal.aborted) throw new HoodyError('UNAUTHORIZED', 'the token was deleted');
      const info: ClientInfo = { userId: actor.userId, address: opts.address ?? null, tokenId: actor.tokenId };
      const dropOnDelete = (): void => terminal.dropClients((c) => c === client, 'the token was deleted');
      const client = terminal.attach(info, sink, () => {
        slot.close();
        slot.signal.removeEventListener('abort', dropOnDelete);
      });
      slot.signal.addEventListener('abort', dropOnDelete, { once: true });
      this.deps.onClient?.({ action: 'attached', containerId: container.id, projectId: container.project_id, index, sessionId: terminal.session.id, client: client.view(), clients: terminal.clientCount });
      return { terminal, client };
    } catch (err) {
      slot.close();
      throw err;
    }
  }

  private sharedSession(actor: Actor, containerId: string, projectId: string, index: number, opts: Omit<TerminalOptions, 'command'>): Promise<SharedTerminal> {
    const key = `${containerId}:${index}`;
    const open = this.shared.get(key);
    if (open && !open.session.isEnded) return Promise.resolve(open);
    const pending = this.opening.get(key);
    if (pending) return pending;
    const opening = (async () => {
      // the session itself counts against its opener's cap while it lasts (its clients count apart)
      const slot = this.deps.tokens.open(actor, 'terminal');
      let session: TerminalSession;
      try {
        session = await this.openCounted(actor, containerId, { cols: clampCols(opts.cols), rows: clampRows(opts.rows) });
      } catch (err) {
        slot.close();
        throw err;
      }
      session.onEnd(() => slot.close());
      const terminal = new SharedTerminal(index, session, clampCols(opts.cols), clampRows(opts.rows));
      this.shared.set(key, terminal);
      terminal.onDetach((c) => this.deps.onClient?.({ action: 'detached', containerId, projectId, index, sessionId: session.id, client: c.view(), clients: terminal.clientCount }));
      session.onEnd(() => {
        if (this.shared.get(key) === terminal) this.shared.delete(key);
      });
      return terminal;
    })().finally(() => this.opening.delete(key));
    this.opening.set(key, opening);
    return opening;
  }

  private async openCounted(actor: Actor, id: string, opts: TerminalOptions): Promise<TerminalSession> {
    const command = opts.command ?? DEFAULT_SHELL;
    const { container } = await this.deps.exec.prepare(actor, id, { command });
    const pty = await Pty.open(opts.cols, opts.rows);
    let proc: ExecProcess;
    try {
      proc = await startExec(this.deps.driver, container.id, { argv: command, env: { ...container.environment_vars, TERM: 'xterm-256color' }, tty: { fd: pty.slave, cols: opts.cols, rows: opts.rows } });
    } catch (err) {
      pty.close();
      throw err;
    }
    const session = new TerminalSession(container.id, actor.userId, command, opts.cols, opts.rows, pty, proc);
    this.sessions.set(session.id, session);
    session.onEnd(() => this.sessions.delete(session.id));
    return session;
  }

  /** Closes a session (its client went, or it is ended for all). */
  close(session: TerminalSession): void {
    session.close();
    this.sessions.delete(session.id);
  }

  /** The open sessions of a container, with their clients. */
  list(containerId: string): TerminalView[] {
    const shared = new Map([...this.shared.values()].map((t) => [t.session.id, t]));
    return [...this.sessions.values()]
      .filter((s) => s.containerId === containerId && !s.isEnded)
      .map((s) => {
        const t = shared.get(s.id);
        const sole = this.soleClients.get(s.id);
        return { id: s.id, index: t ? t.index : null, user_id: s.userId, command: s.command, ...s.size, started_at: s.startedAt, clients: t ? t.clientViews() : sole ? [sole] : [] };
      })
      .sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity) || a.started_at.localeCompare(b.started_at));
  }

  closeContainer(containerId: string): void {
    for (const s of this.sessions.values()) if (s.containerId === containerId) this.close(s);
  }

  closeAll(): void {
    this.feed?.close();
    for (const s of this.sessions.values()) this.close(s);
  }
}

