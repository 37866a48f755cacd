/** `hoody images …`: list, inspect, pull (with per-layer progress), import, tag, rm, prune. */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { Command, Option } from 'commander';
import { isHoodyApiError, type CreateContainerBody, type HoodyClient, type Image, type ImageDetail, type ImagePullEvent } from '../sdk/index.ts';
import { clientFor } from './context.ts';
import { dash, formatBytes, jsonOption, print, printJson, renderFields, renderTable, shellJoin, type Column } from './output.ts';
import { withSpinner } from './spinner.ts';

const IMAGE_COLUMNS: Column<Image>[] = [
  { header: 'NAME', value: (i) => i.name },
  { header: 'ID', value: (i) => shortId(i.id) },
  { header: 'SIZE', value: (i) => formatBytes(i.size_bytes) },
  { header: 'LAYERS', value: (i) => String(i.layers) },
  { header: 'CREATED', value: (i) => i.created_at },
  { header: 'USED BY', value: (i) => String(i.used_by.length) },
  { header: 'SOURCE', value: (i) => i.source },
];

/** `sha256:` and 12 hex characters, as Docker shows ids; built-in ids as they are. */
const shortId = (id: string): string => (id.startsWith('sha256:') ? id.slice(7, 19) : id);

export function imagesCommand(): Command {
  const images = new Command('images').alias('image').description('images this server can run: list, pull, import, inspect, tag, remove, prune');

  images
    .command('list')
    .alias('ls')
    .description('list images (the built-in busybox always)')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('listing images', clientFor(cmd).api.images.list());
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.images, IMAGE_COLUMNS));
    });

  images
    .command('inspect')
    .alias('get')
    .description('show an image: names, digests, layers, its config and who uses it')
    .argument('<image>', 'name (nginx:1.27) or id')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('reading image', clientFor(cmd).api.images.get(ref));
      if (opts.json) return printJson(res.data);
      print(imageView(res.data.image));
    });

  images
    .command('pull')
    .description('pull an image from its registry (here busybox means Docker Hub\'s)')
    .argument('<reference>', 'e.g. nginx:1.27, ghcr.io/acme/api@sha256:…, localhost:5000/app')
    .addOption(new Option('--platform <os/arch[/variant]>', 'the platform to pick from a multi-platform image (default: the server\'s)'))
    .addOption(jsonOption())
    .action(async (reference: string, opts: { platform?: string; json?: boolean }, cmd: Command) => {
      const pulled = await pullShowingProgress(clientFor(cmd), reference, opts.platform);
      if (opts.json) return printJson(pulled);
      print(`pulled ${pulled.image.name} (${shortId(pulled.image.id)}, ${formatBytes(pulled.image.size_bytes)})`);
    });

  images
    .command('import')
    .description('import a docker save, podman save or oci-archive tarball')
    .argument('<file>', 'the tarball ("-" for standard input)')
    .addOption(jsonOption())
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      if (file !== '-') await stat(file);
      // a file goes as a Blob, so its length is sent first and an archive over the server's limit is refused before it is sent
      const body = file === '-' ? (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>) : await openAsBlob(file);
      const res = await withSpinner(`importing ${file === '-' ? 'standard input' : basename(file)}`, clientFor(cmd).api.images.import(body));
      if (opts.json) return printJson(res.data);
      for (const i of res.data.images) print(`imported ${i.name} (${shortId(i.id)}, ${i.layers} layers, ${formatBytes(i.size_bytes)})`);
    });

  images
    .command('tag')
    .description('give an image one more name (admin token)')
    .argument('<image>', 'name or id')
    .argument('<name>', 'the new name, e.g. registry.example.com/app:v2')
    .addOption(jsonOption())
    .action(async (ref: string, name: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('tagging image', clientFor(cmd).api.images.tag(ref, name));
      if (opts.json) return printJson(res.data);
      print(`${res.data.image.id}: ${res.data.image.names.join(', ')}`);
    });

  images
    .command('rm')
    .alias('delete')
    .description('remove a name, or an image by id (admin token); refused while containers use it unless --force')
    .argument('<image>', 'name or id')
    .option('--force', 'remove it even while containers use it (they cannot start again)')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      const res = await withSpinner('removing image', clientFor(cmd).api.images.delete(ref, { force: opts.force === true }));
      if (opts.json) return printJson(res.data);
      for (const name of res.data.untagged) print(`untagged ${name}`);
      for (const id of res.data.removed) print(`removed ${id}`);
    });

  images
    .command('prune')
    .description('remove every image no container uses (admin token)')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('pruning images', clientFor(cmd).api.images.prune());
      if (opts.json) return printJson(res.data);
      for (const id of res.data.removed) print(`removed ${id}`);
      print(`reclaimed ${formatBytes(res.data.reclaimed_bytes)}`);
    });

  return images;
}

/** One image as a key/value block. */
function imageView(i: ImageDetail): string {
  const c = i.config;
  return renderFields([
    ['id', i.id],
    ['names', i.names.join(', ') || '-'],
    ['repo digests', i.repo_digests.join(', ') || '-'],
    ['size', formatBytes(i.size_bytes)],
    ['layers', String(i.layers)],
    ['created', i.created_at],
    ['stored', i.stored_at],
    ['source', i.source],
    ['entrypoint', c.entrypoint.length ? shellJoin(c.entrypoint) : '-'],
    ['cmd', c.cmd.length ? shellJoin(c.cmd) : '-'],
    ['working dir', dash(c.working_dir)],
    ['user', dash(c.user)],
    ['env', c.env.join(' ') || '-'],
    ['exposed ports', c.exposed_ports.join(', ') || '-'],
    ['labels', Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'],
    ['used by', i.used_by.join(', ') || '-'],
  ]);
}

/**
 * Whether a create of `reference` under `policy` will pull: always, or when the server does not
 * have it (then the CLI pulls first, so its progress is seen instead of a silent wait).
 */
export async function needsPull(client: HoodyClient, reference: string, policy: NonNullable<CreateContainerBody['pull']>): Promise<boolean> {
  if (policy === 'never') return false;
  try {
    const found = await client.api.images.get(reference);
    // the built-in image is never pulled, whatever the policy
    return policy === 'always' && !found.data.image.builtin;
  } catch (err) {
    if (isHoodyApiError(err, 'IMAGE_NOT_FOUND')) return true;
    // anything else (a read-only token, an ambiguous name) is for the create to answer
    return false;
  }
}

/** Pulls `reference`, drawing its per-layer progress on standard error. */
export async function pullShowingProgress(client: HoodyClient, reference: string, platform?: string): Promise<{ image: ImageDetail }> {
  const progress = new PullProgress(process.stderr);
  try {
    const res = await client.api.images.pull(reference, { ...(platform ? { platform } : {}), onProgress: (e) => progress.update(e) });
    return res.data;
  } finally {
    progress.finish();
  }
}

type Progress = Exclude<ImagePullEvent, { kind: 'done' } | { kind: 'error' }>;

/**
 * A pull's progress: on a terminal one line per layer (in the manifest's order, keyed by the
 * layer's blob digest), redrawn in place, a bar while it downloads, each line cut to the
 * terminal's width so that redrawing never leaves wrapped pieces; otherwise a plain line per
 * layer step, for logs.
 */
export class PullProgress {
  private readonly layers = new Map<string, string>();
  private drawn = 0;
  private done = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(e: Progress): void {
    if (this.done) return;
    if (!this.out.isTTY) {
      const line = describe(e);
      // plain lines: every step but the byte counts, which would flood a log
      if (line && e.kind !== 'download') this.out.write(`${line.key}: ${line.text}\n`);
      return;
    }
    const line = describe(e);
    if (!line) return;
    this.layers.set(line.key, line.text);
    if (e.kind === 'resolved') {
      // every layer's line from the start, so that lines keep their places as layers progress
      for (const l of e.layers) if (!this.layers.has(short(l.digest))) this.layers.set(short(l.digest), 'waiting');
    }
    this.redraw();
  }

  finish(): void {
    this.done = true;
  }

  private redraw(): void {
    const width = Math.max(20, (this.out.columns || 80) - 1);
    // back to the first line drawn, then every layer's line again
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F`);
    for (const [key, text] of this.layers) this.out.write(`\x1b[2K${`${key}: ${text}`.slice(0, width)}\n`);
    this.drawn = this.layers.size;
  }
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

function describe(e: Progress): { key: string; text: string } | undefined {
  switch (e.kind) {
    case 'resolved':
      return { key: e.reference, text: `${e.layers.length} layers, manifest ${short(e.manifestDigest)}` };
    case 'layer-exists':
      return { key: short(e.digest), text: 'already here' };
    case 'download':
      return { key: short(e.digest), text: `${bar(e.downloaded, e.total)} ${formatBytes(e.downloaded)}/${formatBytes(e.total)}` };
    case 'downloaded':
      return { key: short(e.digest), text: 'downloaded' };
    case 'extracting':
      return { key: short(e.digest ?? e.diffId), text: 'extracting' };
    case 'extracted':
      return { key: short(e.digest ?? e.diffId), text: `extracted (${formatBytes(e.sizeBytes)})` };
  }
}

function bar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'='.repeat(filled)}${' '.repeat(width - filled)}]`;
}
