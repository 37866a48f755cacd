/**
 * podman's Docker-compatible API as the peer of Hoody's benchmarks: `podman system service
 * --time=0 unix://SOCK` with its own containers.conf, storage, run folder and cgroup parent under
 * a temp folder, and the busybox root filesystem of Debian's busybox-static imported as an image.
 * `PodmanService` is one such folder (its service can be started and stopped as often as wanted);
 * `startPodman` / `podman` / `stopPodman` drive one shared instance for the lifecycle benches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { access, copyFile, mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The image every podman container of the benches runs. */
export const PODMAN_IMAGE = 'localhost/bench-busybox:latest';
// podman (as root) writes these whatever its configuration: removed after if they were not there
const SHARED_PODMAN_PATHS = ['/var/lib/containers', '/run/containers'];

/** Runs a command, rejecting with its stderr when it fails. */
export function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** True when something exists at the path. */
export const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
/** Resolves after ms. */
export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** VmRSS of a process, kB. */
export async function vmRssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

/** Pids of the processes whose command line contains `needle`, by their program name. */
export async function pidsMatching(needle: string, program?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = argv.split('\0');
    if (program && !(args[0] ?? '').endsWith(`/${program}`) && args[0] !== program) continue;
    if (argv.includes(needle) && Number(entry) !== process.pid) pids.push(Number(entry));
  }
  return pids;
}

/**
 * One request over node:http (the same client for Hoody and podman in every bench): `send` writes
 * the body; the answer's text, or a rejection naming `what` for a status of 300 or more.
 */
export function httpCall(options: http.RequestOptions, what: string, send: (req: http.ClientRequest) => unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 300) reject(new Error(`${what} answered ${status}: ${text}`));
        else resolve({ status, text });
      });
    });
    req.on('error', reject);
    send(req);
  });
}

/** One podman service folder: start the service (as often as wanted), call it, clean everything up. */
export class PodmanService {
  readonly sock: string;
  readonly cgroupParent = `/hoody-bench-podman-${process.pid}`;
  private service: ChildProcess | undefined;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly sharedBefore = new Map<string, boolean>();

  private constructor(readonly dir: string) {
    this.sock = join(dir, 'api.sock');
  }

  /** Makes the folder and its configuration (installing podman from Debian when it is missing). */
  static async prepare(): Promise<PodmanService> {
    if (!(await exists('/usr/bin/podman'))) {
      console.log('installing podman (apt-get install -y podman)');
      await run('apt-get', ['install', '-y', 'podman']).catch(async () => {
        await run('apt-get', ['update']);
        await run('apt-get', ['install', '-y', 'podman']);
      });
    }
    const p = new PodmanService(await mkdtemp(join(tmpdir(), 'hoody-bench-podman-')));
    for (const s of SHARED_PODMAN_PATHS) p.sharedBefore.set(s, await exists(s));
    const d = p.dir;
    for (const sub of ['root', 'runroot', 'tmp', 'networks', 'rootfs/bin']) await mkdir(join(d, sub), { recursive: true });
    await writeFile(
      join(d, 'containers.conf'),
      [
        '[containers]',
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${d}/events.log"`,
        'runtime = "runc"',
        `tmp_dir = "${d}/tmp"`,
        `image_copy_tmp_dir = "${d}/tmp"`,
        `volume_path = "${d}/root/volumes"`,
        `static_dir = "${d}/root/libpod"`,
        '[network]',
        `network_config_dir = "${d}/networks"`,
        '',
      ].join('\n'),
    );
    await writeFile(join(d, 'storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${d}/root"`, `runroot = "${d}/runroot"`, ''].join('\n'));
    return p;
  }

  /** Spawns the service and answers once `/_ping` answers 200, with the time that took in ms. */
  async start(): Promise<number> {
    await rm(this.sock, { force: true });
    let out = '';
    const t0 = performance.now();
    const svc = spawn('/usr/bin/podman', ['--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), 'system', 'service', '--time=0', `unix://${this.sock}`], {
      env: { ...process.env, CONTAINERS_CONF: join(this.dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(this.dir, 'storage.conf'), TMPDIR: join(this.dir, 'tmp') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.service = svc;
    svc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    svc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    for (;;) {
      const ok = await this.call('GET', '/_ping', undefined, undefined, false).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now() - t0;
      if (svc.exitCode !== null || performance.now() - t0 > 60_000) throw new Error(`podman service did not answer:\n${out}`);
      await sleep(2);
    }
  }

  get pid(): number | undefined {
    return this.service?.pid;
  }

  /** Imports the busybox image as `localhost/bench-busybox` (no registry). */
  async importBusybox(): Promise<string> {
    const d = this.dir;
    await copyFile('/bin/busybox', join(d, 'rootfs/bin/busybox'));
    await run('chroot', [join(d, 'rootfs'), '/bin/busybox', '--install', '-s', '/bin']);
    await run('tar', ['-C', join(d, 'rootfs'), '-cf', join(d, 'busybox.tar'), '.']);
    await this.call('POST', '/images/create?fromSrc=-&repo=localhost/bench-busybox&tag=latest', undefined, join(d, 'busybox.tar'));
    return PODMAN_IMAGE;
  }

  /** One call on the socket (`/v1.41` prefix); a status of 300 or more rejects. */
  call(method: string, path: string, body?: unknown, file?: string, keepAlive = true): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return httpCall(
      {
        socketPath: this.sock,
        agent: keepAlive ? this.agent : false,
        method,
        path: path === '/_ping' ? path : `/v1.41${path}`,
        headers: file ? { 'content-type': 'application/x-tar' } : payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      `podman ${method} ${path}`,
      (req) => (file ? createReadStream(file).pipe(req) : req.end(payload)),
    );
  }

  /** Stops the service (its containers keep running, as with Hoody). */
  async stop(): Promise<void> {
    const svc = this.service;
    this.agent.destroy();
    if (!svc || svc.exitCode !== null || svc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => svc.kill('SIGKILL'), 10_000);
      svc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      svc.kill('SIGTERM');
    });
  }

  /** Deletes every container, stops the service, unmounts and removes its folders and cgroups. */
  async cleanup(): Promise<void> {
    if (this.service && this.service.exitCode === null) {
      const list = await this.call('GET', '/containers/json?all=true').then(
        (r) => JSON.parse(r.text) as { Id: string }[],
        (err: unknown) => (console.error(`listing podman's containers failed: ${String(err)}`), []),
      );
      for (const c of list) await this.call('DELETE', `/containers/${c.Id}?force=true`).catch((err: unknown) => console.error(String(err)));
      await this.stop();
    }
    // conmons still exiting (or left by a cut run) hold the folder's mounts: wait, then kill them
    for (let i = 0; i < 100 && (await pidsMatching(this.dir)).length > 0; i++) await sleep(100);
    for (const pid of await pidsMatching(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    // containers/storage leaves its overlay home bind-mounted; deepest mounts first
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m]).catch((err: unknown) => console.error(String(err)));
    await rm(this.dir, { recursive: true, force: true });
    for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) await removeCgroupTree(join('/sys/fs/cgroup', hierarchy, this.cgroupParent));
    for (const [p, existed] of this.sharedBefore) if (!existed) await rm(p, { recursive: true, force: true });
  }
}

async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  await rmdir(dir).catch((err: unknown) => console.error(`cgroup ${dir}: ${String(err)}`));
}

let shared: PodmanService | undefined;
const current = (): PodmanService => {
  if (!shared) throw new Error('startPodman() first');
  return shared;
};

/** Starts the shared podman service in a temp folder of its own and imports the busybox image. */
export async function startPodman(): Promise<void> {
  shared = await PodmanService.prepare();
  await shared.start();
  await shared.importBusybox();
}

/** One call to the shared service's Docker-compatible API (v1.41); rejects on a status of 300 or more. */
export const podman = (method: string, path: string, body?: unknown, file?: string): Promise<{ status: number; text: string }> => current().call(method, path, body, file);
/** The folder the shared podman keeps everything in (its conmons name it on their command line). */
export const podmanFolder = (): string => current().dir;
/** The cgroup parent the shared podman's containers go under. */
export const podmanCgroup = (): string => current().cgroupParent;
/** The pid of the shared podman's API service. */
export const podmanPid = (): number => shared?.pid ?? 0;

/** Deletes the shared podman's containers, stops its service and removes everything it made. */
export async function stopPodman(): Promise<void> {
  await shared?.cleanup();
  shared = undefined;
}
