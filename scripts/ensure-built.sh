#!/usr/bin/env bash
# Builds dist/ when it is missing or older than the sources (a cheap check: one `find`), so the
# daemon and the CLI started from bin/hoody.js are the current code. One build at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
# the daemon's bundle holds its dependencies: an install that changed node_modules makes it stale too
inputs=(src package.json tsconfig.json tsconfig.build.json scripts/build.sh scripts/build-dashboard.ts)
for f in package-lock.json node_modules/.package-lock.json; do [ -e "$f" ] && inputs+=("$f"); done
stale() {
  [ ! -f dist/.built ] || [ -n "$(find "${inputs[@]}" -newer dist/.built ! -name '*.test.ts' -print -quit)" ]
}
stale || exit 0
exec 9<tsconfig.build.json
flock 9
# another build may have finished while this one waited for the lock
stale || exit 0
HOODY_BUILD_LOCK_HELD=1 bash scripts/build.sh >&2
