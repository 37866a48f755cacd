/**
 * podman's Docker-compatible API as the peer of Hoody's benchmarks: `podman system service
 * --time=0 unix://SOCK` with its own containers.conf, storage, run folder and cgroup parent under
 * a temp folder, and the busybox root filesystem of Debian's busybox-static imported as an image.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, mkdir, writeFile, readFile, readdir, access, rmdir, copyFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The image every podman container of the benches runs. */
export const PODMAN_IMAGE = 'localhost/bench-busybox:latest';
let podmanSock = '';
let podmanCgroupParent = '';

/** The folder podman keeps everything in (its conmons name it on their command line). */
export const podmanFolder = (): string => podmanDir;
/** The cgroup parent podman's containers go under. */
export const podmanCgroup = (): string => podmanCgroupParent;
/** The pid of podman's API service. */
export const podmanPid = (): number => podmanService?.pid ?? 0;

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

/** One keep-alive agent for every call to podman's socket. */
const podmanAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** One call to podman's Docker-compatible API (v1.41); rejects on a status of 300 or more. */
export function podman(method: string, path: string, body?: unknown, file?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath: podmanSock,
        agent: podmanAgent,
        method,
        path: `/v1.41${path}`,
        headers: file ? { 'content-type': 'application/x-tar' } : payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 300) reject(new Error(`podman ${method} ${path} answered ${status}: ${text}`));
          else resolve({ status, text });
        });
      },
    );
    req.on('error', reject);
    if (file) createReadStream(file).pipe(req);
    else req.end(payload);
  });
}

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

let podmanDir = '';
// podman (as root) always writes its blob-info cache and a network run folder in these places
const SHARED_PODMAN_PATHS = ['/var/lib/containers', '/run/containers'];
const sharedBefore = new Map<string, boolean>();
let podmanService: ChildProcess | undefined;
let podmanOut = '';

/** Starts podman's API service in a temp folder of its own and imports the busybox image into it. */
export async function startPodman(): Promise<void> {
  podmanDir = await mkdtemp(join(tmpdir(), 'hoody-bench-podman-'));
  podmanSock = join(podmanDir, 'api.sock');
  podmanCgroupParent = `/hoody-bench-podman-${process.pid}`;
  for (const p of SHARED_PODMAN_PATHS) sharedBefore.set(p, await exists(p));
  if (!(await exists('/usr/bin/podman'))) {
    console.log('installing podman (apt-get install -y podman)');
    await run('apt-get', ['install', '-y', 'podman']).catch(async () => {
      await run('apt-get', ['update']);
      await run('apt-get', ['install', '-y', 'podman']);
    });
  }
  const d = podmanDir;
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
  podmanService = spawn('/usr/bin/podman', ['--root', join(d, 'root'), '--runroot', join(d, 'runroot'), 'system', 'service', '--time=0', `unix://${podmanSock}`], {
    env: { ...process.env, CONTAINERS_CONF: join(d, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(d, 'storage.conf'), TMPDIR: join(d, 'tmp') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  podmanService.stdout?.on('data', (b: Buffer) => (podmanOut += b.toString()));
  podmanService.stderr?.on('data', (b: Buffer) => (podmanOut += b.toString()));
  for (let i = 0; ; i++) {
    if (await podman('GET', '/_ping').then(
      () => true,
      () => false,
    ))
      break;
    if (i > 200 || podmanService.exitCode !== null) throw new Error(`podman service did not answer:\n${podmanOut}`);
    await sleep(50);
  }
  // busybox image from Debian's busybox-static, imported with no registry: POST /images/create?fromSrc=-
  await copyFile('/bin/busybox', join(d, 'rootfs/bin/busybox'));
  await run('chroot', [join(d, 'rootfs'), '/bin/busybox', '--install', '-s', '/bin']);
  await run('tar', ['-C', join(d, 'rootfs'), '-cf', join(d, 'busybox.tar'), '.']);
  await podman('POST', `/images/create?fromSrc=-&repo=localhost/bench-busybox&tag=latest`, undefined, join(d, 'busybox.tar'));
}

/** Deletes podman's containers, stops its service and removes everything it made. */
export async function stopPodman(): Promise<void> {
  if (!podmanDir) return;
  const svc = podmanService;
  if (svc && svc.exitCode === null && svc.signalCode === null) {
    try {
      const list = JSON.parse((await podman('GET', '/containers/json?all=true')).text) as { Id: string }[];
      for (const c of list) await podman('DELETE', `/containers/${c.Id}?force=true`).catch((err: unknown) => console.error(String(err)));
    } catch (err) {
      console.error(`listing podman's containers failed: ${String(err)}`);
    }
    podmanAgent.destroy();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => svc.kill('SIGKILL'), 10_000);
      svc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      svc.kill('SIGTERM');
    });
  }
  // what podman started on its own (conmon, `podman container cleanup`): wait for it, then end it by pid
  for (let i = 0; i < 100 && (await pidsMatching(podmanDir)).length > 0; i++) await sleep(100);
  for (const pid of await pidsMatching(podmanDir)) {
    console.error(`ending left-over podman process ${pid}`);
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
    .filter((m) => m.startsWith(podmanDir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch((err: unknown) => console.error(String(err)));
  await rm(podmanDir, { recursive: true, force: true });
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) await removeCgroupTree(join('/sys/fs/cgroup', hierarchy, podmanCgroupParent));
  for (const [p, existed] of sharedBefore) if (!existed) await rm(p, { recursive: true, force: true });
}

async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  await rmdir(dir).catch((err: unknown) => console.error(`cgroup ${dir}: ${String(err)}`));
}
