/** The SDK's image calls over a scripted fetch: the NDJSON pull stream, the raw upload, the query and paths. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HoodyClient } from '../src/sdk/client.ts';
import type { HoodyApiError } from '../src/sdk/errors.ts';

interface Seen {
  url: string;
  init: RequestInit;
}

/** A fetch answering `body` (split into `chunks` pieces, to cut lines in two) and recording each request. */
function scripted(status: number, body: string, contentType: string, chunks = 1): { fetch: (url: string, init: RequestInit) => Promise<Response>; seen: Seen[] } {
  const seen: Seen[] = [];
  return {
    seen,
    fetch: async (url, init) => {
      seen.push({ url, init });
      const size = Math.ceil(body.length / chunks);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < body.length; i += size) controller.enqueue(new TextEncoder().encode(body.slice(i, i + size)));
          controller.close();
        },
      });
      return new Response(stream, { status, headers: { 'content-type': contentType } });
    },
  };
}

const image = { id: 'sha256:' + 'a'.repeat(64), name: 'example.com/app:1' };

describe('client.api.images', () => {
  it('pull with onProgress reads the NDJSON stream, lines cut anywhere, and answers the image', async () => {
    const lines = [
      { kind: 'resolved', reference: 'example.com/app:1', manifestDigest: 'sha256:m', layers: [{ digest: 'sha256:l', size: 3 }] },
      { kind: 'download', digest: 'sha256:l', downloaded: 3, total: 3 },
      { kind: 'done', image },
    ];
    const f = scripted(200, lines.map((l) => JSON.stringify(l)).join('\n') + '\n', 'application/x-ndjson', 7);
    const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:1', token: 't', fetch: f.fetch });
    const events: string[] = [];
    const res = await client.api.images.pull('example.com/app:1', { platform: 'linux/arm64', onProgress: (e) => events.push(e.kind) });
    assert.deepEqual(events, ['resolved', 'download']);
    assert.equal(res.data.image.id, image.id);
    assert.equal(f.seen[0]?.url, 'http://127.0.0.1:1/api/v1/images/pull');
    assert.equal((f.seen[0]?.init.headers as Record<string, string>).accept, 'application/x-ndjson');
    assert.deepEqual(JSON.parse(f.seen[0]?.init.body as string), { reference: 'example.com/app:1', platform: 'linux/arm64' });
  });

  it('an error line rejects with its code and details', async () => {
    const f = scripted(200, JSON.stringify({ kind: 'error', error: { code: 'IMAGE_PULL_FAILED', message: 'cannot pull "x": unauthorized', details: { kind: 'unauthorized' } } }) + '\n', 'application/x-ndjson');
    const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:1', fetch: f.fetch });
    await assert.rejects(client.api.images.pull('x', { onProgress: () => undefined }), (err: HoodyApiError) => err.code === 'IMAGE_PULL_FAILED' && err.details?.kind === 'unauthorized');
  });

  it('import sends the archive as it is, as application/x-tar; delete, tag and get escape the name', async () => {
    const f = scripted(200, JSON.stringify({ statusCode: 200, message: 'ok', data: { images: [] } }), 'application/json');
    const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:1', fetch: f.fetch });
    const tar = new Uint8Array([1, 2, 3]);
    await client.api.images.import(tar);
    assert.equal((f.seen[0]?.init.headers as Record<string, string>)['content-type'], 'application/x-tar');
    assert.equal(f.seen[0]?.init.body, tar);
    await client.api.images.delete('docker.io/library/nginx:1.27', { force: true });
    assert.equal(f.seen[1]?.url, 'http://127.0.0.1:1/api/v1/images/docker.io%2Flibrary%2Fnginx%3A1.27?force=true');
    await client.api.images.tag('sha256:abc', 'example.com/app:2');
    assert.equal(f.seen[2]?.url, 'http://127.0.0.1:1/api/v1/images/sha256%3Aabc/tag');
  });
});
