/**
 * A viewer of a container's display: its WebSocket (binary frames of RFB, as noVNC speaks it)
 * relayed to the display's VNC socket, which only the daemon can open. Paced both ways: the
 * viewer is paused while Xvnc has not read what it sent. A view-only viewer's
 * bytes go through RfbViewOnlyFilter (its keys, pointer, clipboard and resizes dropped); the
 * desktop's pixels are paused while more than HIGH_WATER bytes wait for a slow viewer, so one
 * slow viewer holds back its own connection only (Xvnc serves each client apart).
 */
import { connect } from 'node:net';
import type { WebSocket } from 'ws';
import { RfbViewOnlyFilter } from './rfb-filter.ts';
import { sendPaced } from '../server/ws-pacing.ts';

const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

/** Relays until either side ends; `onEnd` is called once then. */
export function relayDisplay(ws: WebSocket, socketPath: string, viewOnly: boolean, onEnd: () => void): void {
  const vnc = connect(socketPath);
  const filter = viewOnly ? new RfbViewOnlyFilter() : undefined;
  let ended = false;
  const end = (code: number, reason: string): void => {
    if (ended) return;
    ended = true;
    vnc.destroy();
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    onEnd();
  };
  sendPaced(ws, vnc, HIGH_WATER, LOW_WATER);
  vnc.on('error', () => end(1011, 'the display is not answering'));
  vnc.on('close', () => end(1000, 'the display closed'));
  // the viewer's bytes wait in the daemon only while Xvnc reads them: past what the socket holds, the viewer is paused
  const toDisplay = (bytes: Buffer): void => {
    if (!vnc.write(bytes) && !ws.isPaused) {
      ws.pause();
      vnc.once('drain', () => ws.resume());
    }
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    if (!filter) return toDisplay(data);
    const { forward, error } = filter.push(data);
    if (forward.length > 0) toDisplay(forward);
    if (error !== undefined) end(1008, error.slice(0, 120));
  });
  ws.on('close', () => end(1000, 'closed'));
  ws.on('error', () => end(1011, 'error'));
}
