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

const F_SETFD = 2;
const FD_CLOEXEC = 1;
const F_DUPFD_CLOEXEC = 1030;

function winsize(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(rows, 0);
  b.writeUInt16LE(cols, 2);
  return b;
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
    /** The slave: pass it as the command's stdio, then `releaseSlave()`. */
    readonly slave: number,
    /**
     * A second descriptor of the master for input, owned here: the output stream closes the master
     * when it ends, and a write queued on the thread pool must never reach a number reused since.
     */
    private readonly input: number,
  ) {
    this.output = new ReadStream(master);
    // the end of the command side reads as EIO: the end of the output, not an error
    this.output.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EIO') this.output.push(null);
    });
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

  /** Closes the daemon's copy of the slave once the command has it. */
  releaseSlave(): void {
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
