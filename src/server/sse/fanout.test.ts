/**
 * The fan-out's rules over real loopback connections: who gets which event, how frames are
 * grouped into writes, what happens to a client that does not read, and how streams end.
 */
import { describe, it, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SseFanout, type FanoutOptions } from './fanout.ts';
import { EventStreams, type EventStreamsOptions } from './event-streams.ts';
import { FANOUT_PROTOCOL } from './fanout-protocol.ts';
import { PACKAGE_VERSION } from '../../version.ts';
import { LAST_CHUNK, chunk, visibleTo, type StreamEvent, type StreamSpec } from './stream.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` holds, or `ms` have passed. */
async function until(done: () => boolean, ms = 2000): Promise<void> {
  for (const end = performance.now() + ms; !done() && performance.now() < end; ) await sleep(5);
}

/** Burns `ms` of this process's CPU time (what the pacing counts), however long that takes. */
function spinCpu(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

let seq = 0;
function event(over: Partial<StreamEvent> = {}): StreamEvent {
  const s = ++seq;
  return { kind: 'transition', seq: s, containerId: 'c1', projectId: 'p1', ownerId: 'alice', frame: `id: ${s}\nevent: transition\ndata: {}\n\n`, ...over };
}
let streams = 0;
const spec = (over: Partial<StreamSpec> = {}): StreamSpec => ({ streamId: `stream-${++streams}`, userId: 'alice', transitions: true, operations: true, seen: 0, ...over });

/** A client connection and the fan-out's end of it; `chunks` are the reads as they came. */
interface Pair {
  client: net.Socket;
  server: net.Socket;
  chunks: string[];
  text(): string;
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function pair(read = true): Promise<Pair> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  listener.close();
  const chunks: string[] = [];
  if (read) client.on('data', (d: Buffer) => chunks.push(d.toString()));
  else client.pause();
  client.on('error', () => undefined);
  cleanup.push(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server, chunks, text: () => chunks.join('') };
}

function fanout(opts: Partial<FanoutOptions> = {}): SseFanout {
  const f = new SseFanout({ heartbeatMs: 60_000, ...opts });
  cleanup.push(() => f.closeAll());
  return f;
}

describe('visibleTo', () => {
  it('shows a user the events of their own projects only', () => {
    assert.equal(visibleTo(spec(), event()), true);
    assert.equal(visibleTo(spec({ userId: 'bob' }), event()), false);
    assert.equal(visibleTo(spec(), event({ ownerId: undefined })), false, 'an event whose owner is unknown goes to nobody');
  });

  it('applies the container, project and type filters and skips what the catch-up sent', () => {
    const e = event();
    assert.equal(visibleTo(spec({ containerId: 'c2' }), e), false);
    assert.equal(visibleTo(spec({ containerId: 'c1' }), e), true);
    assert.equal(visibleTo(spec({ projectId: 'p2' }), e), false);
    assert.equal(visibleTo(spec({ transitions: false }), e), false);
    assert.equal(visibleTo(spec({ seen: e.seq }), e), false, 'at the catch-up cursor: sent already');
    assert.equal(visibleTo(spec({ seen: e.seq - 1 }), e), true);
    const op = event({ kind: 'operation', seq: 0 });
    assert.equal(visibleTo(spec({ seen: 10_000 }), op), true, 'operation events carry no cursor and are live only');
    assert.equal(visibleTo(spec({ operations: false }), op), false);
  });
});

describe('SseFanout', () => {
  it('gives each event once to each subscriber that may see it, in order, one chunk per turn', async () => {
    const f = fanout();
    const all = await pair();
    const one = await pair();
    const bob = await pair();
    f.add(all.server, spec());
    f.add(one.server, spec({ containerId: 'c2' }));
    f.add(bob.server, spec({ userId: 'bob' }));
    assert.equal(f.size, 3);
    const a = event();
    const b = event({ containerId: 'c2' });
    const c = event({ containerId: 'c2', ownerId: 'bob' });
    f.publish([a, b, c]);
    await sleep(50);
    assert.equal(all.text(), chunk(a.frame + b.frame));
    assert.equal(one.text(), chunk(b.frame), 'the container filter');
    assert.equal(bob.text(), chunk(c.frame), "another user's subscriber sees only what bob owns");
  });

  it('encodes the chunk once for the subscribers that get the same events', async () => {
    const f = fanout();
    const pairs = [await pair(), await pair(), await pair()];
    const written: unknown[][] = pairs.map(() => []);
    pairs.forEach((p, i) => {
      const write = p.server.write.bind(p.server) as (data: unknown) => boolean;
      p.server.write = ((data: unknown) => {
        (written[i] as unknown[]).push(data);
        return write(data);
      }) as typeof p.server.write;
    });
    f.add((pairs[0] as Pair).server, spec());
    f.add((pairs[1] as Pair).server, spec());
    f.add((pairs[2] as Pair).server, spec({ containerId: 'c2' }));
    const [a, b] = [event(), event({ containerId: 'c2' })];
    f.publish([a, b]);
    await sleep(50);
    const [w0, w1, w2] = written.map((w) => w[0]);
    assert.ok(Buffer.isBuffer(w0) && w0 === w1, 'the two unfiltered streams were given one and the same chunk');
    assert.notEqual(w2, w0, 'the filtered stream gets its own');
    assert.equal((pairs[0] as Pair).text(), chunk(a.frame + b.frame));
    assert.equal((pairs[1] as Pair).text(), chunk(a.frame + b.frame));
    assert.equal((pairs[2] as Pair).text(), chunk(b.frame));
  });

  it('gathers the events of a short while into one write once many streams are open', async () => {
    const f = fanout({ coalesceMs: 40, coalesceFrom: 2 });
    const first = await pair();
    f.add(first.server, spec());
    const [a, b] = [event(), event()];
    f.publish([a]);
    await sleep(15);
    f.publish([b]);
    await sleep(60);
    assert.deepEqual(first.chunks, [chunk(a.frame), chunk(b.frame)], 'one stream: each event goes at once');

    const second = await pair();
    f.add(second.server, spec());
    const [c, d] = [event(), event()];
    f.publish([c]);
    await sleep(15);
    assert.equal(second.text(), '', 'held for the window');
    f.publish([d]);
    await sleep(60);
    assert.deepEqual(second.chunks, [chunk(c.frame + d.frame)], 'two streams: one write for both events');
  });

  it('paces the writing with many streams: after a long pass, the next waits in proportion', async () => {
    const f = fanout({ coalesceMs: 10, coalesceFrom: 1, writeShare: 0.5 });
    const p = await pair();
    const writes: number[] = [];
    let spunUntil = 0;
    const write = p.server.write.bind(p.server) as (data: unknown) => boolean;
    p.server.write = ((data: unknown) => {
      writes.push(performance.now());
      if (writes.length === 1) {
        spinCpu(30); // a pass of 30 ms of CPU (other threads of the process may make it shorter in wall time)
        spunUntil = performance.now();
      }
      return write(data);
    }) as typeof p.server.write;
    f.add(p.server, spec());
    const [a, b, c] = [event(), event(), event()];
    f.publish([a]);
    await sleep(45); // the first pass ran at about 10 ms and took 30
    f.publish([b]);
    await until(() => p.text() === chunk(a.frame) + chunk(b.frame));
    assert.equal(p.text(), chunk(a.frame) + chunk(b.frame));
    assert.equal(writes.length, 2);
    const second = writes[1] as number;
    // share 0.5: as long a pause as the pass (30 ms) after its end, not the 10 ms window
    assert.ok(second - spunUntil >= 29, `second pass ${(second - spunUntil).toFixed(1)} ms after the first ended`);
    // a quick pass: back to the plain window
    const t = performance.now();
    f.publish([c]);
    await until(() => writes.length === 3);
    assert.equal(writes.length, 3);
    assert.ok((writes[2] as number) - t < 30, `third pass ${((writes[2] as number) - t).toFixed(1)} ms after its event`);
  });

  it('never makes events wait longer than maxWindowMs, however long the last pass was', async () => {
    const f = fanout({ coalesceMs: 10, coalesceFrom: 1, writeShare: 0.01, maxWindowMs: 80 });
    const p = await pair();
    const writes: number[] = [];
    const write = p.server.write.bind(p.server) as (data: unknown) => boolean;
    p.server.write = ((data: unknown) => {
      writes.push(performance.now());
      if (writes.length === 1) spinCpu(20); // at share 0.01 this pass alone would hold the next for 1.98 s
      return write(data);
    }) as typeof p.server.write;
    f.add(p.server, spec());
    const [a, b] = [event(), event()];
    f.publish([a]);
    await sleep(40);
    const tb = performance.now();
    f.publish([b]);
    await until(() => p.text() === chunk(a.frame) + chunk(b.frame), 2500);
    assert.equal(p.text(), chunk(a.frame) + chunk(b.frame));
    const second = writes[1] as number;
    // the window is counted from b's publish: 80 ms, where the share alone would give ~2 s
    assert.ok(second - tb < 400, `second pass ${(second - tb).toFixed(1)} ms after its event, not ~2 s`);
    assert.ok(second - tb >= 75, `second pass ${(second - tb).toFixed(1)} ms after its event: still paced up to the cap`);
  });

  it('refuses a write share outside 0.01 to 1', async () => {
    for (const bad of [0, 0.005, 1.5, Number.NaN]) assert.throws(() => new SseFanout({ heartbeatMs: 60_000, writeShare: bad }), /writeShare must be between 0.01 and 1/);
    // before forking a fan-out process that would refuse it (the hub, store and projects are never reached)
    const opts = { mode: 'process', heartbeatMs: 60_000, writeShare: 0.001 } as unknown as EventStreamsOptions;
    await assert.rejects(EventStreams.start(opts), /writeShare must be between 0.01 and 1/);
  });

  it('disconnects a subscriber that does not read once its backlog passes the bound, and keeps serving the others', async () => {
    const f = fanout({ maxBufferedBytes: 64 * 1024 });
    const stuck = await pair(false);
    const reader = await pair();
    f.add(stuck.server, spec());
    f.add(reader.server, spec());
    const big = 'x'.repeat(256 * 1024);
    for (let i = 0; i < 40 && !stuck.server.destroyed; i++) {
      f.publish([event({ frame: `data: ${big}\n\n` })]);
      await sleep(10);
    }
    assert.equal(stuck.server.destroyed, true, 'the backlog was bounded');
    await sleep(50);
    assert.equal(f.size, 1);
    const last = event();
    f.publish([last]);
    await sleep(100);
    assert.ok(reader.text().endsWith(chunk(last.frame)), 'the reader still gets events');
  });

  it('ends every stream with the last chunk when it closes, and refuses new ones after', async () => {
    const f = fanout();
    const p = await pair();
    f.add(p.server, spec());
    const ended = once(p.client, 'end');
    f.closeAll();
    await ended;
    assert.equal(p.text(), LAST_CHUNK);
    const late = await pair();
    f.add(late.server, spec());
    assert.equal(late.server.destroyed, true);
    assert.equal(f.size, 0);
  });

  it('ends a stream with the last chunk, and destroys its socket after the grace when the client does not read', async () => {
    const f = fanout({ endGraceMs: 300 });
    const stuck = await pair(false);
    const reader = await pair();
    const stuckSpec = spec();
    const readerSpec = spec();
    f.add(stuck.server, stuckSpec);
    f.add(reader.server, readerSpec);
    const ended = once(reader.client, 'end');
    f.end([stuckSpec.streamId, readerSpec.streamId]);
    await ended;
    assert.equal(reader.text(), LAST_CHUNK);
    await until(() => stuck.server.destroyed, 3000);
    assert.equal(stuck.server.destroyed, true, 'the socket of a client that does not read is not held');
    await until(() => f.size === 0);
    assert.equal(f.size, 0);
  });

  it('sends heartbeats to idle streams', async () => {
    const f = fanout({ heartbeatMs: 30 });
    const p = await pair();
    f.add(p.server, spec());
    await sleep(100);
    assert.ok(p.chunks.length >= 2, `heartbeats: ${p.chunks.length}`);
    assert.ok(p.chunks.every((c) => c === chunk(': heartbeat\n\n')));
  });
});

describe('EventStreams in process mode: starting the fan-out process', () => {
  /** Stand-in fan-out processes, each doing what its body says. */
  const dir = mkdtempSync(join(tmpdir(), 'hoody-fanout-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const child = (name: string, body: string): string => {
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, `${body}\n`);
    return file;
  };
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  /** The pid of this process's child running `file`, found in /proc (forked at once, whether it ever runs our code or not). */
  const childRunning = async (file: string): Promise<number | undefined> => {
    const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').split(' ').filter(Boolean);
    for (const pid of children) {
      if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(file)) return Number(pid);
    }
    return undefined;
  };

  /** Opens one stream through EventStreams with `childFile` as the fan-out process; reports how it ended. */
  async function openThrough(childFile: string, startMs: number) {
    const warnings: string[] = [];
    const hub = { position: 0, subscribe: () => ({ close: () => undefined }) };
    const opts = { hub, mode: 'process', heartbeatMs: 60_000, childFile, startMs, warn: (m: string) => warnings.push(m) } as unknown as EventStreamsOptions;
    const streams = await EventStreams.start(opts);
    const p = await pair();
    let gone = 0;
    const t = performance.now();
    const opened = streams.open(p.server, spec({ transitions: false }), undefined, { signal: new AbortController().signal, onGone: () => gone++ });
    let pid: number | undefined;
    for (const end = performance.now() + 10_000; pid === undefined && gone === 0 && performance.now() < end; await sleep(5)) pid = await childRunning(childFile);
    assert.ok(pid, 'the fan-out process was started');
    await opened;
    await until(() => gone > 0, 20_000);
    const ms = performance.now() - t;
    await streams.close();
    return { warnings, gone, ms, destroyed: p.server.destroyed, pid };
  }

  it('kills a fan-out process that does not get ready within the start deadline, and refuses the stream', async () => {
    const r = await openThrough(child('hangs', 'setInterval(() => undefined, 60_000);'), 1000);
    assert.equal(r.gone, 1, 'the stream waiting for it was ended');
    assert.equal(r.destroyed, true, 'its connection is cut');
    assert.ok(r.ms >= 950 && r.ms < 15_000, `refused after the deadline (${r.ms.toFixed(0)} ms)`);
    assert.ok(r.warnings.some((w) => /did not start within 1000 ms/.test(w)), r.warnings.join('\n'));
    await until(() => !alive(r.pid), 5000);
    assert.equal(alive(r.pid), false, 'the hung process was killed');
  });

  it('refuses a fan-out process of another version or protocol: kills it and says to restart the daemon', async () => {
    for (const [name, ready] of [
      ['other-version', `{ t: 'ready', version: '0.0.0-other', protocol: ${FANOUT_PROTOCOL} }`],
      ['other-protocol', `{ t: 'ready', version: ${JSON.stringify(PACKAGE_VERSION)}, protocol: ${FANOUT_PROTOCOL + 1} }`],
      ['no-version', `{ t: 'ready' }`],
    ] as const) {
      const r = await openThrough(child(name, `process.send(${ready}); setInterval(() => undefined, 60_000);`), 10_000);
      assert.equal(r.gone, 1, `${name}: the stream was ended`);
      assert.equal(r.destroyed, true, `${name}: its connection is cut`);
      assert.ok(r.ms < 8000, `${name}: refused at its ready, not at the deadline (${r.ms.toFixed(0)} ms)`);
      assert.ok(r.warnings.some((w) => /restart the daemon: its files changed on disk/.test(w)), `${name}: ${r.warnings.join('\n')}`);
      await until(() => !alive(r.pid), 5000);
      assert.equal(alive(r.pid), false, `${name}: the mismatched process was killed`);
    }
  });

  it('takes a fan-out process of its own version and protocol', async () => {
    const ready = `{ t: 'ready', version: ${JSON.stringify(PACKAGE_VERSION)}, protocol: ${FANOUT_PROTOCOL} }`;
    // a stand-in that holds the connection it is handed and reports nothing else
    const file = child('matches', `const held = []; process.on('message', (m, h) => { if (h) held.push(h); if (m.t === 'close') process.exit(0); }); process.send(${ready});`);
    const warnings: string[] = [];
    const hub = { position: 0, subscribe: () => ({ close: () => undefined }) };
    const streams = await EventStreams.start({ hub, mode: 'process', heartbeatMs: 60_000, childFile: file, warn: (m: string) => warnings.push(m) } as unknown as EventStreamsOptions);
    const p = await pair();
    let gone = 0;
    await streams.open(p.server, spec({ transitions: false }), undefined, { signal: new AbortController().signal, onGone: () => gone++ });
    await until(() => p.server.destroyed, 10_000);
    assert.equal(p.server.destroyed, true, "the daemon's copy of the connection is closed once handed over");
    assert.equal(gone, 0, 'the stream is held by the process');
    assert.deepEqual(warnings, []);
    await streams.close();
  });
});
