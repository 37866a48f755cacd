/** A test client of a terminal session's WebSocket, as the terminal page is. */
import WebSocket from 'ws';
import { eventually } from './eventually.ts';

/**
 * busybox ash's prompt: with the cursor-position query it sends after it, or redrawn with
 * "clear to the end of the screen" once the answer came.
 */
export const PROMPT = new RegExp(`[#$] (${String.fromCharCode(27)}\\[6n|${String.fromCharCode(27)}\\[J)?$`);

/** A terminal client: collects the screen's bytes, answers ESC[6n, keeps the control messages. */
export class Client {
  text = '';
  /** How many 'x' it has shown, and its last bytes (a large output is not kept whole). */
  xs = 0;
  tail = '';
  keep = true;
  readonly control: any[] = [];
  closed: { code: number } | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return void this.control.push(JSON.parse(data.toString('utf8')));
      const s = data.toString('utf8');
      if (this.keep) this.text += s;
      for (let i = s.indexOf('x'); i >= 0; i = s.indexOf('x', i + 1)) this.xs++;
      this.tail = (this.tail + s).slice(-200);
      // busybox ash asks where the cursor is after each prompt and waits for the answer
      if (s.includes('\x1b[6n')) ws.send(Buffer.from('\x1b[1;1R'));
    });
    ws.on('close', (code: number) => (this.closed = { code }));
  }

  static open(url: string, headers: Record<string, string>): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['hoody.terminal'], { headers });
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(Object.assign(new Error(`refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  type(keys: string): void {
    this.ws.send(Buffer.from(keys));
  }

  /** Waits until the screen has shown `pattern` after position `from`. */
  async until(pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<string> {
    const text = await eventually(`terminal output ${pattern}`, async () => this.text.slice(from), (t) => pattern.test(t), timeoutMs);
    return (pattern.exec(text) as RegExpExecArray)[0];
  }
}

