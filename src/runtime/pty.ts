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
}
type PtyLibc = LibcFunctions<PtyFunctions>;

let libc: Promise<PtyLibc> | undefined;
const load = (): Promise<PtyLibc> =>
  (libc ??= libcFunctions<PtyFunctions>({
    openpty: 'int openpty(_Out_ int *amaster, _Out_ int *aslave, void *name, void *termp, void *winp)',
    ioctl: 'int ioctl(int fd, unsigned long request, void *arg)',
  }));

function winsize(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(rows, 0);
  b.writeUInt16LE(cols, 2);
  return b;
}

export class Pty {
  private closed = false;
  private slaveOpen = true;
  /** The master's output (what the command writes), as a stream; ends when the command side is gone (EIO). */
  readonly output: ReadStream;

  private constructor(
    private readonly lib: PtyLibc,
    readonly master: number,
    /** The slave: pass it as the command's stdio, then `releaseSlave()`. */
    readonly slave: number,
  ) {
    this.output = new ReadStream(master);
    // the end of the command side reads as EIO: the end of the output, not an error
    this.output.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EIO') this.output.push(null);
    });
  }

  /** Opens a pty of the given size. */
  static async open(cols: number, rows: number): Promise<Pty> {
    const lib = await load();
    const m = [0];
    const s = [0];
    if (lib.openpty(m, s, null, null, winsize(cols, rows)) !== 0) throw new Error(`openpty failed (errno ${lib.errno()})`);
    return new Pty(lib, m[0] as number, s[0] as number);
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
    if (this.closed) return;
    if (this.lib.ioctl(this.master, TIOCSWINSZ, winsize(cols, rows)) !== 0) throw new Error(`TIOCSWINSZ failed (errno ${this.lib.errno()})`);
  }

  /** Writes input for the command (keystrokes); retried while the terminal's buffer is full. */
  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const attempt = (offset: number, tries: number): void => {
        if (this.closed) return resolve();
        write(this.master, data, offset, data.length - offset, null, (err, n) => {
          if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN' && tries < 500) return void setTimeout(() => attempt(offset, tries + 1), 5);
          if (err) return reject(err);
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
    // destroying the stream closes the master fd
    this.output.destroy();
  }
}
