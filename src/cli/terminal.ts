/**
 * `hoody containers exec -it`: a terminal session of the container on this process's terminal.
 * Raw mode while attached, keystrokes sent as they are typed, the window's size followed, and the
 * session's exit code answered. Without `input` (`-t` alone), nothing is read.
 *
 * `hoody containers terminal ID --index N`: the same on the container's shared session N, which
 * others may be attached to; Ctrl-] detaches and leaves it running.
 */
import WebSocket from 'ws';
import type { HoodyClient } from '../sdk/index.ts';
import { HoodyApiError } from '../sdk/index.ts';

/** Attaches this process's stdin and stdout to a new session; resolves its exit code. */
export async function attachTerminal(client: HoodyClient, id: string, command: string[], opts: { input?: boolean; index?: number } = {}): Promise<number> {
  const stdout = process.stdout;
  const cols = stdout.isTTY ? stdout.columns : 80;
  const rows = stdout.isTTY ? stdout.rows : 24;
  const { url, protocols } = client.api.containers.terminal(id, { cols, rows, ...(opts.index !== undefined ? { index: opts.index } : { command }) });
  const ws = new WebSocket(url, protocols);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let parsed: { code?: string; message?: string } = {};
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          /* not JSON */
        }
        reject(new HoodyApiError({ statusCode: res.statusCode ?? 0, code: (parsed.code ?? 'NETWORK_ERROR') as never, message: parsed.message ?? `the terminal was refused (${res.statusCode})` }));
      });
    });
    ws.once('error', (err) => reject(new HoodyApiError({ statusCode: 0, code: 'NETWORK_ERROR', message: `cannot open the terminal: ${err.message}`, cause: err })));
  });
  const stdin = process.stdin;
  const input = opts.input ?? true;
  const raw = input && stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const shared = opts.index !== undefined;
  let detached = false;
  const onInput = (chunk: Buffer): void => {
    // Ctrl-] leaves a shared session running for the others
    if (shared && raw && chunk.includes(DETACH_KEY)) {
      const before = chunk.subarray(0, chunk.indexOf(DETACH_KEY));
      if (before.length > 0 && ws.readyState === ws.OPEN) ws.send(before);
      detached = true;
      ws.close(1000, 'detached');
      return;
    }
    if (ws.readyState === ws.OPEN) ws.send(chunk);
  };
  if (shared && raw) process.stderr.write(`attached to terminal-${opts.index}: Ctrl-] detaches (the session goes on)\r\n`);
  const onResize = (): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: stdout.columns, rows: stdout.rows }));
  };
  if (input) {
    stdin.on('data', onInput);
    stdin.resume();
  }
  if (stdout.isTTY) stdout.on('resize', onResize);
  let exitCode: number | undefined;
  let refused: { code?: string; message?: string } | undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      stdout.write(data);
      return;
    }
    const msg = JSON.parse(data.toString('utf8')) as { type?: string; code?: number | string | null; message?: string };
    if (msg.type === 'exit') exitCode = typeof msg.code === 'number' ? msg.code : 1;
    if (msg.type === 'error') refused = { code: String(msg.code), message: msg.message ?? '' };
  });
  await new Promise<void>((resolve) => ws.once('close', () => resolve()));
  stdin.off('data', onInput);
  stdin.pause();
  if (raw) stdin.setRawMode(false);
  if (stdout.isTTY) stdout.off('resize', onResize);
  if (refused) throw new HoodyApiError({ statusCode: 0, code: (refused.code ?? 'NETWORK_ERROR') as never, message: refused.message ?? 'the terminal was refused' });
  if (detached) {
    process.stderr.write('\r\ndetached\r\n');
    return 0;
  }
  return exitCode ?? 1;
}

/** Ctrl-]: detaches from a shared session (as telnet's escape). */
const DETACH_KEY = 0x1d;
