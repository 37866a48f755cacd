/**
 * A listener apart from the API that serves GET /metrics with no token, for a Prometheus on
 * loopback or a private network (HOODY_METRICS_LISTEN). Nothing else is served on it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';

/** A running metrics listener. */
export interface MetricsListener {
  /** `http://HOST:PORT` it answers on. */
  url: string;
  close(): Promise<void>;
}

export async function listenForMetrics(metrics: Metrics, host: string, port: number, warn: (message: string, err?: unknown) => void): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        warn('collecting metrics', err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting the metrics failed\n');
      },
    );
  });
  // a scrape is a short request: keep-alive connections need not hold the close up
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
