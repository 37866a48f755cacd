/** A spinner on stderr for calls that take a while: only on a terminal, only after 500 ms, gone when done. */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
export const SPINNER_DELAY_MS = 500;

export async function withSpinner<T>(label: string, work: Promise<T>, stream: NodeJS.WriteStream = process.stderr): Promise<T> {
  if (!stream.isTTY) return work;
  let frame = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const draw = (): void => {
    stream.write(`\r${FRAMES[frame++ % FRAMES.length]} ${label}`);
  };
  const delay = setTimeout(() => {
    draw();
    ticker = setInterval(draw, 80);
  }, SPINNER_DELAY_MS);
  try {
    return await work;
  } finally {
    clearTimeout(delay);
    if (ticker) {
      clearInterval(ticker);
      stream.write('\r\x1b[2K');
    }
  }
}
