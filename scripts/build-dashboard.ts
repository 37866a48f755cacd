/**
 * Builds the dashboard (src/dashboard) into `<out>/dashboard`: one minified ES module entry with its
 * lazily loaded chunks (the terminal's xterm.js), one stylesheet, and index.html naming them; every
 * file also written gzip- and brotli-compressed, so that the daemon sends the compressed bytes as
 * they are. File names carry a content hash: the daemon serves them as immutable.
 *
 *   node --import tsx scripts/build-dashboard.ts <out>
 */
import { build } from 'esbuild';
import { readFile, writeFile, mkdir, readdir } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const out = process.argv[2];
if (!out) throw new Error('usage: build-dashboard.ts <out folder>');
const dir = join(out, 'dashboard');
await mkdir(dir, { recursive: true });

const result = await build({
  entryPoints: { app: 'src/dashboard/main.tsx' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: dir,
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

// the entry's script and stylesheet, by the names esbuild gave them (the metafile's paths are the
// working folder's; only the file names matter here)
const outputs = new Map(Object.entries(result.metafile.outputs).map(([file, meta]) => [basename(file), meta]));
const entry = [...outputs].find(([name, meta]) => meta.entryPoint === 'src/dashboard/main.tsx' && name.endsWith('.js'));
const script = entry?.[0];
const style = entry?.[1].cssBundle ? basename(entry[1].cssBundle) : undefined;
if (!script || !style) throw new Error('build-dashboard: the entry script or stylesheet is missing from the build');
const page = (await readFile('src/dashboard/index.html', 'utf8')).replace('%SCRIPT%', script).replace('%STYLE%', style);
await writeFile(join(dir, 'index.html'), page);
// what a first load fetches: the page, the stylesheet, the entry and the chunks it imports
// statically (not the ones loaded on demand, such as the terminal's)
const first = new Set<string>();
const visit = (name: string): void => {
  if (first.has(name)) return;
  first.add(name);
  for (const i of outputs.get(name)?.imports ?? []) if (i.kind === 'import-statement') visit(basename(i.path));
};
visit(script);
await writeFile(join(dir, 'first-load.json'), `${JSON.stringify({ files: ['index.html', style, ...first] })}\n`);

for (const name of await readdir(dir)) {
  if (name.endsWith('.gz') || name.endsWith('.br') || name.endsWith('.map')) continue;
  const body = await readFile(join(dir, name));
  await writeFile(join(dir, `${name}.gz`), gzipSync(body, { level: 9 }));
  await writeFile(join(dir, `${name}.br`), brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }));
}
