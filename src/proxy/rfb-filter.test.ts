import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CUT_TEXT, RfbViewOnlyFilter } from './rfb-filter.ts';

// client messages as noVNC 1.7 writes them (core/rfb.js, RFB.messages)
const u16 = (n: number): number[] => [(n >> 8) & 255, n & 255];
const s32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const msg = (...bytes: number[]): Buffer => Buffer.from(bytes);

const version = Buffer.from('RFB 003.008\n', 'latin1');
const securityNone = msg(1);
const clientInitExclusive = msg(0);
const setPixelFormat = msg(0, 0, 0, 0, 32, 24, 0, 1, ...u16(255), ...u16(255), ...u16(255), 0, 8, 16, 0, 0, 0);
// noVNC's list: CopyRect, Tight, TightPNG, ZRLE, JPEG, Hextile, RRE, Zlib, Raw, quality 6, compression 2,
// DesktopSize, LastRect, QEMU key, QEMU LED, ExtendedDesktopSize, xvp, Fence, ContinuousUpdates,
// DesktopName, ExtendedClipboard, ExtendedMouseButtons, VMware cursor, Cursor
const encodings = [1, 7, -260, 16, 21, 5, 2, 6, 0, -26, -254, -223, -224, -258, -261, -308, -309, -312, -313, -307, 0xc0a1e5ce | 0, -316, 0x574d5664, -239];
const setEncodings = (list: number[]): Buffer => msg(2, 0, ...u16(list.length), ...list.flatMap(s32));
const fbUpdateRequest = (incremental: boolean): Buffer => msg(3, incremental ? 1 : 0, ...u16(0), ...u16(0), ...u16(1280), ...u16(720));
const enableContinuousUpdates = msg(150, 1, ...u16(0), ...u16(0), ...u16(1280), ...u16(720));
const clientFence = (payload: number[]): Buffer => msg(248, 0, 0, 0, ...s32(0x80000003 | 0), payload.length, ...payload);
const keyEvent = msg(4, 1, 0, 0, ...s32(0x61));
const qemuKeyEvent = msg(255, 0, ...u16(1), ...s32(0x61), ...s32(0x1e));
const pointerEvent = msg(5, 1, ...u16(100), ...u16(200));
const extendedPointerEvent = msg(5, 0x80, ...u16(100), ...u16(200), 1);
const clientCutText = (text: string): Buffer => Buffer.concat([msg(6, 0, 0, 0, ...s32(Buffer.byteLength(text, 'latin1'))), Buffer.from(text, 'latin1')]);
// the extended clipboard (a negative length, then flags: actions in the top byte, formats below):
// noVNC's caps in answer to the server's (all five actions, text of size 0), and what it sends to
// paste (notify), to ask for the desktop's text (request) and to hand its own (provide, zlib data)
const extendedClipboardCaps = msg(6, 0, 0, 0, ...s32(-8), 0x1f, 0, 0, 1, ...s32(0));
const extendedClipboardNotify = msg(6, 0, 0, 0, ...s32(-4), 0x08, 0, 0, 1);
const extendedClipboardRequest = msg(6, 0, 0, 0, ...s32(-4), 0x02, 0, 0, 1);
const extendedClipboardProvide = msg(6, 0, 0, 0, ...s32(-10), 0x10, 0, 0, 1, 0x78, 0x9c, 1, 2, 3, 4);
const setDesktopSize = msg(251, 0, ...u16(1920), ...u16(1080), 1, 0, ...s32(0), ...u16(0), ...u16(0), ...u16(1920), ...u16(1080), ...s32(0));
const xvp = msg(250, 0, 1, 2);

/** A connected filter: the handshake already pushed. */
function connected(): RfbViewOnlyFilter {
  const filter = new RfbViewOnlyFilter();
  assert.equal(filter.push(Buffer.concat([version, securityNone, clientInitExclusive])).error, undefined);
  return filter;
}

/** All the bytes forwarded for the chunks, in order; fails on an error. */
function feed(filter: RfbViewOnlyFilter, chunks: Buffer[]): Buffer {
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const { forward, error } = filter.push(chunk);
    assert.equal(error, undefined);
    out.push(forward);
  }
  return Buffer.concat(out);
}

const bytewise = (data: Buffer): Buffer[] => [...data].map((b) => Buffer.from([b]));

describe('RfbViewOnlyFilter', () => {
  // a session as noVNC writes it in normal mode, input and all
  const session: [Buffer, boolean][] = [
    [version, true],
    [securityNone, true],
    [clientInitExclusive, true],
    [setPixelFormat, true],
    [setEncodings(encodings), true],
    [fbUpdateRequest(false), true],
    [extendedClipboardCaps, true],
    [clientFence([1, 2, 3, 4]), true],
    [extendedClipboardNotify, false],
    [extendedClipboardRequest, false],
    [extendedClipboardProvide, false],
    [enableContinuousUpdates, true],
    [keyEvent, false],
    [qemuKeyEvent, false],
    [pointerEvent, false],
    [extendedPointerEvent, false],
    [clientCutText('hello'), false],
    [setDesktopSize, false],
    [xvp, false],
    [fbUpdateRequest(true), true],
    [clientFence([]), true],
  ];
  const input = Buffer.concat(session.map(([m]) => m));
  const expected = Buffer.concat(session.filter(([, kept]) => kept).map(([m]) => (m === clientInitExclusive ? msg(1) : m)));

  it('forwards the same bytes whether a session comes in one chunk, byte by byte or in any pieces', () => {
    assert.deepEqual(feed(new RfbViewOnlyFilter(), [input]), expected);
    assert.deepEqual(feed(new RfbViewOnlyFilter(), bytewise(input)), expected);
    for (let seed = 1; seed <= 20; seed++) {
      const chunks: Buffer[] = [];
      for (let at = 0, n = seed; at < input.length; at += n, n = (n * 7 + seed) % 23 || 1) chunks.push(input.subarray(at, at + n));
      assert.deepEqual(feed(new RfbViewOnlyFilter(), chunks), expected, `pieces of seed ${seed}`);
    }
  });

  it('drops key, pointer, cut text, resize, xvp and QEMU key events', () => {
    for (const input of [keyEvent, pointerEvent, clientCutText('secret'), clientCutText(''), extendedClipboardNotify, extendedClipboardRequest, extendedClipboardProvide, setDesktopSize, xvp, qemuKeyEvent]) {
      const filter = connected();
      assert.deepEqual(feed(filter, [input, fbUpdateRequest(true)]), fbUpdateRequest(true), `type ${input[0]}`);
      assert.deepEqual(feed(connected(), bytewise(Buffer.concat([input, fbUpdateRequest(true)]))), fbUpdateRequest(true), `type ${input[0]} byte by byte`);
    }
  });

  it('reads a PointerEvent as seven bytes only once ExtendedMouseButtons is announced', () => {
    // without the extension, the top bit is button 8 of a six-byte event
    const plain = msg(5, 0x80, ...u16(1), ...u16(2));
    assert.deepEqual(feed(connected(), [plain, fbUpdateRequest(true)]), fbUpdateRequest(true));
    const filter = connected();
    assert.deepEqual(feed(filter, [setEncodings([0, -316]), extendedPointerEvent, pointerEvent, fbUpdateRequest(true)]), Buffer.concat([setEncodings([0, -316]), fbUpdateRequest(true)]));
    // a later SetEncodings without it turns it off
    assert.deepEqual(feed(filter, [setEncodings([0]), plain, fbUpdateRequest(false)]), Buffer.concat([setEncodings([0]), fbUpdateRequest(false)]));
  });

  it('forwards pixel format, encodings, update requests, continuous updates and fences byte-exact', () => {
    const kept = [setPixelFormat, setEncodings(encodings), setEncodings([]), fbUpdateRequest(false), fbUpdateRequest(true), enableContinuousUpdates, clientFence([]), clientFence(Array.from({ length: 64 }, (_, i) => i))];
    assert.deepEqual(feed(connected(), kept), Buffer.concat(kept));
    assert.deepEqual(feed(connected(), bytewise(Buffer.concat(kept))), Buffer.concat(kept));
  });

  it("forwards the extended clipboard's caps, which carry no clipboard data", () => {
    assert.deepEqual(feed(connected(), [extendedClipboardCaps]), extendedClipboardCaps);
    assert.deepEqual(feed(connected(), bytewise(extendedClipboardCaps)), extendedClipboardCaps);
    // two formats, two sizes
    const two = msg(6, 0, 0, 0, ...s32(-12), 0x01, 0, 0, 3, ...s32(1024), ...s32(0));
    assert.deepEqual(feed(connected(), [two]), two);
    // caps whose length does not match their formats, or a provide dressed as caps, are dropped
    for (const odd of [msg(6, 0, 0, 0, ...s32(-12), 0x01, 0, 0, 1, ...s32(0), ...s32(0)), msg(6, 0, 0, 0, ...s32(-10), 0x11, 0, 0, 1, 0x78, 0x9c, 1, 2, 3, 4), msg(6, 0, 0, 0, ...s32(-2), 1, 0)]) {
      assert.deepEqual(feed(connected(), [odd, fbUpdateRequest(true)]), fbUpdateRequest(true));
    }
  });

  it('drops a large cut text without holding it, then goes on', () => {
    const filter = connected();
    const length = 1024 * 1024;
    const header = msg(6, 0, 0, 0, ...s32(length));
    const text = Buffer.alloc(length, 0x61);
    assert.deepEqual(feed(filter, [header, text.subarray(0, 1000), text.subarray(1000, 5000)]), Buffer.alloc(0));
    assert.deepEqual(feed(filter, [Buffer.concat([text.subarray(5000), fbUpdateRequest(true)])]), fbUpdateRequest(true));
    // the limit itself is allowed, either sign
    assert.equal(connected().push(msg(6, 0, 0, 0, ...s32(MAX_CUT_TEXT))).error, undefined);
    assert.equal(connected().push(msg(6, 0, 0, 0, ...s32(-MAX_CUT_TEXT))).error, undefined);
  });

  it('forces ClientInit to shared', () => {
    for (const flag of [0, 1, 7]) {
      const filter = new RfbViewOnlyFilter();
      assert.deepEqual(feed(filter, [version, securityNone, msg(flag)]), Buffer.concat([version, securityNone, msg(1)]));
    }
  });

  it('refuses what it cannot follow', () => {
    const cases: [string, Buffer][] = [
      ['an unknown message type', msg(7, 0, 0, 0)],
      ['a gii message', msg(253, 0x81, 0, 4)],
      ['a QEMU audio message', msg(255, 1, ...u16(0))],
      ['an oversize cut text', msg(6, 0, 0, 0, ...s32(MAX_CUT_TEXT + 1))],
      ['an oversize extended cut text', msg(6, 0, 0, 0, ...s32(-MAX_CUT_TEXT - 1))],
      ['the most negative cut text length', msg(6, 0, 0, 0, 0x80, 0, 0, 0)],
      ['an oversize fence', msg(248, 0, 0, 0, ...s32(0), 65)],
    ];
    for (const [what, bad] of cases) {
      const filter = connected();
      const { forward, error } = filter.push(Buffer.concat([fbUpdateRequest(true), bad, fbUpdateRequest(false)]));
      assert.ok(error, what);
      // what came before is whole and forwarded; nothing after
      assert.deepEqual(forward, fbUpdateRequest(true), what);
    }
  });

  it('refuses a version other than 3.8 and a security type other than None', () => {
    for (const bad of ['RFB 003.003\n', 'RFB 003.007\n', 'RFB 004.001\n', 'GET / HTTP/1.1']) {
      const { forward, error } = new RfbViewOnlyFilter().push(Buffer.from(bad, 'latin1'));
      assert.match(error ?? '', /version/, bad);
      assert.equal(forward.length, 0);
    }
    // at the first wrong byte
    const filter = new RfbViewOnlyFilter();
    assert.equal(filter.push(Buffer.from('RFB 003.00', 'latin1')).error, undefined);
    assert.match(filter.push(Buffer.from('3', 'latin1')).error ?? '', /version/);
    const vnc = new RfbViewOnlyFilter().push(Buffer.concat([version, msg(2)]));
    assert.deepEqual(vnc.forward, version);
    assert.match(vnc.error ?? '', /security type 2/);
  });

  it('forwards nothing after an error', () => {
    const filter = connected();
    assert.ok(filter.push(msg(99)).error);
    const after = filter.push(Buffer.concat([fbUpdateRequest(true), setPixelFormat]));
    assert.ok(after.error);
    assert.equal(after.forward.length, 0);
    const bytes = bytewise(fbUpdateRequest(true)).map((b) => filter.push(b));
    assert.ok(bytes.every((r) => r.forward.length === 0 && r.error));
  });
});
