/**
 * podman's Docker-compatible API for side-by-side benchmarks, set up as bench/api.ts sets it up:
 * `podman system service --time=0 unix://SOCK` with its own containers.conf, storage, run folder and
 * cgroup parent under a temp folder, and a busybox image from Debian's busybox-static.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { access, copyFile, mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// podman (as root) writes these whatever its configuration: removed after if they were not there
const SHARED_PODMAN_PATHS = ['/var/lib/containers', '/run/containers'];

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
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

  static async prepare(): Promise<PodmanService> {
    const p = new PodmanService(await mkdtemp(join(tmpdir(), 'hoody-bench-podman-')));
    for (const s of SHARED_PODMAN_PATHS) p.sharedBefore.set(s, await access(s).then(() => true, () => false));
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
    return 'localhost/bench-busybox:latest';
  }

  /** One call on the socket (`/v1.41` prefix); a status of 300 or more rejects. */
  call(method: string, path: string, body?: unknown, file?: string, keepAlive = true): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: this.sock, agent: keepAlive ? this.agent : false, method, path: path === '/_ping' ? path : `/v1.41${path}`, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 300) reject(new Error(`podman ${method} ${path} answered ${status}: ${text}`));
            else resolve({ status, text });
          });
        },
      );
      req.on('error', reject);
      if (file) createReadStream(file).pipe(req);
      else req.end(body === undefined ? undefined : JSON.stringify(body));
    });
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
      const list = await this.call('GET', '/containers/json?all=true').then((r) => JSON.parse(r.text) as { Id: string }[], () => []);
      for (const c of list) await this.call('DELETE', `/containers/${c.Id}?force=true`).catch((err: unknown) => console.error(String(err)));
      await this.stop();
    }
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
  await rmdir(dir).catch(() => undefined);
}
