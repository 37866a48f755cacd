/**
 * Whether a host port is free: a bind to it on the given address, closed at once. The control
 * plane asks this before it publishes a port, so that a port a host process listens on is not
 * handed to a container too.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import type { PortProtocol } from './types.ts';

/** True when a TCP listen or UDP bind on `hostIp:port` succeeds (and is released again); false on any bind error. */
export function isHostPortFree(port: number, protocol: PortProtocol, hostIp: string): Promise<boolean> {
  return protocol === 'udp' ? udpFree(port, hostIp) : tcpFree(port, hostIp);
}

function tcpFree(port: number, hostIp: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    // exclusive: no sharing of the port with a cluster primary that holds it
    server.listen({ port, host: hostIp, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function udpFree(port: number, hostIp: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.unref();
    socket.once('error', () => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      resolve(false);
    });
    socket.bind({ port, address: hostIp, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}
