#!/usr/bin/env bash
# `npm run build`: compiles src/ into dist/ (JavaScript, .d.ts, source maps) with tsc, then bundles
# the SDK once more as CommonJS (dist/sdk/index.cjs) for `require('hoody/sdk')`.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/node_modules/.bin:$PATH"
rm -rf dist
tsc -p tsconfig.build.json
# tsc rewrites the `.ts` specifiers in JavaScript only: the declarations get `.js` too, so that any
# consumer's module resolution finds them
find dist -name '*.d.ts' -exec sed -i -E "s#(['\"])(\.\.?/[^'\"]*)\.ts\1#\1\2.js\1#g" {} +
if grep -rlE "['\"]\.\.?/[^'\"]*\.ts['\"]" dist --include='*.js' --include='*.d.ts'; then
  echo "build: the files above still name a .ts module" >&2
  exit 1
fi
# the SDK has no Node built-ins, so one neutral bundle serves Node's require() and CommonJS bundlers
esbuild dist/sdk/index.js --bundle --format=cjs --platform=neutral --target=es2022 \
  --sourcemap --log-level=warning --outfile=dist/sdk/index.cjs
# CommonJS declarations: the SDK's .d.ts again, under a package.json that makes them CommonJS
mkdir -p dist/cjs
echo '{ "type": "commonjs" }' > dist/cjs/package.json
(cd dist && find sdk api -name '*.d.ts' -exec cp --parents {} cjs/ \;)
# the time of a finished build, which scripts/ensure-built.sh compares the sources with
touch dist/.built
