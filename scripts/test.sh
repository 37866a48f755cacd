#!/usr/bin/env bash
# Runs every test file explicitly (node's runner does not expand globs on Node 20).
# Unit tests sit beside the code in src/; tests that need root, runc or a database live in test/.
set -euo pipefail
cd "$(dirname "$0")/.."
# the end-to-end tests start the daemon and the CLI as shipped (bin/hoody.js on dist/)
bash scripts/ensure-built.sh
mapfile -t files < <(find src test -name '*.test.ts' | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "$@" "${files[@]}"
