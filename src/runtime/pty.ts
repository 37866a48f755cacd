/**
 * A pseudo-terminal held by the daemon: openpty(3) and the TIOCSWINSZ ioctl through koffi (no
 * native addon to build). The slave side becomes a command's stdin, stdout and stderr; the daemon
 * reads and writes the master. The command is not the slave's session leader (Node cannot make it
 * one), so the kernel does not tell it of a resize: `resize` sets the size and the caller signals
 * SIGWINCH itself (runc exec -t then copies the size to the container's own terminal).
 */
import { closeSync, write } from 'node:fs';
import { ReadStream } from 'node:tty';
import { libcFunctions, type LibcFunctions } from './libc.ts';

const TIOCSWINSZ = 0x5414;
const FIONREAD = 0x541b;

interface PtyFunctions {
  openpty: (master: number[], slave: number[], name: null, termp: null, winp: Buffer) => number;
  ioctl: (fd: number, request: number, arg: Buffer) => number;
  fcntl: (fd: number, cmd: number, arg: number) => number;
}
type PtyLibc = LibcFunctions<PtyFunctions>;

let libc: Promise<PtyLibc> | undefined;
const load = (): Promise<PtyLibc> =>
  (libc ??= libcFunctions<PtyFunctions>({
    openpty: 'int openpty(_Out_ int *amaster, _Out_ int *aslave, void *name, void *termp, void *winp)',
    ioctl: 'int ioctl(int fd, unsigned long request, void *arg)',
    fcntl: 'int fcntl(int fd, int cmd, int arg)',
  }));

/** How often a finished command's pty is checked for output not read yet (doubling while a reader holds it back). */
const MIN_DRAIN_CHECK_MS = 20;
const MAX_DRAIN_CHECK_MS = 500;

const F_SETFD = 2;
const FD_CLOEXEC = 1;
const F_DUPFD_CLOEXEC = 1030;

function winsize(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(rows, 0);
  b.writeUInt16LE(cols, 2);
  return b;
}

/**
 * The master's output. Reading the master of a pty whose every slave descriptor is closed fails
 * with EIO, which Node turns into destroying the stream and dropping what it still holds; here EIO
 * ends the stream as an end of file would, after what it holds has been read.
 */
class PtyOutput extends ReadStream {
  override destroy(error?: Error): this {
    if ((error as NodeJS.ErrnoException | undefined)?.code === 'EIO' && !this.readableEnded) {
      // libuv stopped reading on the error; what is buffered is read, then 'end'
      this.push(null);
      this.read(0);
      return this;
    }
    return super.destroy(error);
  }
}

export class Pty {
  private closed = false;
  private slaveOpen = true;
  /** Writes under way on `input` (its fd is closed only once none is). */
  private writing = 0;
  private inputOpen = true;
  /** The master's output (what the command writes), as a stream; ends when the command side is gone (EIO). */
  readonly output: ReadStream;

  private constructor(
    private readonly lib: PtyLibc,
    readonly master: number,
    /**
     * The slave: pass it as the command's stdio. The daemon keeps its own copy open until the
     * command has exited and its output has been read (`finishOutput()`): should the master see
     * the slave side close while it still holds output, libuv reports the end of the stream after
     * the next short read and the rest is lost.
     */
    readonly slave: number,
    /**
     * A second descriptor of the master for input, owned here: the output stream closes the master
     * when it ends, and a write queued on the thread pool must never reach a number reused since.
     */
    private readonly input: number,
  ) {
    this.output = new PtyOutput(master);
    // any other failure to read the master ends the output too ('close' follows)
    this.output.on('error', () => undefined);
    this.output.once('close', () => this.close());
  }

  /** Opens a pty of the given size; its descriptors are not inherited by other processes the daemon starts. */
  static async open(cols: number, rows: number): Promise<Pty> {
    const lib = await load();
    const m = [0];
    const s = [0];
    if (lib.openpty(m, s, null, null, winsize(cols, rows)) !== 0) throw new Error(`openpty failed (errno ${lib.errno()})`);
    const master = m[0] as number;
    const slave = s[0] as number;
    // spawn's dup2 onto the command's stdio clears the flag on those copies only
    lib.fcntl(master, F_SETFD, FD_CLOEXEC);
    lib.fcntl(slave, F_SETFD, FD_CLOEXEC);
    const input = lib.fcntl(master, F_DUPFD_CLOEXEC, 0);
    if (input < 0) {
      closeSync(master);
      closeSync(slave);
      throw new Error(`duplicating the pty's master failed (errno ${lib.errno()})`);
    }
    return new Pty(lib, master, slave, input);
  }

  /**
   * Called once the command side has exited: when everything it wrote has been read (nothing left
   * in the pty, nothing held in the stream, no paused reader), the daemon's copy of the slave is
   * closed and the output ends.
   */
  finishOutput(): void {
    let quiet = 0;
    let delay = MIN_DRAIN_CHECK_MS;
    const check = (): void => {
      if (this.closed || !this.slaveOpen) return;
      const held = this.output.isPaused() || this.output.readableLength > 0 || this.unread() !== 0;
      // twice quiet in a row: output written just before the exit may still be on its way from the
      // slave to the master (the kernel moves it there from a work queue)
      quiet = held ? 0 : quiet + 1;
      if (quiet >= 2) return this.releaseSlave();
      delay = held ? Math.min(MAX_DRAIN_CHECK_MS, delay * 2) : MIN_DRAIN_CHECK_MS;
      setTimeout(check, delay).unref();
    };
    check();
  }

  /** Bytes waiting to be read on the master (-1: unknown). */
  private unread(): number {
    if (!this.inputOpen) return -1;
    const n = Buffer.alloc(4);
    return this.lib.ioctl(this.input, FIONREAD, n) === 0 ? n.readInt32LE(0) : -1;
  }

  private releaseSlave(): void {
    // once only: the number may be another file's by the second time
    if (!this.slaveOpen) return;
    this.slaveOpen = false;
    try {
      closeSync(this.slave);
    } catch {
      /* closed already */
    }
  }

  /** Sets the terminal's size (the caller then signals SIGWINCH to the command). */
  resize(cols: number, rows: number): void {
    if (this.closed || !this.inputOpen) return;
    // on the descriptor owned here (the stream may close the master at any moment)
    if (this.lib.ioctl(this.input, TIOCSWINSZ, winsize(cols, rows)) !== 0) throw new Error(`TIOCSWINSZ failed (errno ${this.lib.errno()})`);
  }

  /** Writes input for the command (keystrokes); retried while the terminal's buffer is full; dropped once closed. */
  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const attempt = (offset: number, tries: number): void => {
        if (this.closed) return resolve();
        this.writing++;
        write(this.input, data, offset, data.length - offset, null, (err, n) => {
          this.writing--;
          this.closeInputWhenIdle();
          if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN' && tries < 2000) return void setTimeout(() => attempt(offset, tries + 1), 5);
          if (err) return this.closed ? resolve() : reject(err);
          if (offset + n < data.length) return attempt(offset + n, 0);
          resolve();
        });
      };
      attempt(0, 0);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseSlave();
    // destroying the stream closes the master fd; the input descriptor once no write uses it
    this.output.destroy();
    this.closeInputWhenIdle();
  }

  private closeInputWhenIdle(): void {
    if (!this.closed || this.writing > 0 || !this.inputOpen) return;
    this.inputOpen = false;
    try {
      closeSync(this.input);
    } catch {
      /* closed already */
    }
  }
}
