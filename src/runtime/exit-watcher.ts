/**
 * Turns conmon's exit files (one file per container, named by id, holding the exit code) into
 * events. Works for containers started by an earlier daemon: the files are the source of truth.
 * conmon writes each file as a temporary `<id>.XXXXXX` renamed into place; a read can catch the
 * temporary file full before the rename, so only names the caller knows as containers count.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExitEvent } from './driver.ts';

export class ExitWatcher {
  private watcher: FSWatcher | undefined;
  private readonly listeners = new Set<(e: ExitEvent) => void>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Ids whose current exit file was already reported (inotify sends several events per write). */
  private readonly reported = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly isContainer: (name: string) => boolean | Promise<boolean> = () => true,
  ) {}

  async open(): Promise<void> {
    if (this.watcher) return;
    await mkdir(this.dir, { recursive: true });
    this.watcher = watch(this.dir, (_event, file) => {
      if (file) this.changed(file.toString()).catch(() => undefined);
    });
    this.watcher.on('error', () => undefined);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** The exit code recorded for a container, or undefined while none is. */
  async read(id: string): Promise<number | null | undefined> {
    const text = await readFile(join(this.dir, id), 'utf8').catch(() => undefined);
    // conmon creates the file and then writes it: an empty file is not an exit yet
    if (text === undefined || text.trim() === '') return undefined;
    const code = Number.parseInt(text.trim(), 10);
    return Number.isFinite(code) ? code : null;
  }

  /** Forgets that the exit of a container's previous run was reported (its file is being removed). */
  rearm(id: string): void {
    this.reported.delete(id);
  }

  path(id: string): string {
    return join(this.dir, id);
  }

  onExit(listener: (e: ExitEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves on the next change of this container's exit file (or when woken by the caller's poll). */
  nextChange(id: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  private async changed(id: string): Promise<void> {
    const code = await this.read(id);
    // reads may finish out of order: an empty read after a full one must not re-arm the report
    if (code === undefined || !(await this.isContainer(id))) return;
    for (const wake of [...(this.waiters.get(id) ?? [])]) wake();
    if (this.reported.has(id)) return;
    this.reported.add(id);
    const event: ExitEvent = { id, exitCode: code, at: new Date() };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // one listener's failure must not keep the exit from the others
        process.emitWarning(`an exit listener failed: ${(err as Error).message}`);
      }
    }
  }
}
