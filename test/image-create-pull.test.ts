/**
 * A create that has to pull its image first, through the daemon: the CLI shows the pull's
 * progress (as `docker run` does) instead of waiting silently, and a client that hangs up while
 * the pull runs stops it, creates nothing, and leaves its Idempotency-Key free for a retry.
 * Real parts: the daemon (its store, puller and GNU tar in a user namespace), the CLI, a stub
 * registry on loopback. Needs root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { StubRegistry, tinyImage } from './stub-registry.ts';
import { HOODY_BIN, apiClient, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (user namespace for tar)' : false;

describe('a create that pulls its image', { skip }, () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let reg: StubRegistry;

  before(async () => {
    reg = await new StubRegistry().start();
    d = await startTestDaemon();
    call = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
    await reg?.close();
  });

  /** Runs the CLI against the daemon (standard error is not a terminal: one plain line per layer step). */
  const hoody = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [HOODY_BIN, ...args], { env: { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
  const containerNames = async (): Promise<string[]> => (await call('GET', '/containers')).body.data.containers.map((c: { name: string }) => c.name);

  it('hoody containers create pulls a missing image first and shows each layer\'s progress; a second create pulls nothing', async () => {
    const image = tinyImage({ seed: 'cli-create', layerCount: 2 });
    reg.putImage('cli/create', image, ['1']);
    const reference = `${reg.host}/cli/create:1`;
    const first = await hoody(['containers', 'create', '--name', 'pulled-by-cli', '--image', reference, '--no-autostart']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /pulled-by-cli/);
    for (const layer of image.layers) {
      const short = layer.digest.slice(7, 19);
      assert.match(first.stderr, new RegExp(`^${short}: downloaded$`, 'm'), first.stderr);
      assert.match(first.stderr, new RegExp(`^${short}: extracted \\(`, 'm'), first.stderr);
    }
    const blobsBefore = reg.blobRequests().length;
    const second = await hoody(['containers', 'create', '--name', 'pulled-once', '--image', reference, '--no-autostart']);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /downloaded|extracted/, 'the image is here: nothing is pulled');
    assert.equal(reg.blobRequests().length, blobsBefore, 'no blob asked for again');
    // --pull never with a missing image: the server's refusal, no pull
    const never = await hoody(['containers', 'create', '--name', 'never-pulled', '--image', `${reg.host}/cli/absent:1`, '--pull', 'never', '--no-autostart']);
    assert.equal(never.code, 1, never.stderr);
    assert.match(never.stderr, /IMAGE_NOT_FOUND/);
    assert.doesNotMatch(never.stderr, /downloaded/);
  });

  it('stops the pull when the client of a create hangs up, creates nothing, and a retry with the same Idempotency-Key runs', async () => {
    const image = tinyImage({ seed: 'hang-up', layerCount: 1 });
    reg.putImage('hang/up', image, ['1']);
    const held = image.layers[0]!.digest;
    // the layer's blob is answered with its head and half its bytes, then held
    const heldResponses: ServerResponse[] = [];
    let dropped = false;
    reg.hook = (req, res, path) => {
      if (!path.endsWith(held) || req.method !== 'GET') return false;
      const blob = image.layers[0]!.gz;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      res.write(blob.subarray(0, blob.length >> 1));
      heldResponses.push(res);
      res.once('close', () => (dropped = true));
      return true;
    };
    try {
      const key = 'create-hang-up-1';
      const body = { name: 'left-before-pulled', container_image: `${reg.host}/hang/up:1`, autostart: false };
      const client = new AbortController();
      const answered = fetch(`${d.api}/containers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: client.signal,
      }).catch((err: unknown) => err);
      await eventually('the layer download to start', async () => heldResponses.length, (n) => n > 0, 20_000);
      client.abort();
      assert.ok((await answered) instanceof Error, 'the client gave up');
      // the daemon drops its download of the held blob
      await eventually('the daemon to drop the download', async () => dropped, (v) => v, 20_000);
      assert.deepEqual((await containerNames()).filter((n) => n === body.name), [], 'nothing was created');
      const images = (await call('GET', '/images')).body.data.images.map((i: { name: string }) => i.name);
      assert.ok(!images.some((n: string) => n.includes('hang/up')), `no image was stored: ${images.join(', ')}`);
      // the blob is served whole now; the same key runs the create (it was not kept as answered)
      reg.hook = undefined;
      const retried = await fetch(`${d.api}/containers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      });
      const retriedBody = (await retried.json()) as { data?: { name: string }; code?: string };
      assert.equal(retried.status, 201, JSON.stringify(retriedBody));
      assert.equal(retried.headers.get('idempotent-replayed'), null);
      assert.equal(retriedBody.data?.name, body.name);
    } finally {
      reg.hook = undefined;
      for (const res of heldResponses) res.destroy();
    }
  });
});
