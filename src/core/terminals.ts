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

/** A session as `runtime_info.terminals` shows it. */
export interface TerminalView {
  id: string;
  user_id: string;
  command: string[];
  cols: number;
  rows: number;
  started_at: string;
}

export interface TerminalOptions {
  cols: number;
  rows: number;
  /** The shell when absent. */
  command?: string[];
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
      this.end();
      for (const l of this.exitListeners.splice(0)) l(exited);
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

  view(): TerminalView {
    return { id: this.id, user_id: this.userId, command: this.command, cols: this.cols, rows: this.rows, started_at: this.startedAt };
  }

  /** Writes input in the order it came: each write waits for the one before. */
  write(data: Buffer): Promise<void> {
    const next = this.writes.then(() => this.pty.write(data));
    this.writes = next.catch(() => undefined);
    return next;
  }

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
  /** Counts each session against its user's cap (TOO_MANY_REQUESTS past it) and ends it when its token is deleted. */
  tokens: Pick<TokenSessions, 'open'>;
}

export class TerminalSessions {
  private readonly sessions = new Map<string, TerminalSession>();
  private readonly feed: { close(): void } | undefined;

  constructor(private readonly deps: TerminalDeps) {
    // a container that stops takes its sessions with it
    this.feed = deps.events?.subscribe((e) => {
      if (e.type === 'transition' && e.row.to_status !== 'running') this.closeContainer(e.row.container_id);
      if (e.type === 'operation' && e.event.phase === 'accepted' && ['stop', 'force-stop', 'restart', 'delete'].includes(e.event.operation)) this.closeContainer(e.event.container_id);
    });
  }

  /** Opens a session in the actor's running container (INVALID_TRANSITION when it does not run). */
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
    session.onEnd(() => slot.close());
    // its token deleted: the session ends
    if (slot.signal.aborted) this.close(session);
    else slot.signal.addEventListener('abort', () => this.close(session), { once: true });
    return session;
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
    session.onExit(() => this.sessions.delete(session.id));
    return session;
  }

  /** Closes a session (its client went). */
  close(session: TerminalSession): void {
    session.close();
    this.sessions.delete(session.id);
  }

  /** The open sessions of a container. */
  list(containerId: string): TerminalView[] {
    return [...this.sessions.values()].filter((s) => s.containerId === containerId && !s.isEnded).map((s) => s.view());
  }

  closeContainer(containerId: string): void {
    for (const s of this.sessions.values()) if (s.containerId === containerId) this.close(s);
  }

  closeAll(): void {
    this.feed?.close();
    for (const s of this.sessions.values()) this.close(s);
  }
}
