/**
 * A byte stream sent on a WebSocket at the client's pace: the source is paused while more than
 * `high` bytes wait to be handed to the network, and resumed below `low`. What a slow client
 * holds back is then its own stream only, and the daemon's memory stays bounded.
 */
import type { Readable } from 'node:stream';
import type { WebSocket } from 'ws';

export function sendPaced(ws: WebSocket, source: Readable, high: number, low: number): void {
  let waiting = 0;
  let paused = false;
  source.on('data', (chunk: Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    waiting += chunk.length;
    ws.send(chunk, { binary: true }, () => {
      waiting -= chunk.length;
      if (paused && waiting < low) {
        paused = false;
        source.resume();
      }
    });
    if (!paused && waiting > high) {
      paused = true;
      source.pause();
    }
  });
}
