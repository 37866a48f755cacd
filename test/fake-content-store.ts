/**
 * A ContentStore for tests of the puller: blobs are real files in a temp folder (hashed on
 * commit), layers are only recorded, images are built from the config without a disk record.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore, StoredImage } from '../src/images/types.ts';

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A content store in a temp folder: real blob files, layers only recorded. */
export class FakeStore implements ContentStore {
  readonly layers = new Set<string>();
  readonly applied: { blobPath: string; diffId: string }[] = [];
  readonly committed: Parameters<ContentStore['commitImage']>[0][] = [];
  readonly committedBlobs: string[] = [];
  constructor(readonly dir: string) {}
  /** A store in `dir`, with its blobs/ and tmp/ folders made. */
  static async create(dir: string): Promise<FakeStore> {
    await mkdir(join(dir, 'blobs'), { recursive: true });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    return new FakeStore(dir);
  }
  private path(digest: string) {
    return join(this.dir, 'blobs', digest.slice(7));
  }
  async blob(digest: string) {
    return stat(this.path(digest)).then(
      () => this.path(digest),
      () => undefined,
    );
  }
  blobTempPath(digest: string) {
    return join(this.dir, 'tmp', `${digest.slice(7)}.partial`);
  }
  async commitBlob(tempPath: string, digest: string) {
    const got = sha256(await readFile(tempPath));
    if (got !== digest) {
      await rm(tempPath, { force: true });
      throw new Error(`blob "${digest}" hashes to ${got}`);
    }
    await rename(tempPath, this.path(digest));
    this.committedBlobs.push(digest);
    return this.path(digest);
  }
  async putBlob(digest: string, bytes: Uint8Array) {
    await writeFile(this.path(digest), bytes);
    return this.path(digest);
  }
  async hasLayer(diffId: string) {
    return this.layers.has(diffId);
  }
  async applyLayer(blobPath: string, diffId: string) {
    this.applied.push({ blobPath, diffId });
    this.layers.add(diffId);
    return { sizeBytes: 10 };
  }
  async commitImage(input: Parameters<ContentStore['commitImage']>[0]): Promise<StoredImage> {
    this.committed.push(input);
    const config = JSON.parse(Buffer.from(input.configBytes).toString());
    const id = `sha256:${createHash('sha256').update(input.configBytes).digest('hex')}`;
    return { id, names: input.names, manifestDigest: input.manifestDigest, repoDigests: [], diffIds: config.rootfs.diff_ids, config, sizeBytes: 20, storedAt: new Date().toISOString(), source: input.source };
  }
  find = async () => undefined;
  list = async () => [];
  lowerDirs = async () => [];
  tag = async (): Promise<StoredImage> => assert.fail('not used');
  remove = async () => ({ removed: [], untagged: [] });
  prune = async () => ({ removed: [], reclaimedBytes: 0 });
  removeImages = async () => ({ removed: [], reclaimedBytes: 0 });
  sweep = async () => {};
}

