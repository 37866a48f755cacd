/**
 * A shared terminal: every client gets the session's output once and in order, a late joiner gets
 * the screen as it stands (colors and alternate screen included), a slow client is left behind and
 * resynced rather than waited for, and the shell's output is paused while the mirror lags. The
 * mirror is a real headless xterm.js; the session under it is a stand-in with TerminalSession's
 * surface (a stream for the output, recorded input, exit listeners before end listeners).
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import headless from '@xterm/headless';
import { SharedTerminal, isTerminalReport, unfinishedTail, type ClientInfo, type ClientSink, type SharedClient } from './shared-terminal.ts';
import type { TerminalSession } from './terminals.ts';

const RESET = '\x1bc';
const MiB = 1024 * 1024;

/** What SharedTerminal uses of a TerminalSession. */
class FakeSession {
  readonly id = 'session-1';
  readonly output = new PassThrough();
  /** What the session was sent to its shell. */
  readonly inputs: Buffer[] = [];
  readonly resizes: [number, number][] = [];
  private ended = false;
  private exitCode: number | null | undefined;
  private readonly exitListeners: ((code: number | null) => void)[] = [];
  private readonly endListeners: (() => void)[] = [];

  constructor(
    private cols: number,
    private rows: number,
  ) {}

  /** Input waiting for the shell: a test sets it to play a program that does not read. */
  inputBacklog = 0;

  get size(): { cols: number; rows: number } {
    return { cols: this.cols, rows: this.rows };
  }

  get isEnded(): boolean {
    return this.ended;
  }

  write(data: Buffer): Promise<void> {
    this.inputs.push(Buffer.from(data));
    return Promise.resolve();
  }

  resize(cols: number, rows: number): void {
    if (this.ended) return;
    this.resizes.push([cols, rows]);
    this.cols = cols;
    this.rows = rows;
  }

  onExit(listener: (code: number | null) => void): void {
    if (this.exitCode !== undefined) listener(this.exitCode);
    else this.exitListeners.push(listener);
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  /** The command exits: the exit code is told first, then the session ends (as TerminalSession does). */
  exit(code: number | null): void {
    this.exitCode = code;
    for (const l of this.exitListeners.splice(0)) l(code);
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const l of this.endListeners.splice(0)) l();
  }
}

type SinkEvent = { kind: 'output'; data: Buffer } | { kind: 'control'; message: Record<string, unknown> } | { kind: 'close'; code: number; reason: string };

/** A client's connection that records what it is sent; `backlog` is what it reports as not yet sent. */
class FakeSink implements ClientSink {
  readonly events: SinkEvent[] = [];
  backlog = 0;

  output(chunk: Buffer, done: () => void): void {
    this.events.push({ kind: 'output', data: Buffer.from(chunk) });
    done();
  }

  control(message: Record<string, unknown>): void {
    this.events.push({ kind: 'control', message });
  }

  pending(): number {
    return this.backlog;
  }

  close(code: number, reason: string): void {
    this.events.push({ kind: 'close', code, reason });
  }

  chunks(): Buffer[] {
    return this.events.flatMap((e) => (e.kind === 'output' ? [e.data] : []));
  }

  outputs(): string[] {
    return this.chunks().map((c) => c.toString('utf8'));
  }

  controls(): Record<string, unknown>[] {
    return this.events.flatMap((e) => (e.kind === 'control' ? [e.message] : []));
  }

  /** The screens it was sent (each starts with a reset). */
  screens(): string[] {
    return this.outputs().filter((o) => o.startsWith(RESET));
  }

  /** The output after the last screen, as bytes. */
  bytesAfterScreen(): Buffer {
    const chunks = this.chunks();
    let last = -1;
    chunks.forEach((c, i) => {
      if (c.subarray(0, RESET.length).toString('latin1') === RESET) last = i;
    });
    return Buffer.concat(last < 0 ? [] : chunks.slice(last + 1));
  }

  afterScreen(): string {
    return this.bytesAfterScreen().toString('utf8');
  }
}

/** Polls until `cond` holds, failing past the deadline. */
async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Xterm = InstanceType<typeof headless.Terminal>;

function xterm(cols: number, rows: number): Xterm {
  return new headless.Terminal({ cols, rows, scrollback: 1000, allowProposedApi: true });
}

function feed(term: Xterm, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

/** The visible lines of a terminal's active buffer. */
function visibleLines(term: Xterm): string[] {
  const buf = term.buffer.active;
  return Array.from({ length: term.rows }, (_, i) => buf.getLine(buf.viewportY + i)?.translateToString(true) ?? '');
}

/** Each visible cell's text and attributes, to compare colors as well as text. */
function visibleCells(term: Xterm): string[] {
  const buf = term.buffer.active;
  const cell = buf.getNullCell();
  const out: string[] = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buf.getLine(buf.viewportY + y);
    for (let x = 0; x < term.cols; x++) {
      line?.getCell(x, cell);
      out.push(`${y},${x}:${cell.getChars()}|fg${cell.getFgColorMode()}/${cell.getFgColor()}|bg${cell.getBgColorMode()}/${cell.getBgColor()}|b${cell.isBold()}|i${cell.isInverse()}`);
    }
  }
  return out;
}

/** Every line of the normal buffer, scrollback included. */
function normalLines(term: Xterm): string[] {
  const buf = term.buffer.normal;
  return Array.from({ length: buf.length }, (_, i) => buf.getLine(i)?.translateToString(true) ?? '');
}

describe('SharedTerminal', () => {
  const sessions: FakeSession[] = [];
  afterEach(() => {
    for (const s of sessions.splice(0)) s.end();
  });

  function open(cols = 80, rows = 24, index = 1): { session: FakeSession; terminal: SharedTerminal } {
    const session = new FakeSession(cols, rows);
    sessions.push(session);
    const terminal = new SharedTerminal(index, session as unknown as TerminalSession, cols, rows);
    return { session, terminal };
  }

  const info = (userId: string, address: string | null = null): ClientInfo => ({ userId, address });

  async function attachLive(terminal: SharedTerminal, userId = 'u1'): Promise<{ sink: FakeSink; client: SharedClient }> {
    const sink = new FakeSink();
    const client = terminal.attach(info(userId), sink);
    await waitFor(() => sink.screens().length === 1, `${userId}'s screen`);
    return { sink, client };
  }

  it('a client attached before any output gets the session, then a screen, then the output in order', async () => {
    const { session, terminal } = open(80, 24, 3);
    const sink = new FakeSink();
    const client = terminal.attach(info('alice', '10.0.0.1'), sink);
    session.output.write('one ');
    session.output.write('two\r\n');
    await waitFor(() => sink.afterScreen() === 'one two\r\n', 'the first output');
    session.output.write('three');
    await waitFor(() => sink.afterScreen() === 'one two\r\nthree', 'later output');

    assert.deepEqual(sink.events[0], { kind: 'control', message: { type: 'session', id: session.id, index: 3, client: client.id, cols: 80, rows: 24 } });
    const outputs = sink.outputs();
    assert.ok(outputs[0]?.startsWith(RESET), 'the screen comes first');
    assert.doesNotMatch(outputs[0] ?? '', /one|two/, 'the screen is the one before the output');
    assert.deepEqual(outputs.slice(1), ['one ', 'two\r\n', 'three']);
    assert.equal(sink.screens().length, 1);
  });

  it('a late joiner gets the screen, then the output that came while it was joining, once and in order', async () => {
    const { session, terminal } = open();
    const early = await attachLive(terminal, 'early');
    session.output.write('hello-21\r\n');
    const late = new FakeSink();
    terminal.attach(info('late'), late);
    // before the mirror has reached the attach: this output must come after the screen, not in it
    const meanwhile = ['after-1 ', 'after-2 ', '\x1b[1mbold\x1b[0m ', 'after-3\r\n'];
    for (const chunk of meanwhile) session.output.write(chunk);
    await waitFor(() => late.afterScreen().endsWith('after-3\r\n'), 'the held output');
    // and live output after that, with nothing repeated in between
    session.output.write('live-mark');
    await waitFor(() => late.afterScreen().endsWith('live-mark'), 'live output');

    const [screen, ...more] = late.outputs();
    assert.ok(screen?.startsWith(RESET));
    assert.match(screen ?? '', /hello-21/);
    assert.doesNotMatch(screen ?? '', /after-/, 'output after the attach is not in the screen');
    assert.equal(late.screens().length, 1);
    assert.equal(more.join(''), meanwhile.join('') + 'live-mark');
    assert.equal(early.sink.afterScreen(), 'hello-21\r\n' + meanwhile.join('') + 'live-mark');
  });

  it('a late joiner\'s screen draws what the session drew: colors, alternate screen, cursor', async () => {
    const cols = 40;
    const rows = 12;
    const { session, terminal } = open(cols, rows);
    const bytes = [
      'plain \x1b[31mred\x1b[0m \x1b[1;44mbold-on-blue\x1b[0m\r\n',
      '\x1b[38;5;208morange\x1b[0m \x1b[38;2;10;200;30mtruecolor\x1b[0m\r\n',
      'normal screen line\r\n',
      '\x1b[?1049h\x1b[H\x1b[2J',
      '\x1b[32mtop of the alternate screen\x1b[0m\r\n',
      '\x1b[5;10H\x1b[7mreverse\x1b[0m',
      '\x1b[10;1H\x1b[43;30mlast\x1b[0m',
      '\x1b[7;3H',
    ];
    for (const b of bytes) session.output.write(b);
    const reference = xterm(cols, rows);
    await feed(reference, bytes.join(''));

    const late = await attachLive(terminal, 'late');
    const replay = xterm(cols, rows);
    await feed(replay, late.sink.outputs()[0] ?? '');

    assert.equal(reference.buffer.active.type, 'alternate');
    assert.equal(replay.buffer.active.type, 'alternate');
    assert.deepEqual(visibleLines(replay), visibleLines(reference));
    assert.deepEqual(visibleCells(replay), visibleCells(reference));
    assert.deepEqual(normalLines(replay).slice(0, 3), normalLines(reference).slice(0, 3), 'the screen under the alternate one');
    assert.deepEqual([replay.buffer.active.cursorX, replay.buffer.active.cursorY], [reference.buffer.active.cursorX, reference.buffer.active.cursorY]);

    // back on the normal screen, both show it
    session.output.write('\x1b[?1049l');
    await feed(reference, '\x1b[?1049l');
    await waitFor(() => late.sink.afterScreen() === '\x1b[?1049l', 'the switch back');
    await feed(replay, '\x1b[?1049l');
    assert.equal(replay.buffer.active.type, 'normal');
    assert.deepEqual(visibleLines(replay), visibleLines(reference));
    assert.deepEqual(visibleCells(replay), visibleCells(reference));
    reference.dispose();
    replay.dispose();
  });

  it('a client that falls behind gets nothing more until it has drained, then the screen anew', async () => {
    const { session, terminal } = open();
    const fast = await attachLive(terminal, 'fast');
    const slow = await attachLive(terminal, 'slow');
    session.output.write('before ');
    await waitFor(() => slow.sink.afterScreen() === 'before ', 'output to both');

    slow.sink.backlog = 9 * MiB;
    const during = ['d1 ', 'd2 ', 'd3\r\n'];
    for (const chunk of during) session.output.write(chunk);
    await waitFor(() => fast.sink.afterScreen().endsWith('d3\r\n'), 'the fast client\'s output');
    assert.equal(slow.sink.afterScreen(), 'before ', 'the slow client is sent nothing more');
    assert.equal(slow.sink.screens().length, 1);

    slow.sink.backlog = 100 * 1024;
    await waitFor(() => slow.sink.screens().length === 2, 'a fresh screen for the drained client', 1000);
    assert.match(slow.sink.screens()[1] ?? '', /d1 d2 d3/, 'the fresh screen holds what it missed');

    session.output.write('after');
    await waitFor(() => slow.sink.afterScreen() === 'after', 'live output again');
    assert.equal(fast.sink.afterScreen(), 'before d1 d2 d3\r\nafter', 'the fast client got all of it, once');
    assert.equal(fast.sink.screens().length, 1);
  });

  it('pauses the session\'s output while the mirror lags by more than a megabyte, and resumes it', async () => {
    const { session, terminal } = open();
    const fast = await attachLive(terminal, 'fast');
    const lines: string[] = [];
    for (let i = 0; lines.length * 40 < 3 * MiB; i++) lines.push(`line ${String(i).padStart(8, '0')} ${'x'.repeat(24)}\r\n`);
    const data = Buffer.from(lines.join(''), 'latin1');
    let deliveredAtPause = -1;
    session.output.on('pause', () => {
      if (deliveredAtPause < 0) deliveredAtPause = fast.sink.bytesAfterScreen().length;
    });

    for (let at = 0; at < data.length; at += 64 * 1024) session.output.write(data.subarray(at, at + 64 * 1024));
    assert.equal(session.output.isPaused(), true, 'paused while the mirror has megabytes to parse');
    await waitFor(() => deliveredAtPause >= 0, 'the output to pause');
    assert.ok(deliveredAtPause < data.length, `output held back at the pause (${deliveredAtPause} of ${data.length} bytes out)`);
    // the chunk that takes the mirror past a megabyte pauses the stream, before it goes out
    assert.ok(deliveredAtPause >= MiB, `not paused before a megabyte was waiting (${deliveredAtPause} bytes out)`);

    await waitFor(() => !session.output.isPaused() && fast.sink.bytesAfterScreen().length >= data.length, 'the output to resume and all of it to arrive', 15_000);
    assert.ok(fast.sink.bytesAfterScreen().equals(data), 'every byte, in order');
  });

  it('a detached client gets nothing more; the others go on', async () => {
    const { session, terminal } = open();
    const left: SharedClient[] = [];
    terminal.onDetach((c) => left.push(c));
    const aSink = new FakeSink();
    const a = terminal.attach(info('alice', '10.0.0.1'), aSink);
    const bSink = new FakeSink();
    const b = terminal.attach(info('bob', '10.0.0.2'), bSink);
    const cSink = new FakeSink();
    const c = terminal.attach(info('carol', null), cSink);
    await waitFor(() => [aSink, bSink, cSink].every((s) => s.screens().length === 1), 'the screens');

    terminal.detach(b);
    terminal.detach(b);
    assert.deepEqual(left, [b], 'told once');
    const bSeen = bSink.events.length;

    // one that leaves before its screen is ready gets no screen
    const dSink = new FakeSink();
    const d = terminal.attach(info('dave'), dSink);
    terminal.detach(d);
    session.output.write('after');
    const e = await attachLive(terminal, 'erin');
    await waitFor(() => aSink.afterScreen() === 'after' && cSink.afterScreen() === 'after', 'output to the others');

    assert.equal(bSink.events.length, bSeen);
    assert.deepEqual(
      dSink.events.filter((x) => x.kind !== 'control'),
      [],
      'no screen, no output',
    );
    assert.deepEqual(left, [b, d]);
    assert.equal(terminal.clientCount, 3);
    const views = terminal.clientViews();
    assert.deepEqual(views, [
      { id: a.id, user_id: 'alice', address: '10.0.0.1', since: a.since },
      { id: c.id, user_id: 'carol', address: null, since: c.since },
      { id: e.client.id, user_id: 'erin', address: null, since: e.client.since },
    ]);
    for (const v of views) assert.ok(!Number.isNaN(Date.parse(v.since)), `since is a timestamp: ${v.since}`);
    // each client is told who is attached, after every change
    const told = aSink.controls().filter((m) => m.type === 'clients').at(-1) as { index: number; clients: { id: string }[] };
    assert.deepEqual([told.index, told.clients.map((x) => x.id)], [1, views.map((v) => v.id)]);
  });

  it('a resize reaches the session, the mirror and every client; the same size again does nothing', async () => {
    const { session, terminal } = open(80, 24);
    const a = await attachLive(terminal, 'a');
    const b = await attachLive(terminal, 'b');

    terminal.resize(100, 30);
    assert.deepEqual(session.resizes, [[100, 30]]);
    assert.deepEqual(session.size, { cols: 100, rows: 30 });
    const sizes = (sink: FakeSink): unknown[] => sink.controls().filter((m) => (m as { type?: string }).type === 'size');
    for (const s of [a.sink, b.sink]) assert.deepEqual(sizes(s), [{ type: 'size', cols: 100, rows: 30 }]);

    terminal.resize(100, 30);
    assert.deepEqual(session.resizes, [[100, 30]]);
    for (const s of [a.sink, b.sink]) assert.equal(sizes(s).length, 1);

    // the mirror is 100 wide: a 90-column line stays one line for a late joiner
    const wide = 'w'.repeat(90);
    session.output.write(wide);
    const c = new FakeSink();
    terminal.attach(info('c'), c);
    await waitFor(() => c.screens().length === 1, 'the late joiner\'s screen');
    assert.deepEqual(c.controls()[0], { type: 'session', id: session.id, index: 1, client: terminal.clientViews()[2]?.id, cols: 100, rows: 30 });
    const replay = xterm(100, 30);
    await feed(replay, c.screens()[0] ?? '');
    assert.equal(visibleLines(replay)[0], wide);
    replay.dispose();
  });

  it('when the command exits, every client is told its code before it is closed, and is detached', async () => {
    const { session, terminal } = open();
    const left: SharedClient[] = [];
    terminal.onDetach((c) => left.push(c));
    const a = await attachLive(terminal, 'a');
    const b = await attachLive(terminal, 'b');

    session.exit(3);
    for (const s of [a.sink, b.sink]) {
      const tail = s.events.slice(-2);
      assert.deepEqual(tail, [
        { kind: 'control', message: { type: 'exit', code: 3 } },
        { kind: 'close', code: 1000, reason: 'exited' },
      ]);
      assert.equal(s.events.filter((x) => x.kind === 'close').length, 1, 'closed once');
    }
    assert.deepEqual(left, [a.client, b.client]);
    assert.equal(terminal.clientCount, 0);
    assert.deepEqual(terminal.clientViews(), []);
  });

  it('the mirror answers the shell\'s cursor position query, once whatever the number of clients', async () => {
    const { session, terminal } = open();
    for (const name of ['a', 'b', 'c']) await attachLive(terminal, name);
    session.output.write('\x1b[3;5Habc\x1b[6n');
    // a client attaching now gets its screen once the mirror has parsed the query
    await attachLive(terminal, 'd');
    await waitFor(() => session.inputs.length > 0, 'the answer');
    assert.deepEqual(
      session.inputs.map((b) => b.toString('latin1')),
      ['\x1b[3;8R'],
    );
  });

  /** What a client joining after `before` and before `after` draws, and what one there from the start draws. */
  async function joinBetween(before: Buffer | string, after: Buffer | string, cols = 20, rows = 6): Promise<{ got: Xterm; want: Xterm; screen: string }> {
    const { session, terminal } = open(cols, rows);
    session.output.write(before);
    const late = new FakeSink();
    terminal.attach(info('late'), late);
    session.output.write(after);
    session.output.write('#end');
    await waitFor(() => late.afterScreen().endsWith('#end'), 'the late joiner\'s output');
    const screen = late.screens()[0] ?? '';
    const got = xterm(cols, rows);
    await feed(got, Buffer.concat(late.chunks()));
    const want = xterm(cols, rows);
    await feed(want, Buffer.concat([Buffer.from(before), Buffer.from(after), Buffer.from('#end')]));
    return { got, want, screen };
  }

  it(
    'a client joining while an escape sequence or a character is cut between two reads draws what the others draw',

    async () => {
      const euro = Buffer.from('€', 'utf8');
      const cases: [string, Buffer, Buffer][] = [
        ['a color sequence', Buffer.from('x \x1b[3'), Buffer.from('1mred\x1b[0m\r\n')],
        ['a UTF-8 character', Buffer.concat([Buffer.from('price '), euro.subarray(0, 2)]), Buffer.concat([euro.subarray(2), Buffer.from('5\r\n')])],
      ];
      const differ: string[] = [];
      for (const [name, before, after] of cases) {
        const { got, want } = await joinBetween(before, after);
        if (JSON.stringify(visibleCells(got)) !== JSON.stringify(visibleCells(want))) differ.push(`${name}: ${JSON.stringify(visibleLines(got))} instead of ${JSON.stringify(visibleLines(want))}`);
        got.dispose();
        want.dispose();
      }
      assert.deepEqual(differ, []);
    },
  );

  it(
    'output after a late joiner\'s screen draws as for the others: scroll region, line-drawing charset',

    async () => {
      const cases: [string, string, string][] = [
        // a region of rows 2-4 between a fixed top and bottom line, the cursor on its last row
        ['scroll region', '\x1b[2;4r\x1b[1;1Htop\x1b[2;1Ha\r\nb\r\nc\x1b[6;1Hbottom\x1b[4;1H', '\r\nd\r\ne'],
        ['line-drawing charset', '\x1b(0q', 'q\x1b(B'],
      ];
      const differ: string[] = [];
      for (const [name, before, after] of cases) {
        const { got, want } = await joinBetween(before, after);
        if (JSON.stringify(visibleLines(got)) !== JSON.stringify(visibleLines(want))) differ.push(`${name}: ${JSON.stringify(visibleLines(got))} instead of ${JSON.stringify(visibleLines(want))}`);
        got.dispose();
        want.dispose();
      }
      assert.deepEqual(differ, []);
    },
  );

  it(
    'a late joiner\'s terminal hides the cursor and encodes mouse reports as the session asked',

    async () => {
      const { screen, got, want } = await joinBetween('\x1b[?25l\x1b[?1000h\x1b[?1006hhtop', '');
      got.dispose();
      want.dispose();
      assert.ok(screen.includes('\x1b[?1000h'), 'mouse tracking');
      assert.ok(screen.includes('\x1b[?25l'), 'the cursor hidden');
      assert.ok(screen.includes('\x1b[?1006h'), 'SGR mouse encoding');
    },
  );
});

describe('SharedTerminal under abuse', () => {
  it('drops the mirror\'s answers while the shell does not read its input, and applies resizes at most every 50 ms, the last one asked', async () => {
    const session = new FakeSession(80, 24);
    const terminal = new SharedTerminal(1, session as unknown as TerminalSession, 80, 24);
    session.inputBacklog = 100_000;
    for (let i = 0; i < 100; i++) session.output.write('\x1b[c');
    const reset = new FakeSink();
    terminal.attach({ userId: 'a', address: null }, reset);
    await waitFor(() => reset.screens().length === 1, 'the screen');
    assert.equal(session.inputs.length, 0, 'no answer queued behind input nobody reads');
    session.inputBacklog = 0;
    for (let n = 0; n < 20; n++) terminal.resize(100 + n, 30);
    await waitFor(() => session.resizes.at(-1)?.[0] === 119, 'the last resize applied');
    assert.ok(session.resizes.length <= 3, `resizes applied: ${JSON.stringify(session.resizes)}`);
    session.end();
  });
});

describe('unfinishedTail', () => {
  const tail = (s: string | Buffer): number => unfinishedTail(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

  it('measures an escape sequence or a character the output was cut in', () => {
    const cases: [string | Buffer, number][] = [
      ['plain text', 0],
      ['x\x1b', 1],
      ['x\x1b[3', 3],
      ['x\x1b[31;1', 6],
      ['x\x1b[31mred', 0],
      ['\x1b]0;title', 9],
      ['\x1b]0;title\x07after', 0],
      ['\x1b]0;title\x1b\\', 0],
      ['\x1b(', 2],
      ['\x1b(0q', 0],
      ['\x1b7', 0],
      [Buffer.from([0x61, 0xe2, 0x82]), 2],
      [Buffer.from([0x61, 0xe2, 0x82, 0xac]), 0],
      [Buffer.from([0xf0, 0x9f]), 2],
      [Buffer.concat([Buffer.from('\x1b[1m', 'latin1'), Buffer.from([0xc3])]), 1],
    ];
    for (const [text, n] of cases) assert.equal(tail(text), n, JSON.stringify(text.toString()));
  });
});

describe('isTerminalReport', () => {
  const report = (s: string): boolean => isTerminalReport(Buffer.from(s, 'latin1'));

  it('recognizes cursor position, device attributes and status reports, alone or together', () => {
    for (const s of [
      '\x1b[12;40R',
      '\x1b[?1;2c',
      '\x1b[>0;276;0c',
      '\x1b[0n',
      '\x1b[12;40R\x1b[?1;2c',
      '\x1b[?1;2c\x1b[>0;276;0c\x1b[0n\x1b[1;1R',
      '\x1b[?2004;2$y',
      '\x1b[4;1$y',
      '\x1bP1$r0m\x1b\\',
    ]) {
      assert.equal(report(s), true, JSON.stringify(s));
    }
  });

  it('lets through typed text, reports with text around them, arrow keys and bracketed paste', () => {
    for (const s of ['ls -l\r', 'x\x1b[12;40R', '\x1b[12;40Rx', 'a\x1b[0nb', '\x1b[A', '\x1b[B\x1b[C', '\x1b[200~', '\x1b[200~pasted\x1b[201~', '', 'R']) {
      assert.equal(report(s), false, JSON.stringify(s));
    }
  });
});
