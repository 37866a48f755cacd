/**
 * A terminal in the page: xterm.js (loaded when first needed, in its own chunk) on the container's
 * terminal WebSocket. Keystrokes go as binary frames, resizes as JSON; the server's bytes are
 * written to the screen, its JSON frames say the session, who is attached, and the exit code.
 */
import type { HoodyClient } from '../sdk/index.ts';

export interface TerminalEvents {
  onState(text: string): void;
  onClients(clients: { id: string; user_id: string; address: string | null }[]): void;
}

export interface OpenTerminal {
  close(): void;
}

export async function openTerminal(client: HoodyClient, id: string, el: HTMLElement, index: number | undefined, events: TerminalEvents): Promise<OpenTerminal> {
  const [{ Terminal }, { FitAddon }] = await Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit')]);
  const term = new Terminal({ cursorBlink: true, fontFamily: 'ui-monospace, Menlo, Consolas, monospace', fontSize: 14, scrollback: 5000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const { url, protocols } = client.api.containers.terminal(id, { cols: term.cols, rows: term.rows, ...(index ? { index } : {}) });
  const ws = new WebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  let exited = false;
  events.onState('connecting');
  ws.onopen = () => {
    events.onState('connected');
    term.focus();
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') return term.write(new Uint8Array(e.data as ArrayBuffer));
    const msg = JSON.parse(e.data) as { type: string; id?: string; index?: number; code?: number | string; message?: string; clients?: { id: string; user_id: string; address: string | null }[] };
    if (msg.type === 'session') events.onState(msg.index ? `shared session ${msg.index}` : 'private session');
    if (msg.type === 'clients') events.onClients(msg.clients ?? []);
    if (msg.type === 'error') events.onState(`${msg.message} (${msg.code})`);
    if (msg.type === 'exit') {
      exited = true;
      events.onState(`exited with ${msg.code}`);
    }
  };
  ws.onclose = (e) => {
    if (!exited) events.onState(e.code === 1006 ? 'could not connect (does the container run?)' : `closed (${e.code})`);
  };
  const send = (bytes: Uint8Array): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
  };
  term.onData((data) => send(encoder.encode(data)));
  term.onBinary((data) => send(Uint8Array.from(data, (ch) => ch.charCodeAt(0) & 255)));
  term.onResize(({ cols, rows }) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  });
  const refit = (): void => fit.fit();
  window.addEventListener('resize', refit);
  // a test or a user's script reaches the screen here, as on the terminal page
  (window as unknown as { hoodyTerminal?: unknown }).hoodyTerminal = { term, socket: ws };
  return {
    close: () => {
      window.removeEventListener('resize', refit);
      ws.close();
      term.dispose();
    },
  };
}
