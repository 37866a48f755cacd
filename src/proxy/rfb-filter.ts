/**
 * The viewer-to-desktop half of an RFB 3.8 connection with security type None, read message by
 * message so that a view-only viewer's input is dropped while its requests for pixels go on.
 *
 * RFB has no framing: where a message ends is known only from its type and fields. A type this
 * filter does not know means it has lost its place, and a stream it cannot follow it cannot gate,
 * so an unknown type (or a length out of range) ends the connection rather than passing through.
 * Only whole messages are forwarded, of types whose length the server reads from the same fields,
 * so the server's reading of what it receives always agrees with this one.
 *
 * Forwarded: SetPixelFormat, SetEncodings, FramebufferUpdateRequest, EnableContinuousUpdates,
 * ClientFence, and the extended clipboard's Caps (no clipboard data). Dropped: KeyEvent,
 * PointerEvent, ClientCutText (the plain one and every other extended clipboard message), xvp,
 * SetDesktopSize, the QEMU extended key event. ClientInit is forced to shared, so a view-only
 * viewer never disconnects the others.
 */

const VERSION = Buffer.from('RFB 003.008\n', 'latin1');
const SECURITY_NONE = 1;
/** The largest ClientCutText text (either sign: a negative length is an extended clipboard message). */
export const MAX_CUT_TEXT = 16 * 1024 * 1024;
/** The largest ClientFence payload the protocol allows. */
const MAX_FENCE_PAYLOAD = 64;
/** The ExtendedMouseButtons pseudo-encoding: with it, a PointerEvent with its mask's top bit set is 7 bytes. */
const EXTENDED_MOUSE_BUTTONS = -316;
const NOTHING = Buffer.alloc(0);
/** The extended clipboard's Caps action bit, in the flags that start its message. */
const CLIPBOARD_CAPS = 0x01000000;

/**
 * Whether an extended clipboard message is the viewer's Caps (its actions and, a U32 each, the
 * largest size of each format it takes: no clipboard data). It goes on: without it, the server
 * assumes the protocol's default caps and sends the desktop's clipboard unasked when it changes,
 * which noVNC in view-only mode does not read past (it loses its place in the stream and
 * disconnects); with noVNC's caps (text, size 0) the server only says that the clipboard changed.
 */
function isClipboardCaps(flags: number, length: number): boolean {
  let formats = 0;
  for (let bits = flags & 0xffff; bits !== 0; bits &= bits - 1) formats++;
  return (flags & CLIPBOARD_CAPS) !== 0 && length === 4 + 4 * formats;
}

/** What the bytes from a position are: a message of `size` bytes, more bytes needed first, or a stream that cannot go on. */
type Step = { size: number; forward: boolean; replace?: Buffer } | { want: number } | { error: string };

export class RfbViewOnlyFilter {
  #stage: 'version' | 'security' | 'init' | 'messages' = 'version';
  /** Bytes received but not yet a whole message (kept as chunks, joined only once enough are here). */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** How many bytes from the start of #pending the next step needs. */
  #want = 1;
  /** Bytes still to drop of a message whose length is known: a cut text of up to 16 MiB is never held. */
  #skip = 0;
  /** Whether the last SetEncodings announced ExtendedMouseButtons. */
  #extendedMouse = false;
  #error: string | undefined;

  /** Takes the next bytes from the viewer: what may go on to the server; with `error`, the connection must be closed. */
  push(chunk: Buffer): { forward: Buffer; error?: string } {
    if (this.#error !== undefined) return { forward: NOTHING, error: this.#error };
    let data = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    if (data.length === 0) return { forward: NOTHING };
    this.#pending.push(data);
    this.#pendingLength += data.length;
    if (this.#pendingLength < this.#want) return { forward: NOTHING };
    const buf = this.#pending.length === 1 ? data : Buffer.concat(this.#pending, this.#pendingLength);
    this.#pending = [];
    this.#pendingLength = 0;

    const out: Buffer[] = [];
    let at = 0;
    while (at < buf.length) {
      const step = this.#step(buf, at);
      if ('error' in step) {
        this.#error = step.error;
        return { forward: Buffer.concat(out), error: step.error };
      }
      if ('want' in step) {
        this.#want = step.want;
        // a copy: the rest of a large chunk is not kept alive by a few bytes of it
        const rest = Buffer.from(buf.subarray(at));
        this.#pending = [rest];
        this.#pendingLength = rest.length;
        break;
      }
      const available = buf.length - at;
      if (step.size > available) {
        // only a dropped message gets here (a forwarded one asks for all of its bytes first)
        this.#skip = step.size - available;
        at = buf.length;
        break;
      }
      if (step.forward) out.push(step.replace ?? buf.subarray(at, at + step.size));
      at += step.size;
    }
    if (at >= buf.length) this.#want = 1;
    return { forward: out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out) };
  }

  /** The message at `at` (whose first byte is there), or how many bytes from `at` are needed to know it. */
  #step(buf: Buffer, at: number): Step {
    const available = buf.length - at;
    switch (this.#stage) {
      case 'version': {
        // refused at the first wrong byte, not after twelve
        const n = Math.min(available, VERSION.length);
        if (!buf.subarray(at, at + n).equals(VERSION.subarray(0, n))) {
          return { error: `the viewer asked for RFB version ${JSON.stringify(buf.subarray(at, at + n).toString('latin1'))}, not "RFB 003.008\\n"` };
        }
        if (n < VERSION.length) return { want: n + 1 };
        this.#stage = 'security';
        return { size: VERSION.length, forward: true };
      }
      case 'security':
        if (buf[at] !== SECURITY_NONE) return { error: `the viewer chose security type ${buf[at]}, not None (1)` };
        this.#stage = 'init';
        return { size: 1, forward: true };
      case 'init':
        this.#stage = 'messages';
        return { size: 1, forward: true, replace: Buffer.from([1]) };
      case 'messages':
        return this.#message(buf, at, available);
    }
  }

  #message(buf: Buffer, at: number, available: number): Step {
    const type = buf[at] as number;
    switch (type) {
      case 0: // SetPixelFormat
        return this.#whole(20, available);
      case 2: {
        // SetEncodings: number-of-encodings at 2, then an S32 each
        if (available < 4) return { want: 4 };
        const size = 4 + 4 * buf.readUInt16BE(at + 2);
        if (available < size) return { want: size };
        this.#extendedMouse = false;
        for (let i = at + 4; i < at + size; i += 4) if (buf.readInt32BE(i) === EXTENDED_MOUSE_BUTTONS) this.#extendedMouse = true;
        return { size, forward: true };
      }
      case 3: // FramebufferUpdateRequest
        return this.#whole(10, available);
      case 4: // KeyEvent
        return { size: 8, forward: false };
      case 5:
        // PointerEvent: a seventh byte (buttons 8 to 15) once ExtendedMouseButtons is on and the
        // mask's top bit marks it; noVNC sends it so only after the server confirmed the extension,
        // which it does only for a viewer that announced it
        if (available < 2) return { want: 2 };
        return { size: this.#extendedMouse && ((buf[at + 1] as number) & 0x80) !== 0 ? 7 : 6, forward: false };
      case 6: {
        // ClientCutText: an S32 length at 4, negative for the extended clipboard (flags, then data)
        if (available < 8) return { want: 8 };
        const signed = buf.readInt32BE(at + 4);
        const length = Math.abs(signed);
        if (length > MAX_CUT_TEXT) return { error: `a ClientCutText of ${length} bytes is over the limit of ${MAX_CUT_TEXT}` };
        if (signed < 0 && length >= 4) {
          if (available < 12) return { want: 12 };
          if (isClipboardCaps(buf.readUInt32BE(at + 8), length)) return this.#whole(8 + length, available);
        }
        return { size: 8 + length, forward: false };
      }
      case 150: // EnableContinuousUpdates
        return this.#whole(10, available);
      case 248: {
        // ClientFence: a U8 payload length at 8
        if (available < 9) return { want: 9 };
        const length = buf[at + 8] as number;
        if (length > MAX_FENCE_PAYLOAD) return { error: `a ClientFence payload of ${length} bytes is over the limit of ${MAX_FENCE_PAYLOAD}` };
        return this.#whole(9 + length, available);
      }
      case 250: // xvp: shutdown, reboot, reset
        return { size: 4, forward: false };
      case 251: // SetDesktopSize: number-of-screens at 6, then 16 bytes a screen
        if (available < 8) return { want: 8 };
        return { size: 8 + 16 * (buf[at + 6] as number), forward: false };
      case 255: // QEMU client message: only the extended key event is known
        if (available < 2) return { want: 2 };
        if (buf[at + 1] !== 0) return { error: `unknown QEMU client message subtype ${buf[at + 1]}` };
        return { size: 12, forward: false };
      default:
        return { error: `unknown RFB client message type ${type}` };
    }
  }

  #whole(size: number, available: number): Step {
    return available < size ? { want: size } : { size, forward: true };
  }
}
