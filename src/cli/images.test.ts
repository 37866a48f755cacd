/** The pull progress display: one line per layer redrawn in place on a terminal, plain step lines otherwise. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PullProgress } from './images.ts';

/** A stream that records what is written to it. */
const sink = (isTTY: boolean, columns = 80): NodeJS.WriteStream & { text: string } => {
  const s = { isTTY, columns, text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
};

const layer = `sha256:${'b'.repeat(64)}`;
/** The escape that starts the cursor and erase sequences. */
const ESC = String.fromCharCode(27);
const REDRAW = new RegExp(`${ESC}\\[\\d+F`);
const CONTROL = new RegExp(`${ESC}\\[(2K|\\d+F)`, 'g');

describe('hoody images pull progress', () => {
  it('off a terminal prints each layer step once, without byte counts', () => {
    const out = sink(false);
    const p = new PullProgress(out);
    p.update({ kind: 'resolved', reference: 'example.com/app:1', manifestDigest: `sha256:${'a'.repeat(64)}`, layers: [{ digest: layer, size: 2048 }] });
    p.update({ kind: 'download', digest: layer, downloaded: 1024, total: 2048 });
    p.update({ kind: 'downloaded', digest: layer });
    p.update({ kind: 'extracted', diffId: `sha256:${'d'.repeat(64)}`, digest: layer, sizeBytes: 4096 });
    assert.equal(out.text, `example.com/app:1: 1 layers, manifest aaaaaaaaaaaa\nbbbbbbbbbbbb: downloaded\nbbbbbbbbbbbb: extracted (4.0 KiB)\n`);
    assert.ok(!out.text.includes('\x1b['));
  });

  it('on a terminal keeps one line per layer, with a bar while it downloads, redrawn in place', () => {
    const out = sink(true);
    const p = new PullProgress(out);
    p.update({ kind: 'download', digest: layer, downloaded: 1024, total: 2048 });
    assert.match(out.text, /bbbbbbbbbbbb: \[=+ +\] 1\.0 KiB\/2\.0 KiB\n$/);
    p.update({ kind: 'downloaded', digest: layer });
    assert.ok(out.text.includes('\x1b[1F'), 'moved back over the line it drew');
    assert.match(out.text, /bbbbbbbbbbbb: downloaded\n$/);
    p.finish();
    const before = out.text;
    p.update({ kind: 'downloaded', digest: layer });
    assert.equal(out.text, before, 'nothing after finish');
  });

  it('on a terminal draws every layer\'s line at once and keeps each layer on its line through download and extraction, cut to the width', () => {
    const out = sink(true, 40);
    const p = new PullProgress(out);
    const other = `sha256:${'c'.repeat(64)}`;
    p.update({ kind: 'resolved', reference: 'registry.example.com/a/very/long/repository/name:1', manifestDigest: `sha256:${'a'.repeat(64)}`, layers: [{ digest: layer, size: 2048 }, { digest: other, size: 4096 }] });
    const screen = (): string[] => {
      // what the terminal shows: the lines of the last redraw
      const last = out.text.split(REDRAW).at(-1) as string;
      return last.split('\n').filter((l) => l !== '').map((l) => l.replace('\x1b[2K', ''));
    };
    assert.deepEqual(screen(), ['registry.example.com/a/very/long/reposi', 'bbbbbbbbbbbb: waiting', 'cccccccccccc: waiting']);
    p.update({ kind: 'download', digest: other, downloaded: 2048, total: 4096 });
    assert.ok(out.text.includes(`${ESC}[3F`), 'redrawn over its three lines');
    assert.equal(screen()[2], 'cccccccccccc: [============            ] 2.0 KiB/4.0 KiB'.slice(0, 39), 'the bar, cut to the width');
    p.update({ kind: 'downloaded', digest: other });
    p.update({ kind: 'extracting', diffId: `sha256:${'e'.repeat(64)}`, digest: other });
    p.update({ kind: 'layer-exists', digest: layer, diffId: `sha256:${'f'.repeat(64)}` });
    p.update({ kind: 'extracted', diffId: `sha256:${'e'.repeat(64)}`, digest: other, sizeBytes: 8192 });
    assert.deepEqual(screen().slice(1), ['bbbbbbbbbbbb: already here', 'cccccccccccc: extracted (8.0 KiB)'], 'one line per layer, none per diff_id');
    for (const l of out.text.split('\n')) assert.ok(l.replace(CONTROL, '').length <= 39, `"${l}" fits the width`);
  });
});
