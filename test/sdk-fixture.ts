/** The set-up the SDK and CLI test files share: one real daemon, an admin client, and clean-up. */
import { before, after } from 'node:test';
import { createServer } from 'node:net';
import { HoodyClient } from '../src/sdk/index.ts';
import { startTestDaemon, type DaemonHandle } from './daemon-harness.ts';

/** Starts a daemon before the file's tests and removes it after; `ready` receives it and a client. */
export function daemonWithClient(ready: (d: DaemonHandle, client: HoodyClient) => void): void {
  let daemon: DaemonHandle | undefined;
  before(async () => {
    daemon = await startTestDaemon();
    ready(daemon, new HoodyClient({ baseUrl: daemon.url, token: daemon.adminToken }));
  });
  after(async () => {
    await daemon?.cleanup();
  });
}

/** Force-stops (when live) and deletes the containers a test made, emptying the list. */
export async function removeContainers(client: HoodyClient, made: string[]): Promise<void> {
  for (const id of made.splice(0)) {
    const c = await client.api.containers.get(id).catch(() => undefined);
    if (!c) continue;
    if (c.data.status === 'running' || c.data.status === 'paused') await client.api.containers.manage(id, 'force-stop');
    await client.api.containers.delete(id);
  }
}

/** A loopback port nothing listens on (it was free a moment ago), for "cannot reach" cases. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
