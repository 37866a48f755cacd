#!/usr/bin/env bash
# `npm run build`: compiles src/ into dist/ (JavaScript, .d.ts, source maps) with tsc, then bundles
# the SDK once more as CommonJS (dist/sdk/index.cjs) for `require('hoody/sdk')`.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/node_modules/.bin:$PATH"
# one build at a time (scripts/ensure-built.sh holds the lock already when it calls this)
if [ -z "${HOODY_BUILD_LOCK_HELD:-}" ]; then
  exec 9<tsconfig.build.json
  flock 9
fi
# built beside dist/ and swapped in at the end: a daemon or test running from dist/ meanwhile keeps
# finding every file, and a failed build leaves the last good one
out="$(mktemp -d "$PWD/.dist-XXXXXX")"
trap 'rm -rf "$out"' EXIT
# the stamp takes the time the build began: a source saved while tsc runs is newer, so the next
# scripts/ensure-built.sh builds again
touch "$out/.built"
tsc -p tsconfig.build.json --outDir "$out"
# tsc rewrites the `.ts` specifiers in JavaScript only: the declarations get `.js` too, so that any
# consumer's module resolution finds them
find "$out" -name '*.d.ts' -exec sed -i -E "s#(['\"])(\.\.?/[^'\"]*)\.ts\1#\1\2.js\1#g" {} +
if grep -rlE "['\"]\.\.?/[^'\"]*\.ts['\"]" "$out" --include='*.js' --include='*.d.ts'; then
  echo "build: the files above still name a .ts module" >&2
  exit 1
fi
# the SDK has no Node built-ins, so one neutral bundle serves Node's require() and CommonJS bundlers
esbuild "$out/sdk/index.js" --bundle --format=cjs --platform=neutral --target=es2022 \
  --sourcemap --log-level=warning --outfile="$out/sdk/index.cjs"
# CommonJS declarations: the SDK's .d.ts again, under a package.json that makes them CommonJS
mkdir -p "$out/cjs"
echo '{ "type": "commonjs" }' > "$out/cjs/package.json"
(cd "$out" && find sdk api -name '*.d.ts' -exec cp --parents {} cjs/ \;)
# the daemon and the command line: one ES module bundle with the dependencies inside (Node's loader
# pays per file, and they ship ~1,000: kysely's 263, TypeBox's 200, ajv's 83...), split into chunks
# so that a client command does not load the daemon. Left outside: native addons, pg (loaded only
# for a PostgreSQL URL), and packages that read their own files at run time.
esbuild hoody="$out/cli/main.js" fanout-process="$out/server/sse/fanout-process.js" \
  --bundle --splitting --format=esm --platform=node --target=node20 --outdir="$out/daemon" \
  --chunk-names='[name]-[hash]' --sourcemap --log-level=warning \
  --external:better-sqlite3 --external:pg --external:koffi --external:@fastify/swagger-ui --external:pino-pretty \
  --banner:js="import { createRequire as __hoodyRequire } from 'node:module'; const require = __hoodyRequire(import.meta.url);"
# the dashboard: the browser's own bundle (Preact, the SDK, xterm.js in a chunk loaded on demand)
node --import tsx scripts/build-dashboard.ts "$out"
chmod 755 "$out"
if [ -d dist ]; then mv dist "$out.old"; fi
mv "$out" dist
rm -rf "$out.old"
