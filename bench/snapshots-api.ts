/**
 * Snapshot, restore and copy through Hoody's HTTP API next to what podman offers for the same job,
 * in one run (as root): a real daemon started from dist/ (its own data folder, loopback only,
 * no network for its containers) and podman's API service in a temp folder of its own.
 *
 *   node --import tsx bench/snapshots-api.ts [files=1024]
 *
 * Case A: a container from busybox writes `files` files of 1 MiB of random data (1 GiB with the
 * default) into its own layer. Case B: a container writes 100 files of 100 KiB on top of an image
 * with `files` MiB of random files in its layers (/usr/lib/big): the image is built once with
 * podman (a container writes them, `POST /commit`), saved (`GET /images/{name}/get`) and imported
 * into Hoody (`POST /api/v1/images/import`), so both sides run the same image.
 *
 * Each case, Hoody: snapshot while running (`POST /containers/{id}/snapshots`), a second one after
 * one file changed, force-stop, restore of the second (`POST .../restore`: the answer shows it
 * running again), a copy of its current files (`POST .../copy`) and a copy from the snapshot.
 * podman: `POST /commit?pause=true` (an image), a second commit after one file changed,
 * `podman container checkpoint --export` and `restore --import` through the libpod API (criu),
 * then create + start from the second commit, and a commit + create of that container as its
 * copy. Disk is the growth of `du -skx`: Hoody's `<data>/snapshots` for a snapshot, its whole data
 * folder for a restore or a copy; podman's graphroot (plus the export file for a checkpoint).
 * Prints one markdown table.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiClient, startTestDaemon } from '../test/daemon-harness.ts';
import { PODMAN_IMAGE, httpCall, podman, podmanCgroup, podmanFolder, startPodman, stopPodman } from './podman-service.ts';

const BIG_FILES = Number(process.argv[2] ?? 1024);
if (!Number.isInteger(BIG_FILES) || BIG_FILES < 1) throw new Error(`files "${process.argv[2]}" is not a positive integer`);
const MiB = 1 << 20;
const started = new Date();
const t0 = performance.now();
const loadAtStart = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const KiB = 1024;
const BIG_IMAGE = 'localhost/bench-snapshots-big:latest';
const COMMAND = ['sleep', '86400'];

const num = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number): string => `${num(n)} ms`;
const mib = (bytes: number): string => `${num(bytes / MiB, 1)} MiB`;
/** An error's first line, with podman's JSON answer reduced to its message and the temp folders named by role. */
function firstLine(err: unknown): string {
  let text = err instanceof Error ? err.message : String(err);
  const json = /answered (\d+): (\{.*)$/s.exec(text);
  if (json) {
    try {
      text = `${json[1]}: ${(JSON.parse(json[2]!) as { message?: string }).message ?? json[2]}`;
    } catch {
      /* not JSON: the text as it is */
    }
  }
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line
    .replace(/--(image|work)-path \S+/g, '--$1-path …')
    .replace(/\b[0-9a-f]{64}\b/g, '<id>')
    .replaceAll(tmpdir(), '$TMPDIR')
    .replaceAll('|', '\\|')
    .slice(0, 300);
}

/** Times a step, and says on stderr when it is done (a run takes minutes). */
async function timed<T>(f: () => Promise<T>, what = ''): Promise<[T, number]> {
  const t = performance.now();
  const v = await f();
  const took = performance.now() - t;
  if (what) console.error(`[${num((performance.now() - t0) / 1000)} s] ${what}: ${ms(took)}`);
  return [v, took];
}

/** Allocated bytes under a folder (`du -skx`: each inode once, other file systems left out). */
const duBytes = (dir: string): number => Number(execFileSync('du', ['-skx', dir]).toString().split('\t')[0]) * KiB;
const sync = (): void => void execFileSync('sync');

/** A shell loop writing `count` files of `size` bytes of random data into `dir`. */
const writeScript = (dir: string, prefix: string, count: number, size: number): string =>
  `mkdir -p ${dir} && i=0 && while [ $i -lt ${count} ]; do head -c ${size} /dev/urandom > ${dir}/${prefix}$i || exit 1; i=$((i+1)); done`;
/** Rewrites one file of those (its first) with new random data. */
const changeScript = (dir: string, prefix: string, size: number): string => `head -c ${size} /dev/urandom > ${dir}/${prefix}0`;

// ------------------------------------------------------------------ podman over its socket

/** A call to podman's socket with any API version (libpod's calls need /v4), a file as the body or the answer streamed to a file. */
function podmanRaw(method: string, path: string, opts: { json?: unknown; file?: string; out?: string } = {}): Promise<{ status: number; text: string }> {
  const payload = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: join(podmanFolder(), 'api.sock'),
        method,
        path,
        headers: opts.file ? { 'content-type': 'application/x-tar' } : payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (opts.out && status < 300) {
          const sink = createWriteStream(opts.out);
          res.pipe(sink);
          sink.on('finish', () => resolve({ status, text: '' }));
          sink.on('error', reject);
          res.on('error', reject);
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (status >= 300 ? reject(new Error(`podman ${method} ${path.split('?')[0]} answered ${status}: ${text}`)) : resolve({ status, text })));
      },
    );
    req.on('error', reject);
    if (opts.file) createReadStream(opts.file).pipe(req);
    else req.end(payload);
  });
}

const podmanJson = async <T>(method: string, path: string, body?: unknown): Promise<T> => JSON.parse((await podman(method, path, body)).text) as T;

async function podmanCreate(name: string, image: string, cmd = COMMAND): Promise<string> {
  const { Id } = await podmanJson<{ Id: string }>('POST', `/containers/create?name=${name}`, { Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'none', CgroupParent: podmanCgroup() } });
  return Id;
}

/** Runs a shell command in a running podman container: the exec's start answers when it has ended. */
async function podmanExec(id: string, script: string): Promise<void> {
  const { Id } = await podmanJson<{ Id: string }>('POST', `/containers/${id}/exec`, { Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true });
  const out = await podman('POST', `/exec/${Id}/start`, { Detach: false, Tty: false });
  const { ExitCode } = await podmanJson<{ ExitCode: number }>('GET', `/exec/${Id}/json`);
  if (ExitCode !== 0) throw new Error(`podman exec "${script.slice(0, 60)}…" exited ${ExitCode}: ${out.text.slice(0, 300)}`);
}

const podmanState = async (id: string): Promise<string> => (await podmanJson<{ State: { Status: string } }>('GET', `/containers/${id}/json`)).State.Status;

// ------------------------------------------------------------------ the run

const work = await mkdtemp(join(tmpdir(), 'hoody-bench-snapshots-api-'));
const tables: { title: string; steps: string[]; cell: Record<string, { hoody: string; podman: string }> }[] = [];
const notes: string[] = [];
let failure: unknown;
let podmanVersion = 'podman';
const d = await startTestDaemon('sqlite', { HOODY_NETWORK: 'none' });
const hoody = apiClient(d.api, d.adminToken);
async function hoodyOk<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await hoody(method, path, body);
  if (r.status >= 300) throw new Error(`Hoody ${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return (r.body as { data: T }).data;
}
async function hoodyExec(id: string, script: string): Promise<void> {
  const res = await hoodyOk<{ exit_code: number | null; stderr: string }>('POST', `/containers/${id}/exec`, { command: ['sh', '-c', script], timeout: 3600 });
  if (res.exit_code !== 0) throw new Error(`Hoody exec "${script.slice(0, 60)}…" exited ${res.exit_code}: ${res.stderr}`);
}

try {
  await startPodman();
  podmanVersion = `podman ${(await podmanJson<{ Version: string }>('GET', '/version')).Version}`;
  const criu = (() => {
    try {
      execFileSync('criu', ['check'], { stdio: ['ignore', 'pipe', 'pipe'] });
      return 'criu check: ok';
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      return `criu check failed: ${(e.stderr?.toString() || e.message).trim().split('\n')[0]}`;
    }
  })();
  notes.push(criu);

  // the large image, built once with podman and imported into Hoody
  const builder = await podmanCreate('bench-big-builder', PODMAN_IMAGE, ['sh', '-c', writeScript('/usr/lib/big', 'f', BIG_FILES, MiB)]);
  const [, buildMs] = await timed(async () => {
    await podman('POST', `/containers/${builder}/start`);
    const { StatusCode } = await podmanJson<{ StatusCode: number }>('POST', `/containers/${builder}/wait`);
    if (StatusCode !== 0) throw new Error(`the image's writer exited ${StatusCode}`);
    await podman('POST', `/commit?container=${builder}&repo=${BIG_IMAGE.split(':')[0]}&tag=latest`, {});
  }, 'large image built');
  await podman('DELETE', `/containers/${builder}?force=true`);
  const archive = join(work, 'big-image.tar');
  const [, saveMs] = await timed(() => podmanRaw('GET', `/v1.41/images/${BIG_IMAGE}/get`, { out: archive }), 'large image saved');
  const archiveBytes = (await stat(archive)).size;
  const url = new URL(d.url);
  const [imported, importMs] = await timed(() =>
    httpCall(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/api/v1/images/import',
        headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/x-tar', 'content-length': archiveBytes },
      },
      'Hoody POST /images/import',
      (req) => createReadStream(archive).pipe(req),
    ),
    'large image imported into Hoody',
  );
  const hoodyBig = (JSON.parse(imported.text) as { data: { images: { name: string; size_bytes: number }[] } }).data.images[0]!;
  await rm(archive);
  notes.push(
    `large image: ${BIG_FILES} files of 1 MiB under /usr/lib/big on busybox, built by podman in ${ms(buildMs)} (run + commit), saved in ${ms(saveMs)} (${mib(archiveBytes)} archive), imported into Hoody in ${ms(importMs)} as ${hoodyBig.name} (${mib(hoodyBig.size_bytes)})`,
  );

  const cases = [
    { key: 'A', title: `A: ${num(BIG_FILES)} × 1 MiB written (${mib(BIG_FILES * MiB)}) on busybox`, hoodyImage: 'busybox', podmanImage: PODMAN_IMAGE, count: BIG_FILES, size: MiB },
    { key: 'B', title: `B: 100 × 100 KiB written (${mib(100 * 100 * KiB)}) on a ${mib(BIG_FILES * MiB)} image`, hoodyImage: hoodyBig.name, podmanImage: BIG_IMAGE, count: 100, size: 100 * KiB },
  ];

  for (const c of cases) {
    const cell: Record<string, { hoody: string; podman: string }> = {};
    const set = (step: string, side: 'hoody' | 'podman', text: string): void => {
      (cell[step] ??= { hoody: '–', podman: '–' })[side] = text;
    };
    const steps: string[] = [];
    tables.push({ title: c.title, steps, cell });
    const step = (s: string): string => (steps.includes(s) ? s : (steps.push(s), s));
    const WRITE = step('write the data (exec)');
    const SNAP1 = step('snapshot 1 (running) / commit 1');
    const SNAP2 = step('snapshot 2 after 1 file changed / commit 2');
    const CHECKPOINT = step('checkpoint --export (memory + files)');
    const CP_RESTORE = step('restore --import of the checkpoint');
    const RESTORE = step('restore snapshot 2 / create + start from commit 2');
    const COPY = step('copy of current files / commit + create');
    const COPY_SNAP = step('copy from snapshot 2');
    const dir = '/data';
    const prefix = `${c.key.toLowerCase()}-`;
    const dataDir = d.dataDir;
    const store = join(dataDir, 'snapshots');

    // ---------------- Hoody
    {
      const created = await hoodyOk<{ id: string; status: string }>('POST', '/containers', { name: `snap-${c.key.toLowerCase()}`, container_image: c.hoodyImage, pull: 'never', command: COMMAND, autostart: true });
      const id = created.id;
      const [, writeMs] = await timed(() => hoodyExec(id, writeScript(dir, prefix, c.count, c.size)), `${c.key} Hoody write`);
      set(WRITE, 'hoody', ms(writeMs));
      sync();
      const snapshot = async (alias: string, at: string): Promise<void> => {
        const before = duBytes(store);
        const [s, took] = await timed(() => hoodyOk<{ snapshot: { frozen_ms: number | null; size_bytes: number; files: number } }>('POST', `/containers/${id}/snapshots`, { alias }), `${c.key} Hoody snapshot ${alias}`);
        const grown = duBytes(store) - before;
        set(at, 'hoody', `${ms(took)}; frozen ${s.snapshot.frozen_ms === null ? '–' : ms(s.snapshot.frozen_ms)}; size_bytes ${mib(s.snapshot.size_bytes)}; disk +${mib(grown)}`);
      };
      await snapshot('s1', SNAP1);
      await hoodyExec(id, changeScript(dir, prefix, c.size));
      sync();
      await snapshot('s2', SNAP2);
      set(CHECKPOINT, 'hoody', '(none: memory is not saved)');
      await hoodyOk('POST', `/containers/${id}/force-stop`);
      sync();
      let before = duBytes(dataDir);
      const [restored, restoreMs] = await timed(() => hoodyOk<{ status: string }>('POST', `/containers/${id}/snapshots/s2/restore`), `${c.key} Hoody restore`);
      sync();
      set(RESTORE, 'hoody', `${ms(restoreMs)} (answered ${restored.status}); disk +${mib(duBytes(dataDir) - before)}`);
      before = duBytes(dataDir);
      const [copy, copyMs] = await timed(() => hoodyOk<{ status: string }>('POST', `/containers/${id}/copy`, { name: `snap-${c.key.toLowerCase()}-copy` }), `${c.key} Hoody copy`);
      sync();
      set(COPY, 'hoody', `${ms(copyMs)} (of the running container; ${copy.status}); disk +${mib(duBytes(dataDir) - before)}`);
      before = duBytes(dataDir);
      const [copy2, copy2Ms] = await timed(() => hoodyOk<{ status: string }>('POST', `/containers/${id}/copy`, { name: `snap-${c.key.toLowerCase()}-copy2`, snapshot_id: 's2' }), `${c.key} Hoody copy from s2`);
      sync();
      set(COPY_SNAP, 'hoody', `${ms(copy2Ms)} (${copy2.status}); disk +${mib(duBytes(dataDir) - before)}`);
      set(COPY_SNAP, 'podman', '(same as create from commit 2)');
      // the containers go (their snapshots with them), so the next case starts from an empty store
      const { containers } = await hoodyOk<{ containers: { id: string }[] }>('GET', '/containers');
      for (const ct of containers) {
        await hoodyOk('POST', `/containers/${ct.id}/force-stop`);
        await hoodyOk('DELETE', `/containers/${ct.id}`);
      }
    }

    // ---------------- podman
    {
      const root = join(podmanFolder(), 'root');
      const name = `snap-${c.key.toLowerCase()}`;
      const id = await podmanCreate(name, c.podmanImage);
      await podman('POST', `/containers/${id}/start`);
      const [, writeMs] = await timed(() => podmanExec(id, writeScript(dir, prefix, c.count, c.size)), `${c.key} podman write`);
      set(WRITE, 'podman', ms(writeMs));
      sync();
      const commit = async (container: string, tag: string): Promise<[number, number]> => {
        const before = duBytes(root);
        const [, took] = await timed(() => podman('POST', `/commit?container=${container}&repo=localhost/${name}&tag=${tag}&pause=true`, {}), `${c.key} podman commit ${tag}`);
        sync();
        return [took, duBytes(root) - before];
      };
      let [took, grown] = await commit(id, 'c1');
      set(SNAP1, 'podman', `${ms(took)} (paused throughout); disk +${mib(grown)}`);
      await podmanExec(id, changeScript(dir, prefix, c.size));
      sync();
      [took, grown] = await commit(id, 'c2');
      set(SNAP2, 'podman', `${ms(took)} (paused throughout); disk +${mib(grown)}`);

      // checkpoint with its files and memory into an archive (criu), and restore it as a new container
      const exported = join(work, `${name}-checkpoint.tar`);
      let checkpointed = false;
      try {
        const before = duBytes(root);
        const [, cpMs] = await timed(() => podmanRaw('POST', `/v4.0.0/libpod/containers/${id}/checkpoint?export=true`, { out: exported }), `${c.key} podman checkpoint`);
        const size = (await stat(exported)).size;
        if (size === 0) throw new Error('the checkpoint answered an empty archive');
        checkpointed = true;
        set(CHECKPOINT, 'podman', `${ms(cpMs)}; archive ${mib(size)}; graphroot +${mib(duBytes(root) - before)}`);
      } catch (err) {
        console.error(`${c.key} podman checkpoint: ${err instanceof Error ? err.message : String(err)}`);
        // podman answers runc's exit status only: criu's own reason is in its log in the container's folder
        const log = await readFile(join(root, 'overlay-containers', id, 'userdata', 'dump.log'), 'utf8').catch(() => '');
        const reason = log.split('\n').find((l) => l.includes('Error'))?.trim();
        set(CHECKPOINT, 'podman', `failed: ${firstLine(err)}${reason ? `; criu's dump.log: ${firstLine(reason)}` : ''}`);
      }
      if (checkpointed) {
        try {
          const before = duBytes(root);
          const [, rMs] = await timed(() => podmanRaw('POST', `/v4.0.0/libpod/containers/${id}/restore?import=true&name=${name}-restored`, { file: exported }), `${c.key} podman restore --import`);
          set(CP_RESTORE, 'podman', `${ms(rMs)} (${await podmanState(`${name}-restored`).catch(() => '?')}); disk +${mib(duBytes(root) - before)}`);
          await podman('DELETE', `/containers/${name}-restored?force=true`).catch(() => undefined);
        } catch (err) {
          set(CP_RESTORE, 'podman', `failed: ${firstLine(err)}`);
        }
      } else set(CP_RESTORE, 'podman', 'not run (no checkpoint)');
      set(CP_RESTORE, 'hoody', '(none)');
      await rm(exported, { force: true });
      await podman('DELETE', `/containers/${id}?force=true`);

      sync();
      let before = duBytes(root);
      const [restoredId, restoreMs] = await timed(async () => {
        const rid = await podmanCreate(`${name}-from-c2`, `localhost/${name}:c2`);
        await podman('POST', `/containers/${rid}/start`);
        return rid;
      }, `${c.key} podman create + start from c2`);
      sync();
      set(RESTORE, 'podman', `${ms(restoreMs)} (${await podmanState(restoredId)}); disk +${mib(duBytes(root) - before)}`);
      before = duBytes(root);
      const [copyId, copyMs] = await timed(async () => {
        await podman('POST', `/commit?container=${restoredId}&repo=localhost/${name}&tag=copy&pause=true`, {});
        return podmanCreate(`${name}-copy`, `localhost/${name}:copy`);
      }, `${c.key} podman commit + create`);
      sync();
      set(COPY, 'podman', `${ms(copyMs)} (of the running container; ${await podmanState(copyId)}); disk +${mib(duBytes(root) - before)}`);
      for (const ctr of [restoredId, copyId]) await podman('DELETE', `/containers/${ctr}?force=true`);
      for (const tag of ['c1', 'c2', 'copy']) await podman('DELETE', `/images/localhost/${name}:${tag}?force=true`).catch((err: unknown) => notes.push(`podman image ${tag}: ${firstLine(err)}`));
    }

  }
} catch (err) {
  failure = err;
} finally {
  await d.cleanup().catch((err: unknown) => console.error(`Hoody cleanup: ${String(err)}`));
  await stopPodman().catch((err: unknown) => console.error(`podman cleanup: ${String(err)}`));
  await rm(work, { recursive: true, force: true });
}

console.log(`node --import tsx bench/snapshots-api.ts${process.argv[2] ? ` ${process.argv[2]}` : ''}`);
console.log(
  `started ${started.toISOString()}, took ${num((performance.now() - t0) / 1000)} s; ${execFileSync('nproc').toString().trim()} cores, kernel ${execFileSync('uname', ['-r']).toString().trim()}, Node ${process.version}; load at start ${loadAtStart}, at end ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (const n of notes) console.log(n);
console.log('');
console.log(`| case | step | Hoody (HTTP API) | ${podmanVersion} (API) |`);
console.log('|---|---|---|---|');
for (const t of tables) for (const s of t.steps) console.log(`| ${t.title} | ${s} | ${t.cell[s]?.hoody ?? '–'} | ${t.cell[s]?.podman ?? '–'} |`);
if (failure !== undefined) {
  console.error(`the run stopped early: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}`);
  process.exitCode = 1;
}
