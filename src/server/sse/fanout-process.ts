/**
 * The event stream process: the daemon hands it each event stream's connection (once the head
 * and the catch-up are written) and every new event, once; it writes them to the subscribers.
 * Writing to a thousand sockets per event is then off the daemon's event loop, which keeps
 * answering lifecycle operations at its own pace, and can run at a lower CPU priority.
 *
 * Messages from the daemon (Node IPC, in order; a connection comes with its handle):
 *   { t: 'add', spec }          + socket   a new subscriber
 *   { t: 'events', events }                 events to fan out, in cursor order
 *   { t: 'end', streamIds }                 end these streams (their token was deleted)
 *   { t: 'close' }                          end every stream and exit
 * and to the daemon:
 *   { t: 'ready', version, protocol }       once, when it takes messages (the daemon refuses a mismatch)
 *   { t: 'gone', streamId }                 a stream ended (the client left, or it was ended)
 */
import type { Socket } from 'node:net';
import { PACKAGE_VERSION } from '../../version.ts';
import { SseFanout } from './fanout.ts';
import { FANOUT_PROTOCOL } from './fanout-protocol.ts';
import type { StreamEvent, StreamSpec } from './stream.ts';

export type FanoutMessage = { t: 'add'; spec: StreamSpec } | { t: 'events'; events: StreamEvent[] } | { t: 'end'; streamIds: string[] } | { t: 'close' };

/** What the fan-out process tells the daemon. */
export type FanoutReport = { t: 'ready'; version: string; protocol: number } | { t: 'gone'; streamId: string };

const report = (m: FanoutReport): void => {
  if (process.connected) process.send?.(m);
};

const heartbeatMs = Number(process.env.HOODY_EVENTS_HEARTBEAT_MS) || 15_000;
const writeShare = Number(process.env.HOODY_EVENTS_WRITE_SHARE) || undefined;
const fanout = new SseFanout({ heartbeatMs, writeShare });

const shutdown = (): void => {
  fanout.closeAll();
  // let the last chunks go out, then leave (sockets still open are the clients' problem now)
  setTimeout(() => process.exit(0), 200).unref();
  process.disconnect?.();
};

process.on('message', (m: FanoutMessage, handle?: Socket) => {
  if (m.t === 'events') fanout.publish(m.events);
  else if (m.t === 'add') {
    const gone = (): void => report({ t: 'gone', streamId: m.spec.streamId });
    if (handle) fanout.add(handle, m.spec, gone);
    else gone();
  } else if (m.t === 'end') fanout.end(m.streamIds);
  else shutdown();
});
// the daemon is gone: nothing more will come, end the streams so clients reconnect elsewhere
process.on('disconnect', () => {
  fanout.closeAll();
  setTimeout(() => process.exit(0), 200).unref();
});
report({ t: 'ready', version: PACKAGE_VERSION, protocol: FANOUT_PROTOCOL });
