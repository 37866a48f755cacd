/**
 * The daemon's pty: a command's output is read whole by a reader that keeps pausing, also past the
 * command's exit (once the slave side is closed, libuv ends a pty's stream after its next short
 * read, so the daemon holds the slave until the output has been read).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Pty } from './pty.ts';

/** Runs a command writing 300,000 'x' and a last line on a pty read by a reader that pauses after every chunk. */
async function readPaused(): Promise<{ xs: number; tail: string }> {
  const pty = await Pty.open(80, 24);
  try {
    const child = spawn('sh', ['-c', 'head -c 300000 /dev/zero | tr "\\0" x; echo; echo the-end'], { stdio: [pty.slave, pty.slave, pty.slave] });
    child.once('exit', () => pty.finishOutput());
    let xs = 0;
    let tail = '';
    pty.output.on('data', (chunk: Buffer) => {
      const s = chunk.toString('latin1');
      for (let i = s.indexOf('x'); i >= 0; i = s.indexOf('x', i + 1)) xs++;
      tail = (tail + s).slice(-20);
      pty.output.pause();
      setTimeout(() => pty.output.resume(), 1);
    });
    await new Promise((resolve) => pty.output.once('end', resolve));
    return { xs, tail };
  } finally {
    pty.close();
  }
}

describe('Pty', () => {
  it('gives a reader that keeps pausing all of a command\'s output, to its last line', async () => {
    for (let round = 0; round < 5; round++) {
      const { xs, tail } = await readPaused();
      assert.equal(xs, 300_000, `round ${round}: every byte arrived`);
      assert.match(tail, /the-end\r\n$/, `round ${round}`);
    }
  });
});
