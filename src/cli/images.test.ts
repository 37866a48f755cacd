/** The pull progress display: one line per layer redrawn in place on a terminal, plain step lines otherwise. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PullProgress } from './images.ts';

/** A stream that records what is written to it. */
const sink = (isTTY: boolean): NodeJS.WriteStream & { text: string } => {
  const s = { isTTY, text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
};

const layer = `sha256:${'b'.repeat(64)}`;

describe('hoody images pull progress', () => {
  it('off a terminal prints each layer step once, without byte counts', () => {
    const out = sink(false);
    const p = new PullProgress(out);
    p.update({ kind: 'resolved', reference: 'example.com/app:1', manifestDigest: `sha256:${'a'.repeat(64)}`, layers: [{ digest: layer, size: 2048 }] });
    p.update({ kind: 'download', digest: layer, downloaded: 1024, total: 2048 });
    p.update({ kind: 'downloaded', digest: layer });
    p.update({ kind: 'extracted', diffId: layer, sizeBytes: 4096 });
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
});
