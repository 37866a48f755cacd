/**
 * `hoody containers exec -it`: a terminal session of the container on this process's terminal.
 * Raw mode while attached, keystrokes sent as they are typed, the window's size followed, and the
 * session's exit code answered. Without `input` (`-t` alone), nothing is read.
 */
import WebSocket from 'ws';
import type { HoodyClient } from '../sdk/index.ts';
import { HoodyApiError } from '../sdk/index.ts';

/** Attaches this process's stdin and stdout to a new session; resolves its exit code. */
export async function attachTerminal(client: HoodyClient, id: string, command: string[], opts: { input?: boolean } = {}): Promise<number> {
  const stdout = process.stdout;
  const cols = stdout.isTTY ? stdout.columns : 80;
  const rows = stdout.isTTY ? stdout.rows : 24;
  const { url, protocols } = client.api.containers.terminal(id, { cols, rows, command });
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
  const onInput = (chunk: Buffer): void => {
    if (ws.readyState === ws.OPEN) ws.send(chunk);
  };
  const onResize = (): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: stdout.columns, rows: stdout.rows }));
  };
  if (input) {
    stdin.on('data', onInput);
    stdin.resume();
  }
  if (stdout.isTTY) stdout.on('resize', onResize);
  let exitCode: number | undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      stdout.write(data);
      return;
    }
    const msg = JSON.parse(data.toString('utf8')) as { type?: string; code?: number | null };
    if (msg.type === 'exit') exitCode = msg.code ?? 1;
  });
  await new Promise<void>((resolve) => ws.once('close', () => resolve()));
  stdin.off('data', onInput);
  stdin.pause();
  if (raw) stdin.setRawMode(false);
  if (stdout.isTTY) stdout.off('resize', onResize);
  return exitCode ?? 1;
}
